# ttlkv — the two commands are `make demo` and `make test` (README.md).
# Each language's targets live in mk/<language>.mk; this file ties them together.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
export LIBLMDB_NO_PKG_CONFIG := 1

ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
TARGET := $(ROOT)/target
# The release build is what the C, Python and Elixir layers link against.
LIB_DIR := $(TARGET)/release
LIB_SO := $(LIB_DIR)/libttlkv.so
LIB_A := $(LIB_DIR)/libttlkv.a

.PHONY: all build test demo bench lint fmt clean test-rust demo-rust bench-rust bench-readers bench-ops soak

all: build

build: build-cli
	$(CARGO) build --release --lib

# `make install` (mk/c.mk) also installs the command.
install: install-cli

include $(wildcard $(ROOT)/mk/*.mk)

# Every suite; a suite that cannot run fails the target, it is never skipped.
test: lint test-rust $(TEST_SUITES)
	@echo "make test: every suite passed (rust $(TEST_SUITES))"

# Every language's demo on one store in a temporary directory: each reads what the others wrote.
demo:
	dir=$$(mktemp -d) && trap 'rm -rf "$$dir"' EXIT && \
	TTLKV_DEMO_DIR="$$dir/store" $(MAKE) --no-print-directory demo-rust $(DEMOS)

bench: bench-rust $(BENCHES)

# Rust here; each language's mk file adds its own (C compiles at -Wall -Wextra -Werror in its tests).
lint: $(LINTS)
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

test-rust: build
	$(CARGO) test --release -- --test-threads=2

demo-rust:
	$(CARGO) run --release --example demo

bench-rust: bench-readers bench-ops
	$(CARGO) bench --bench core

# The cache operations against the operations they replace (README, Benchmarks).
bench-ops:
	$(CARGO) bench --bench ops

# Get latency in one process while another commits long batches and grows the map.
bench-readers:
	$(CARGO) bench --bench readers

# The reliability suites with many more kills, processes and seconds (see README, Guarantees).
soak: build
	TTLKV_SOAK=1 $(CARGO) test --release --test reliability_crash --test reliability_processes --test model_processes -- --nocapture --test-threads=1
	$(MAKE) --no-print-directory $(SOAKS)

clean:
	$(CARGO) clean
