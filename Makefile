# sol: build, run, test, benchmark, fuzz, install.
# Only Go is needed; tests that use mosquitto_pub/mosquitto_sub skip without them.

GO        ?= go
BIN       ?= sol
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
PREFIX    ?= /usr/local
CONFDIR   ?= /etc/sol
UNITDIR   ?= /etc/systemd/system
FUZZTIME  ?= 30s
BENCHTIME ?= 1s

.PHONY: all build run test vet race bench pgo fuzz install uninstall clean soak

all: build

# A static binary (CGO_ENABLED=0): sol needs no C library, and without libc
# and the dynamic loader mapped it starts in 1.5 MB less memory, and the
# machine it runs on needs no C library. The net package then resolves names
# in pure Go.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .

run: build
	./$(BIN) -c sol.conf

# make test: vet (also the BSD and macOS builds of every package), then every test with
# the race detector, then the broker's and the trie's tests once more built
# with soldebug: freed messages poisoned, use after free and leaked
# references caught (TestLargePayloadsIntact's leak check counts only in
# that build), the trie's hook that stops a Match between two shards, and
# the loop's hook that fails a poller (TestFailedLoop in broker and loop,
# and TestLoopFailureExits, which runs a soldebug sol whose loop fails).
#
# The race-built test binaries skip default.pgo (-pgo=off): with it, the
# main package's test would compile every dependency a second time, which
# took a cold cache from 59 s to 126 s here. The process tests still build
# and run sol itself with go build, and so with the profile.
test: vet
	$(GO) test -race -count=1 -pgo=off -timeout 12m ./...
	$(GO) test -tags soldebug -count=1 -timeout 5m ./broker/ ./trie/
	$(GO) test -tags soldebug -count=1 -pgo=off -run 'TestFailedLoop|TestLoopFailureExits' ./loop/ .

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	GOOS=darwin $(GO) vet ./...
	GOOS=freebsd $(GO) vet ./...

# Benchmarks of every hot path, then sol against Mosquitto when the harness exists.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./mqtt/ ./trie/ ./loop/ ./broker/
	@if [ -x scripts/bench.sh ]; then scripts/bench.sh; fi

# Refresh default.pgo, the profile go build optimises sol with, from the
# bench workloads (about 20 s; see scripts/pgo.sh).
pgo:
	scripts/pgo.sh

# Each fuzz target runs for FUZZTIME (go test allows one target per run).
fuzz:
	@for pkg in ./mqtt/ ./trie/ ./broker/; do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzzing $$pkg $$f for $(FUZZTIME)"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

soak:
	@if [ -x scripts/soak.sh ]; then scripts/soak.sh; else echo "soak: scripts/soak.sh not written yet"; exit 1; fi

install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(CONFDIR) $(DESTDIR)$(UNITDIR)
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/sol
	test -e $(DESTDIR)$(CONFDIR)/sol.conf || install -m 0644 sol.conf $(DESTDIR)$(CONFDIR)/sol.conf
	sed 's|@BINDIR@|$(PREFIX)/bin|g; s|@CONFDIR@|$(CONFDIR)|g' scripts/sol.service > $(DESTDIR)$(UNITDIR)/sol.service
	@echo "installed; start with: systemctl daemon-reload && systemctl enable --now sol"

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/sol $(DESTDIR)$(UNITDIR)/sol.service

clean:
	rm -f $(BIN) sol.pid
	$(GO) clean -testcache
