# connect-amplitude: build, test, lint, demo and benchmarks.
GO      ?= go
BIN     ?= bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -X main.version=$(VERSION) -X main.dateBuilt=$(DATE)

.PHONY: all build test lint docs demo fuzz soak bench clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/connect-amplitude ./cmd/connect-amplitude
	$(GO) build -o $(BIN)/currents-gen ./cmd/currents-gen
	$(GO) build -o $(BIN)/amplitude-emulator ./cmd/amplitude-emulator
	$(GO) build -o $(BIN)/braze-sim ./cmd/braze-sim
	$(GO) build -o $(BIN)/braze-emulator ./cmd/braze-emulator

# The test command of README.md, and what CI runs. Tests that compare against
# Braze's full sample data run when it is present (see README.md).
SAMPLES ?= $(or $(CURRENTS_EXAMPLES),../shared/braze-currents-examples)
test: lint
	@[ -d "$(SAMPLES)" ] || echo "Braze's sample data is not at $(SAMPLES): the tests that compare against it will not run (set CURRENTS_EXAMPLES to run them)"
	$(GO) test -race ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "not gofmt-clean:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# The components' reference, generated from their ConfigSpecs; a test in
# internal/docgen fails when it is stale.
docs:
	$(GO) run ./cmd/connect-amplitude docs --dir docs/components

# Sample Currents events through the pipeline (see README.md).
demo: build
	@./scripts/demo.sh

# Fuzz the mapping's two paths against each other, the JSON scanner and the
# Avro scanner's strings against encoding/json, the receiver's body handling
# and damaged Avro files (FUZZTIME=10m for longer).
FUZZTIME ?= 60s
# Go minimizes each new input for up to 60s by default, and meanwhile its
# worker runs nothing else: on 2 cores that stalls most of a short run.
FUZZMINIMIZE ?= 5s
fuzz:
	$(GO) test ./internal/currentsmap/ -run '^$$' -fuzz FuzzBothPathsAgreeAndNeverPanic -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE)
	$(GO) test ./internal/jsonscan/ -run '^$$' -fuzz FuzzScannerAcceptsWhatEncodingJSONAccepts -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE)
	$(GO) test ./plugin/brazehttp/ -run '^$$' -fuzz FuzzBodyHandlingNeverPanics -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE)
	$(GO) test ./plugin/avroscan/ -run '^$$' -fuzz FuzzDamagedFilesFailCleanly -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE)
	$(GO) test ./plugin/avroscan/ -run '^$$' -fuzz FuzzJSONStringDecodesLikeEncodingJSON -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE)

# The output's soak test at full size: 100,000 events, faults and throttling.
SOAK_EVENTS ?= 100000
soak:
	SOAK_EVENTS=$(SOAK_EVENTS) $(GO) test ./plugin/amplitude/ -run TestSoak -count 1 -v -timeout 30m

# Throughput, CPU and memory end to end, and the Go benchmarks of each stage
# (see docs/performance.md). BENCH_EVENTS=100000 for a quick look.
BENCH_EVENTS ?= 1000000
bench: build
	GO=$(GO) ./scripts/bench.sh -n $(BENCH_EVENTS)

clean:
	rm -rf $(BIN) out
