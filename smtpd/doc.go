// Package smtpd is sluice's SMTP and LMTP front end, built on go-smtp.
//
// A session runs the SMTP-time hooks of the current engine generation
// (on_helo at HELO/EHLO, on_mail, on_rcpt, on_data; on_connect before the
// greeting, in the listener gate), enforces the limits (message size,
// recipients, line length, connections, per-command and DATA timeouts) and
// relay control, and hands each message to the spool: the message is
// written and fsync'd before on_data runs, and committed before the 250.
//
// Every error a session method returns goes through toSMTP, the one place
// where errors become SMTP replies: internal errors reach the client as a
// generic 451 with the session id, never as raw text.
package smtpd
