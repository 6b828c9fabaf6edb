// The no-work baseline is its own module so that it is built with go-smtp
// as released, not with the patched copy sluice uses (third_party/go-smtp):
// the issue's baseline is "a no-work go-smtp server". bench/load.sh also
// builds it against the patched copy, for the comparison with the same
// DATA reader.
module github.com/sluicemail/sluice/bench/nowork

go 1.26.0

require (
	github.com/emersion/go-smtp v0.25.1
	golang.org/x/sys v0.49.0
)

require github.com/emersion/go-sasl v0.0.0-20241020182733-b788ff22d5a6 // indirect
