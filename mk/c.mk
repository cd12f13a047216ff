# C ABI (issue #3): the header, the C tests under valgrind, the C demo and benchmark, and
# `make install` with a pkg-config file. Needs cc, valgrind, pkg-config and binutils on PATH.

TEST_SUITES += test-c
DEMOS += demo-c
BENCHES += bench-c

PREFIX ?= /usr/local
DESTDIR ?=
C_VERSION = $(shell sed -n 's/^version *= *"\(.*\)"/\1/p' $(ROOT)/Cargo.toml | head -1)
C_ABI = $(shell sed -n 's/^\#define TTLKV_ABI_VERSION \([0-9]*\)/\1/p' $(ROOT)/include/ttlkv.h)
C_BUILD := $(TARGET)/c
# What the static library needs besides libc (rustc --print native-static-libs, Linux).
C_STATIC_LIBS := -lpthread -ldl -lm
C_WARNINGS := -std=c11 -Wall -Wextra -Werror

.PHONY: test-asan test-c test-c-valgrind test-c-install demo-c bench-c install header header-check

# The header cbindgen wrote into OUT_DIR during `cargo build --release --lib`.
C_GENERATED_HEADER = $(shell $(CARGO) build --release --lib --message-format=json 2>/dev/null \
  | grep '"reason":"build-script-executed"' | grep '\#ttlkv@' \
  | sed -E 's/.*"out_dir":"([^"]*)".*/\1/')/ttlkv.h

# Refreshes the committed header from the generated one (review the diff, then commit).
header: build
	cp $(C_GENERATED_HEADER) $(ROOT)/include/ttlkv.h
	@git -C $(ROOT) diff --stat -- include/ttlkv.h || true

header-check: build
	@cmp -s $(C_GENERATED_HEADER) $(ROOT)/include/ttlkv.h || \
	  { echo "include/ttlkv.h is stale: run 'make header' and commit it" >&2; exit 1; }

# The C programs of tests/c/ (built and run by tests/abi_c.rs) under valgrind: any memory error
# or definitely-lost byte fails. `make test-rust` runs the same programs without valgrind.
test-c-valgrind: build
	@command -v valgrind >/dev/null || { echo "test-c: valgrind is required" >&2; exit 1; }
	TTLKV_VALGRIND=1 $(CARGO) test --release --test abi_c -- --test-threads=2 --nocapture

# Installs into a temporary prefix, then builds examples/c/demo.c with nothing but
# `cc $(pkg-config --cflags --libs ttlkv)` and runs it (and a static build of it).
test-c-install: build
	@command -v pkg-config >/dev/null || { echo "test-c: pkg-config is required" >&2; exit 1; }
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(MAKE) --no-print-directory -C $(ROOT) install PREFIX="$$tmp/prefix" && \
	export PKG_CONFIG_PATH="$$tmp/prefix/lib/pkgconfig" && \
	test "$$(pkg-config --modversion ttlkv)" = "$(C_VERSION)" && \
	cc $(ROOT)/examples/c/demo.c $$(pkg-config --cflags --libs ttlkv) -o "$$tmp/demo" && \
	readelf -d "$$tmp/demo" | grep -q 'NEEDED.*\[libttlkv.so.$(C_ABI)\]' && \
	TTLKV_DEMO_DIR="$$tmp/store" LD_LIBRARY_PATH="$$tmp/prefix/lib" "$$tmp/demo" && \
	cc $(ROOT)/examples/c/demo.c $$(pkg-config --cflags ttlkv) \
	  "$$tmp/prefix/lib/libttlkv.a" $$(pkg-config --static --libs-only-l ttlkv | sed 's/-lttlkv//') \
	  -o "$$tmp/demo-static" && \
	TTLKV_DEMO_DIR="$$tmp/store" "$$tmp/demo-static" >/dev/null && \
	echo "test-c-install: installed, found by pkg-config, demo built and run (shared and static)"

# The same C programs built with AddressSanitizer and UndefinedBehaviorSanitizer (any report
# is fatal; LeakSanitizer is on).
test-asan: build
	TTLKV_SANITIZE=1 $(CARGO) test --release --test abi_c -- --test-threads=2 --nocapture

test-c: header-check test-c-valgrind test-asan test-c-install

# `make install PREFIX=/opt/ttlkv` (default /usr/local; DESTDIR for staging). Installs
#   lib/libttlkv.so.<version>  with soname libttlkv.so.<ABI>, and the links
#   lib/libttlkv.so.<ABI> -> libttlkv.so.<version>, lib/libttlkv.so -> libttlkv.so.<ABI>
#   lib/libttlkv.a, include/ttlkv.h, lib/pkgconfig/ttlkv.pc
install: build
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 0755 $(LIB_SO) $(DESTDIR)$(PREFIX)/lib/libttlkv.so.$(C_VERSION)
	ln -sf libttlkv.so.$(C_VERSION) $(DESTDIR)$(PREFIX)/lib/libttlkv.so.$(C_ABI)
	ln -sf libttlkv.so.$(C_ABI) $(DESTDIR)$(PREFIX)/lib/libttlkv.so
	install -m 0644 $(LIB_A) $(DESTDIR)$(PREFIX)/lib/libttlkv.a
	install -m 0644 $(ROOT)/include/ttlkv.h $(DESTDIR)$(PREFIX)/include/ttlkv.h
	printf '%s\n' \
	  'prefix=$(PREFIX)' \
	  'exec_prefix=$${prefix}' \
	  'libdir=$${exec_prefix}/lib' \
	  'includedir=$${prefix}/include' \
	  '' \
	  'Name: ttlkv' \
	  'Description: A persistent key-value cache with a time-to-live on every key (C ABI $(C_ABI))' \
	  'Version: $(C_VERSION)' \
	  'Libs: -L$${libdir} -lttlkv' \
	  'Libs.private: $(C_STATIC_LIBS)' \
	  'Cflags: -I$${includedir}' \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/ttlkv.pc
	@echo "installed ttlkv $(C_VERSION) (ABI $(C_ABI)) into $(DESTDIR)$(PREFIX)"

# The demo, built against the header and the shared library like a user's program.
demo-c: build
	mkdir -p $(C_BUILD)/lib
	ln -sf $(LIB_SO) $(C_BUILD)/lib/libttlkv.so.$(C_ABI)
	ln -sf $(LIB_SO) $(C_BUILD)/lib/libttlkv.so
	cc $(C_WARNINGS) -I$(ROOT)/include $(ROOT)/examples/c/demo.c -L$(C_BUILD)/lib -lttlkv \
	  -Wl,-rpath,$(C_BUILD)/lib -o $(C_BUILD)/demo
	$(C_BUILD)/demo

# The C surface against the Rust API and raw LMDB (benches/abi.rs).
bench-c:
	$(CARGO) bench --bench abi
