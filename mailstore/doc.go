// Package mailstore keeps mailboxes and the quarantine under one store
// folder: plain Go, no Lua and no SMTP, usable from a five-line program.
//
// # Layout
//
//	DIR/mail/DOMAIN/USER/          the mailbox: a Maildir (new/ cur/ tmp/), its INBOX
//	DIR/mail/DOMAIN/USER/.NAME/    a Maildir++ sub-folder (new/ cur/ tmp/ maildirfolder)
//	DIR/quarantine/ID.eml          a held message, as it was given
//	DIR/quarantine/ID.json         what is known about it (QuarantineInfo)
//
// Sub-folders follow Maildir++ (Courier, Dovecot's default Maildir layout):
// the hierarchy separator is ".", so the folder "Lists.Go" (Go inside
// Lists) is the directory ".Lists.Go". A parent such as "Lists" is not
// created for a child; clients show the hierarchy anyway. Folder names are
// stored as UTF-8, unchanged, not in IMAP's modified UTF-7: ASCII names are
// the same either way, and Dovecot shows non-ASCII names correctly when its
// mail location carries the UTF-8 option (maildir:~/Maildir:UTF-8). Python's
// mailbox.Maildir, Dovecot (doveadm) and mutt read the store as it is,
// every folder's messages and the flags of cur/ (interop_test.go).
//
// # Names
//
// No path is ever built from unchecked input. Addresses pass CheckAddress
// (the domain is lower-cased, the local part keeps its case, so
// "Bob@example.org" and "bob@example.org" are two mailboxes: callers that
// want case-insensitive or sub-addressed mailboxes canonicalise first).
// Folder names pass CheckFolder ("INBOX" in any case is the mailbox itself).
// Quarantine IDs are lower-case hex.
//
// # Durability
//
// Deliver follows the Maildir protocol: the message is written to tmp/
// under a unique name (O_EXCL, mode 0600), fsync'd, renamed into new/ with
// ",S=<size>" appended, and new/ itself is fsync'd, so a returned path
// survives a crash. DeliverOnce, for deliveries that a crash may make
// repeat (the queue's), names the file after the message's arrival and a
// key instead of the clock and a counter, and moves it into new/ without
// replacing a file of that name (renameat2 RENAME_NOREPLACE on Linux): a
// repeat finds the first copy and keeps it. Folders are created on first
// use, each new directory's parent fsync'd. The quarantine writes the
// message, then its .json, each to a temporary file that is fsync'd and
// renamed; an entry exists (List, Open) once its .json does.
// Options.NoFsync turns every fsync off, for tests and benchmarks.
//
// # Line endings
//
// Messages are stored byte for byte as given. Maildir files conventionally
// use LF line endings (Dovecot, mutt and Python expect them), while SMTP
// delivers CRLF: wrap such input in LF before Deliver. The quarantine keeps
// the bytes as received, so that a released message can be re-injected
// unchanged.
//
// # Errors
//
// Errors name the operation and its target, as in
// "mailstore: deliver bob@localhost/Orders: …", and wrap their cause: test
// them with errors.Is against ErrBadAddress, ErrBadFolder, ErrBadID,
// ErrNotFound, context.Canceled and the io/fs errors.
package mailstore
