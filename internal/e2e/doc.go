// Package e2e holds the end-to-end tests of sluice: the real binary,
// started on loopback with a configuration made by the test, driven by
// real clients (swaks, smtp-source, Python's smtplib), and checked by
// reading the Maildir it writes.
package e2e
