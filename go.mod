module github.com/sluicemail/sluice

go 1.26

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/emersion/go-message v0.18.2
	github.com/google/go-cmp v0.7.0
	github.com/yuin/gopher-lua v1.1.2
)

require golang.org/x/text v0.14.0 // indirect
