# The two quick-start commands: `make bench` (the main job) and `make test` (everything).
# Both install and start what they need; scripts/stack and locust/venv.sh are idempotent.
SHELL := /bin/bash
CARGO ?= cargo
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
BB_RELEASE := $(TARGET_DIR)/release/brokerbench
BENCH_ARGS ?=

.PHONY: bench cluster-bench sweep peers test tools build-tools stack-up stack-down stack-status build-release build-tests locust-venv \
        prepare-bench prepare-test test-stack test-rust test-kernel test-locust test-compose \
        helm-tools test-helm

stack-up:
	scripts/stack up

stack-down:
	scripts/stack down

stack-status:
	scripts/stack status

tools:
	scripts/tools

build-tools:
	scripts/tools build

# One profile (release) for both commands, so a fresh machine compiles the workspace once.
build-release: build-tools
	@test -x $(BB_RELEASE) || echo "[make] building brokerbench in release, first time only: about 10 min on 2 cores"
	env -u MAKEFLAGS -u MFLAGS $(CARGO) build --release -p brokerbench

# Every test binary (and brokerbench with them) compiled while the stack, Locust's and Helm's
# installs run: in a fresh `make test` after `make bench` this compile took 4 min 38 s, and it
# started only after those installs (helm alone 118 s).
build-tests: build-tools
	env -u MAKEFLAGS -u MFLAGS $(CARGO) test --release --workspace --no-run

locust-venv:
	locust/venv.sh

# helm (built from the Go module proxy) and kubernetes-validate, for the chart's offline checks.
helm-tools:
	deploy/check.sh --install-only

# The stack, the build and Locust's venv are prepared side by side, so that installs and
# downloads overlap the compile; apt runs one at a time (scripts/apt-install). Cargo is kept out
# of make's job slots (env -u MAKEFLAGS above): inside them it would compile one crate at a time.
prepare-bench:
	$(MAKE) --no-print-directory -j3 stack-up build-release locust-venv

prepare-test:
	$(MAKE) --no-print-directory -j5 tools stack-up build-tests locust-venv helm-tools

## The main job: the six-middleware comparison on the local stack, ending in a report.
bench: prepare-bench
	source .stack/env && $(BB_RELEASE) run --label bench --sweep-to 4000 $(BENCH_ARGS)

## NATS JetStream R3 on three simulated hosts against one NATS server on a host of its own (same
## store on a fourth host, the runner on a fifth), 5 repeats each, then compared (needs root).
CLUSTER_RUN = scripts/cluster exec 5 $(abspath $(BB_RELEASE)) run --topology cluster \
	--middlewares nats --mongodb-uri mongodb://h4:27017/ --repeat 5 --duration 10 $(BENCH_ARGS)
cluster-bench: prepare-bench
	scripts/cluster down
	scripts/cluster up
	rm -rf results/cluster-bench
	$(CLUSTER_RUN) --cluster-dir $(CURDIR)/.stack/cluster/r1 --label nats-r1 --results-dir $(CURDIR)/results/cluster-bench
	$(CLUSTER_RUN) --cluster-dir $(CURDIR)/.stack/cluster/r3 --label nats-r3 --results-dir $(CURDIR)/results/cluster-bench
	$(BB_RELEASE) compare --allow-config-differences --out results/cluster-bench/compare \
		results/cluster-bench/*-nats-r1 results/cluster-bench/*-nats-r3
	scripts/cluster down

## Latency vs throughput: every path's rate stepped up until it falls behind, 3 repeats a step.
sweep: stack-up build-release
	source .stack/env && $(BB_RELEASE) sweep --ceilings --repeat 3 $(BENCH_ARGS)

## brokerbench's own middleware ceilings beside natscli, RabbitMQ PerfTest, ghz and Kafka's ProducerPerformance.
peers: stack-up build-release
	bench/peers.sh $(PEERS_ARGS)

## Every test, against the real stack.
# The checks after the Rust tests share no service, port or file, and none of them times
# anything: side by side they took 43 s here, one after the other 100 s (kernel VM 20 s, Locust
# 42 s, compose 29 s, Helm 8 s). Each one's output is printed whole when it ends.
test: prepare-test
	$(MAKE) test-stack test-rust
	$(MAKE) --no-print-directory -j4 --output-sync=target test-kernel test-locust test-compose test-helm

# The running stack is locked down: PostgreSQL asks for its password, the password shows nowhere,
# and as root no service runs as root (seconds; first, so a hole fails before the long tests).
test-stack:
	scripts/stack-check

# Tests build in the release profile like `make bench` (no second, debug compile), and the
# calibration tests time the very binary `make bench` runs.
test-rust:
	source .stack/env && BROKERBENCH_BIN=$(abspath $(BB_RELEASE)) $(CARGO) test --release --workspace

# Without make's job flags: the module build's own make would warn that the jobserver of the
# parallel checks is unavailable, and warnings fail the module build.
test-kernel:
	env -u MAKEFLAGS -u MFLAGS kernel/vm-test.sh

test-locust:
	source .stack/env && BROKERBENCH_BIN=$(abspath $(BB_RELEASE)) locust/test.sh

test-compose:
	BROKERBENCH_BIN=$(abspath $(BB_RELEASE)) compose/validate.sh

# The Helm chart, offline: lint, render for every middleware, schema-validate (no cluster here).
test-helm:
	BROKERBENCH_BIN=$(abspath $(BB_RELEASE)) deploy/check.sh
