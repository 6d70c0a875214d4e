# The two quick-start commands: `make bench` (the main job) and `make test` (everything).
# Both install and start what they need; scripts/stack and locust/venv.sh are idempotent.
SHELL := /bin/bash
CARGO ?= cargo
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
BB_RELEASE := $(TARGET_DIR)/release/brokerbench
BENCH_ARGS ?=

.PHONY: bench test tools build-tools stack-up stack-down stack-status build build-release locust-venv \
        test-rust test-kernel test-locust test-compose

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

build: build-tools
	$(CARGO) build --workspace --all-targets

build-release: build-tools
	$(CARGO) build --release -p brokerbench

locust-venv:
	locust/venv.sh

## The main job: the four-middleware comparison on the local stack, ending in a report.
bench: stack-up build-release locust-venv
	source .stack/env && $(BB_RELEASE) run --label bench $(BENCH_ARGS)

## Every test, against the real stack.
test: tools stack-up build build-release locust-venv
	$(MAKE) test-rust test-kernel test-locust test-compose

# The calibration tests time real runs: they use the release binary, whose timing is steadier.
test-rust:
	source .stack/env && BROKERBENCH_BIN=$(abspath $(BB_RELEASE)) $(CARGO) test --workspace

test-kernel:
	kernel/vm-test.sh

test-locust:
	source .stack/env && locust/test.sh

test-compose:
	compose/validate.sh
