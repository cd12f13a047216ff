# Elixir binding (bindings/elixir, issue #5): a mix project with no hex dependency. Its own
# Mix compiler task runs `cargo build --release --lib` at the repo root and compiles the C NIF
# (c_src/ttlkv_nif.c) against include/ttlkv.h with target/release/libttlkv.a linked in.
# Needs Erlang/OTP (with erts headers and mnesia) and Elixir >= 1.14: Debian's erlang-dev,
# erlang-nox and elixir, installed here when missing and running as root.

EX_DIR := $(ROOT)/bindings/elixir
# Mix state stays inside the tree: no $HOME, no hex, no network.
EX_ENV := env -u TTLKV_LIB_DIR -u TTLKV_INCLUDE_DIR \
	MIX_HOME=$(TARGET)/mix-home HEX_OFFLINE=1 MIX_ARCHIVES=$(TARGET)/mix-home/archives \
	LIBLMDB_NO_PKG_CONFIG=1
EX_APT_PACKAGES := erlang-dev erlang-nox elixir

TEST_SUITES += test-elixir
LINTS += lint-elixir
DEMOS += demo-elixir
BENCHES += bench-elixir
SOAKS += soak-elixir

.PHONY: elixir-tools test-elixir lint-elixir demo-elixir bench-elixir soak-elixir

# Succeeds when elixir, erl, erl_nif.h and mnesia are all there.
define ex_tools_ok
command -v elixir >/dev/null 2>&1 && command -v erl >/dev/null 2>&1 && command -v mix >/dev/null 2>&1 && \
erl -noshell -eval 'R = code:root_dir(), \
  Hs = filelib:wildcard(filename:join([R, "erts-*", "include", "erl_nif.h"])) \
       ++ filelib:wildcard(filename:join([R, "usr", "include", "erl_nif.h"])), \
  case {Hs, code:lib_dir(mnesia), code:lib_dir(crypto)} of \
    {[], _, _} -> halt(1); {_, {error, _}, _} -> halt(1); {_, _, {error, _}} -> halt(1); \
    _ -> halt(0) end.' >/dev/null 2>&1
endef

elixir-tools:
	@if $(ex_tools_ok); then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "elixir-tools: installing Debian's $(EX_APT_PACKAGES)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(EX_APT_PACKAGES); \
	  if ! ( $(ex_tools_ok) ); then echo "elixir-tools: still missing elixir/erl/erl_nif.h/mnesia after apt-get" >&2; exit 1; fi; \
	else \
	  echo "elixir-tools: the Elixir binding needs Erlang/OTP with its C headers (erl_nif.h) and mnesia," >&2; \
	  echo "  and Elixir >= 1.14: on Debian, 'apt-get install $(EX_APT_PACKAGES)' (as root)" >&2; \
	  exit 1; \
	fi
	@mkdir -p $(TARGET)/mix-home
	@elixir -e 'unless Version.match?(System.version(), "~> 1.14"), do: (IO.puts(:stderr, "elixir-tools: Elixir >= 1.14 needed, found " <> System.version()); System.halt(1))'

test-elixir: elixir-tools
	cd $(EX_DIR) && $(EX_ENV) MIX_ENV=test mix test

lint-elixir: elixir-tools
	cd $(EX_DIR) && $(EX_ENV) mix format --check-formatted

# The store directory is $$TTLKV_DEMO_DIR (shared with the C and Python demos), else a temp dir.
demo-elixir: elixir-tools
	cd $(EX_DIR) && $(EX_ENV) MIX_ENV=dev mix run $(ROOT)/examples/elixir/demo.exs

# The single-node benchmark, then replication on three :peer nodes (against Mnesia's).
bench-elixir: elixir-tools
	cd $(EX_DIR) && $(EX_ENV) MIX_ENV=prod mix run $(ROOT)/benches/elixir/bench.exs
	cd $(EX_DIR) && $(EX_ENV) MIX_ENV=prod mix run $(ROOT)/benches/elixir/replication.exs

# The cluster tests with 1,000 netsplit schedules instead of make test's 50.
soak-elixir: elixir-tools
	cd $(EX_DIR) && $(EX_ENV) MIX_ENV=test TTLKV_NETSPLIT_SCHEDULES=1000 mix test test/pow_cache_cluster_test.exs
