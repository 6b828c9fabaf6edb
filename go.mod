module github.com/sluicemail/sluice

go 1.26

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/emersion/go-message v0.18.2
	github.com/emersion/go-sasl v0.0.0-20241020182733-b788ff22d5a6
	github.com/emersion/go-smtp v0.25.1
	github.com/google/go-cmp v0.7.0
	github.com/yuin/gopher-lua v1.1.2
	golang.org/x/text v0.31.0
)

require (
	github.com/fsnotify/fsnotify v1.10.1
	golang.org/x/crypto v0.45.0
)

require golang.org/x/sys v0.38.0 // indirect
