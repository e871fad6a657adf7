# logship — build, test, demo, bench. `make test` is what CI runs.
SHELL    := /bin/bash
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commitHash=$(COMMIT)

.PHONY: build test lint unit demo bench clean

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
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /test/e2e)

demo: build
	scripts/demo

bench:
	$(GO) test -run '^$$' -bench . -benchmem $$($(GO) list ./... | grep -v /test/e2e)

clean:
	rm -rf bin

.PHONY: compare
# The dependency evidence: one rename-rotation workload read by nxadm/tail
# and by logship's tailer; prints the lines each lost (build tag compare).
compare:
	$(GO) test -race -count=1 -tags compare -v -run TestCompare ./test/compare/ 2>&1 | grep -vE "^=== (RUN|PAUSE|CONT|NAME)"; exit $${PIPESTATUS[0]}
