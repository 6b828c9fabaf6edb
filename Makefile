# sluice — make targets. `make run` and `make test` are the two set-up
# commands of the README: each installs what it needs first.

GO      ?= go
BIN     := bin/sluice
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
PKGS    := ./...

.PHONY: all build run try test test-short lint fmt bench load fuzz deps clean

all: build

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/sluice

# Runs the server on its embedded defaults: SMTP on 127.0.0.1:2525,
# everything under ./data, local domain localhost, the default scripts.
run: build
	./$(BIN) serve

# Runs the default pipeline on a bundled sample message, offline.
try: build
	./$(BIN) run --rcpt bob@localhost examples/messages/hello.eml

# The whole test suite, as CI runs it (.ci/run calls this target).
test: deps lint
	$(GO) test -race -count=1 $(PKGS)
	cd third_party/go-smtp && $(GO) test -race -count=1 ./...

test-short:
	$(GO) test -short $(PKGS)

lint:
	@out=$$(gofmt -s -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt -s needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	cd third_party/go-smtp && $(GO) vet ./...
	cd bench/nowork && $(GO) vet ./...

fmt:
	gofmt -s -w .

bench:
	$(GO) test -run XXX -bench . -benchmem ./engine ./message ./stdlib ./queue ./mailstore

# The load script: sluice serve vs a no-work SMTP server (see bench/README.md).
load: build
	bench/load.sh

fuzz:
	$(GO) test -run XXX -fuzz FuzzMessage -fuzztime 60s ./message
	$(GO) test -run XXX -fuzz FuzzParse -fuzztime 30s ./config
	$(GO) test -run XXX -fuzz FuzzMsgAPI -fuzztime 60s ./stdlib

# Installs what the tests need when it is missing (Debian, as root).
deps:
	@hack/test-deps.sh

clean:
	rm -rf bin
