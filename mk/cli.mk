# The `ttlkv` command (cli/, issue #14): a workspace member of its own, so that its argument
# parser and JSON crates never become dependencies of the library. `build-cli` makes
# target/release/ttlkv, `install-cli` copies it into $(PREFIX)/bin; its tests run that binary
# (cli/README.md). Needs only cargo; clap, serde_json and base64 come from crates.io.

PREFIX ?= /usr/local
DESTDIR ?=
CLI_BIN := $(TARGET)/release/ttlkv
CLI_VERSION = $(shell sed -n 's/^version *= *"\(.*\)"/\1/p' $(ROOT)/cli/Cargo.toml | head -1)

TEST_SUITES += test-cli
LINTS += lint-cli

.PHONY: build-cli test-cli test-cli-install lint-cli install-cli

build-cli:
	$(CARGO) build --release -p ttlkv-cli

# An install into a temporary prefix, then the unit tests and the integration tests
# (cli/tests/, which run the release binary).
test-cli: test-cli-install
	$(CARGO) test --release -p ttlkv-cli -- --test-threads=2

test-cli-install:
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(MAKE) --no-print-directory -C $(ROOT) install-cli PREFIX="$$tmp/prefix" && \
	bin="$$tmp/prefix/bin/ttlkv" && \
	test "$$("$$bin" --version)" = "ttlkv $(CLI_VERSION)" && \
	code=0 && { "$$bin" stats "$$tmp/none" 2>/dev/null || code=$$?; } && test "$$code" = 3 && \
	echo "test-cli-install: installed into a prefix; --version and the exit code of a missing store as documented"

lint-cli:
	$(CARGO) fmt -p ttlkv-cli -- --check
	$(CARGO) clippy -p ttlkv-cli --all-targets -- -D warnings

# `make install-cli PREFIX=/opt/ttlkv` (default /usr/local; DESTDIR for staging).
install-cli: build-cli
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(CLI_BIN) $(DESTDIR)$(PREFIX)/bin/ttlkv
	@echo "installed $(DESTDIR)$(PREFIX)/bin/ttlkv"
