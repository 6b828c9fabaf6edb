// Package delivery turns the final decision on one message into effects:
// a local delivery into the mailstore (Local), a relay through a smarthost
// with go-smtp's client (Relay), and a delivery status notification for the
// sender (DSN). It is plain Go: it knows mailstore and nothing of Lua, of the
// SMTP server or of the queue, and it is usable from a five-line program.
//
// # Errors
//
// Every failure says whether it is temporary (retry later) or permanent
// (bounce): Local returns an *Error, Relay reports one RcptResult per
// recipient plus an *Error for what failed the whole transaction, and
// IsTemporary classifies any error, treating unknown ones as temporary, so
// that a failure nobody foresaw delays mail instead of losing it.
// Error.Code is the remote server's SMTP reply code, 0 when no server
// replied (a local failure); Enhanced is always an RFC 3463 status such as
// "5.1.1".
//
// # Relay
//
// Relay.Send runs one SMTP transaction (RFC 5321) towards a smarthost:
// EHLO, STARTTLS (RFC 3207) according to the policy, AUTH PLAIN (RFC 4616)
// over TLS only, MAIL FROM (BODY=8BITMIME when offered, RFC 6152; SMTPUTF8
// when an address needs it, RFC 6531), one RCPT per recipient, and DATA
// once if any recipient was accepted. A reply of 4xx is temporary, 5xx
// permanent; a lost connection, a timeout or the end of ctx is temporary
// for every recipient not yet settled.
//
// # DSN
//
// DSN builds an RFC 3464 multipart/report bounce (or delay notice) with the
// original message's header only (text/rfc822-headers, RFC 6522), so that
// bounces stay small. ShouldBounce says whether a sender may get one: never
// the null sender (RFC 5321, section 4.5.5).
package delivery
