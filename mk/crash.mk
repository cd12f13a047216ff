# Crash-state simulator (issue 15): tests/crash_states.rs records a workload's writes and
# barriers on data.mdb through an LD_PRELOAD shim (tests/crash/shim.c, built by the test with
# cc at -Wall -Wextra -Werror), builds every file a power loss could have left, and opens each
# with ttlkv, in the three durability modes. Needs cc on PATH.
#
# It is an ordinary integration test, so `make test-rust` (cargo test --release) already runs
# its small exhaustive case; it is therefore not added to TEST_SUITES (it would run twice).
# `make test-crash` runs it alone and prints the per-mode figures; `make soak-crash` runs the
# large sampled workload (TTLKV_SOAK=1; TTLKV_CRASH_IMAGES, TTLKV_CRASH_SEED and
# TTLKV_CRASH_KEEP=<dir> are passed through from the environment).

.PHONY: test-crash soak-crash

test-crash: build
	$(CARGO) test --release --test crash_states -- --nocapture --test-threads=2

soak-crash: build
	TTLKV_SOAK=1 $(CARGO) test --release --test crash_states -- --nocapture --test-threads=2

# For `make soak`: the Makefile's soak recipe runs $(SOAKS) after its own suites (one line
# there: `$(MAKE) --no-print-directory $(SOAKS)`), so a failure here does not stop the others.
SOAKS += soak-crash
