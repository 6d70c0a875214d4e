# The two quick-start commands live here: `make bench` (the main job) and `make test` (everything).
# Both install and start what they need; scripts/stack is idempotent.
SHELL := /bin/bash
CARGO ?= cargo
BB := target/release/brokerbench
export PATH := $(CURDIR)/.stack/bin:$(PATH)

.PHONY: bench test stack-up stack-down stack-status build build-release test-rust test-kernel test-locust test-compose

stack-up:
	scripts/stack up

stack-down:
	scripts/stack down

stack-status:
	scripts/stack status

build:
	$(CARGO) build --workspace

build-release:
	$(CARGO) build --release -p brokerbench

bench: stack-up build-release
	scripts/bench

test: stack-up build
	$(MAKE) test-rust test-kernel test-locust test-compose

test-rust:
	source .stack/env && $(CARGO) test --workspace -- --test-threads=4

test-kernel:
	kernel/vm-test.sh

test-locust:
	source .stack/env && locust/test.sh

test-compose:
	compose/validate.sh
