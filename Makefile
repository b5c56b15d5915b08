# The two set-up commands of the README work from a fresh clone:
#   go run ./cmd/pipeline run -c pipelines/wordcount.yaml
#   make test
# `make test` installs and starts what the tests need (see e2e/setup/).

GO        ?= go
BIN       := build/pipeline
PKGS      := ./...
TEST_FLAGS ?= -race -count=1 -timeout 15m

.PHONY: all build image test vet fmt-check bench stress fuzz clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/pipeline

# The container image (Containerfile): the static binary on an empty base.
image: build
	podman build --network=none --pull=never -t pipeline:dev -f Containerfile .

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

test: fmt-check vet build
	$(GO) test $(TEST_FLAGS) $(PKGS)

# Fault tests, looped with both cores kept busy (a fault test that fails 1
# run in 20 fails here), with STRESS=1 for their longer variants (more kills,
# more records). STRESS_COUNT runs of each; the first failure stops it.
STRESS_COUNT ?= 20
STRESS_TESTS ?= SIGKILL|SIGTERM|ServerRestart|ServerCrash|SlotDropped|SnapshotUnderConcurrentWrites|PollGoesOn|WriteFailsWhile|Rewind|Fence|Drain|TwoKafka|NonKafka|Restore|Rebalance|BrokerRestart|FileChanged|Corrupt|FullStateDisk|StopEnds|AsyncRejections
stress: build
	@yes > /dev/null & a=$$!; yes > /dev/null & b=$$!; trap "kill $$a $$b" EXIT; \
	STRESS=1 $(GO) test -race -count=$(STRESS_COUNT) -failfast -timeout 600m -run '$(STRESS_TESTS)' \
		./engine/... ./internal/kafkatxn/... ./statestore/... ./inputs/sqlpoll/... ./inputs/pgcdc/... ./inputs/mysqlcdc/... ./outputs/sqlsink/... ./e2e/...
	STRESS=1 $(GO) test -count=1 -timeout 60m -run 'StreamsDiff|StreamsJoinDiff' ./e2e/...

# Benchmarks print their figure beside a baseline measured in the same run.
bench: build
	$(GO) test -run '^$$' -bench 'FileMapFilterFile|GenerateDrop' -benchtime 3x -count 1 -timeout 30m ./bench/...
	$(GO) test -run '^$$' -bench 'Wordcount|TumblingSpill|Nexmark|Join' -benchtime 1x -count 1 -timeout 30m ./bench/...
	$(GO) test -run '^$$' -bench 'Kafka|SQL|PostgresCDC|ReloadPause' -benchtime 1x -count 1 -timeout 60m ./bench/...

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzLoad -fuzztime 60s ./config

clean:
	rm -rf build
