# takecare — see README.md.
GO      ?= go
BIN     := bin/takecare
PKGS    := ./...
FUZZTIME ?= 10s

.PHONY: all build demo test test-short lint cross fuzz bench bench-nat bench-micro arch proto clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/takecare

# A small real network on this machine, narrated.
demo: build
	./$(BIN) demo

# Everything CI runs.
test: lint cross
	$(GO) test -race -timeout 30m $(PKGS)

test-short:
	$(GO) test -short $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	 if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# The node builds, without cgo, for phones (Android on arm64: the takecare
# binary linked, and every package with its tests checked by go vet) and
# small boards (Linux on arm64). A mobile shell embeds package node:
# docs/GUIDE.md, section 22. github.com/wlynxg/anet reaches into package
# net by go:linkname, which Go's linker refuses on Android unless told
# -checklinkname=0 (anet's README).
ANDROID_LDFLAGS = -ldflags=-checklinkname=0
cross:
	CGO_ENABLED=0 GOOS=android GOARCH=arm64 $(GO) vet $(PKGS)
	CGO_ENABLED=0 GOOS=android GOARCH=arm64 $(GO) build $(ANDROID_LDFLAGS) -o /dev/null ./cmd/takecare
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(PKGS)

# takecare next to raw GossipSub on the same simulated networks, catch-up,
# throughput and memory: one table on stdout (docs/BENCHMARKS.md).
# BENCHFLAGS passes flags, e.g. BENCHFLAGS='-sizes 20,50 -alerts 50'.
bench:
	$(GO) run ./node/nodetest/simbench $(BENCHFLAGS)

# Across NATs, in the NAT laboratory (network namespaces, iptables; needs
# root): hole punching success per pair of routers, time to the first
# alert, latency direct, relayed and through a volunteer member, bytes
# relayed per alert, relay memory per slot (docs/BENCHMARKS.md).
# NATBENCHFLAGS passes flags, e.g. NATBENCHFLAGS='-tries 5'.
bench-nat:
	$(GO) run ./node/nodetest/natlab/natbench $(NATBENCHFLAGS)

# go test micro-benchmarks, for benchstat: make bench-micro > new.txt
BENCHCOUNT ?= 6
bench-micro:
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) ./crypto ./alert ./store
	$(GO) test -run '^$$' -bench 'Ingest' -benchmem -count $(BENCHCOUNT) ./node
	$(GO) test -run '^$$' -bench 'Sync' -benchtime 3x -count 1 ./node

# The shape of node against docs/ARCHITECTURE.md: file sizes, function
# lengths, *Node back-pointers, locks held across I/O.
arch:
	$(GO) run ./node/internal/archstat

# Runs every fuzz target for FUZZTIME each.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

# Regenerates the protobuf code (needs protoc and protoc-gen-go).
proto:
	cd alert/internal/wire && protoc --go_out=. --go_opt=paths=source_relative wire.proto
	cd node/internal/wire && protoc --go_out=. --go_opt=paths=source_relative node.proto

clean:
	rm -rf bin
