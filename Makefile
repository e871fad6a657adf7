# logship — build, test, demo, bench. `make test` is what CI runs.
SHELL    := /bin/bash
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commitHash=$(COMMIT)
IMAGE    ?= localhost/logship:$(VERSION)

.PHONY: build test lint unit demo bench bench-quick bench-profile microbench clean image image-dockerfile soak soak-shrink

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/logship ./cmd/agent

# The whole suite: static checks, then every package with the race
# detector, including the end-to-end tests against a real Kafka broker.
test: lint
	$(GO) test -race -count=1 -timeout 40m -v ./... 2>&1 | grep --line-buffered -vE "^=== (RUN|PAUSE|CONT|NAME)"; exit $${PIPESTATUS[0]}

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Fast tests only (no broker).
unit:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -vE '/test/(e2e|soak)')

# The container image (static, non-root, no shell), built with buildah and
# no registry: bin/logship + the host's CA bundle, FROM scratch. Same image
# as the Dockerfile's final stage; see scripts/image for the knobs.
image: build
	IMAGE=$(IMAGE) VERSION=$(VERSION) COMMIT=$(COMMIT) scripts/image bin/logship

# The same image from the Dockerfile; needs to pull golang:1.26.
image-dockerfile:
	buildah bud --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE) .

demo: build
	scripts/demo

# Side-by-side benchmark against kcat on a real broker (see BENCHMARKS.md):
# backlog, latency, scale and many-files modes; prints the table and writes
# bench/out/results-<timestamp>.md. Needs kcat (scripts/setup installs it).
# BENCHFLAGS passes extra flags, e.g. make bench BENCHFLAGS='-rounds 5'.
bench: build
	$(GO) run ./bench/cmd/logship-bench $(BENCHFLAGS)

# A smoke run of every mode at small sizes (about 3 minutes).
bench-quick: build
	$(GO) run ./bench/cmd/logship-bench -quick $(BENCHFLAGS)

# One profiled backlog run: bench/out/cpu.pprof, allocs.pprof, heap.pprof and
# trace.out, summarised in the results file.
bench-profile: build
	$(GO) run ./bench/cmd/logship-bench -modes profile $(BENCHFLAGS)

# Go micro-benchmarks of every package, per stage of the hot path.
microbench:
	$(GO) test -run '^$$' -bench . -benchmem $$($(GO) list ./... | grep -vE '/test/(e2e|soak)')

clean:
	rm -rf bin

# The seeded multi-fault soak (TESTING.md F39) against bin/logship and a real
# cluster: prints the seed and one summary line; a failure prints the
# schedule and keeps the work dir. SEED= replays a schedule (empty: a fresh
# seed), DURATION= how long the writers write, NODES=1|3, SOAKFLAGS passes
# more (-files, -rate, -keep, -without kind,...).
SEED     ?= 0
DURATION ?= 10m
NODES    ?= 1
soak: build
	$(GO) run ./test/soak/cmd/soak -bin bin/logship -seed $(SEED) -duration $(DURATION) -nodes $(NODES) $(SOAKFLAGS)

# Shrinks a failing seed: reruns it with one fault kind removed at a time and
# prints the smallest schedule that still fails.
soak-shrink: build
	@if [ "$(SEED)" = 0 ]; then echo "usage: make soak-shrink SEED=<failing seed> [DURATION=...]"; exit 2; fi
	$(GO) run ./test/soak/cmd/soak -shrink -bin bin/logship -seed $(SEED) -duration $(DURATION) -nodes $(NODES) $(SOAKFLAGS)

.PHONY: compare
# The dependency evidence: one rename-rotation workload read by nxadm/tail
# and by logship's tailer; prints the lines each lost (build tag compare).
compare:
	$(GO) test -race -count=1 -tags compare -v -run TestCompare ./test/compare/ 2>&1 | grep -vE "^=== (RUN|PAUSE|CONT|NAME)"; exit $${PIPESTATUS[0]}
