# Python binding (bindings/python, issue #4): a virtualenv under target/, the package installed
# with pip exactly as a user would (its setup.py runs `cargo build --release --lib` and puts
# libttlkv inside the package), then pytest, the demo and the benchmark.
# Needs only python3 (with venv) on PATH; pip fetches setuptools, pytest and the bench peers.

PYTHON ?= python3
PY_DIR := $(ROOT)/bindings/python
PY_VENV := $(TARGET)/venv
PY := $(PY_VENV)/bin/python
PY_PIP := $(PY) -m pip --disable-pip-version-check --no-input

TEST_SUITES += test-python
LINTS += lint-python
DEMOS += demo-python
BENCHES += bench-python

.PHONY: test-python lint-python demo-python bench-python python-install python-lint-tools

$(PY_VENV)/.ready:
	rm -rf $(PY_VENV)
	if ! $(PYTHON) -m venv $(PY_VENV); then \
	  rm -rf $(PY_VENV); \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "python-install: '$(PYTHON) -m venv' failed; installing Debian's python3-venv"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; \
	    $(PYTHON) -m venv $(PY_VENV); \
	  else \
	    echo "python-install: '$(PYTHON) -m venv' failed: install python3-venv" >&2; exit 1; \
	  fi; \
	fi
	touch $@

# Reinstalled on every run, so the package always carries the library of the current tree.
# The test tools are checked every run too (pip does not go to the network when satisfied).
python-install: $(PY_VENV)/.ready
	$(PY_PIP) install --quiet "pytest>=7" "mypy>=1.5"
	$(PY_PIP) install --quiet --force-reinstall --no-deps $(PY_DIR)
	$(PY) -c 'import ttlkv; print("python: ttlkv", ttlkv.__version__, "over", ttlkv.library_version(), "from", ttlkv.library_path())'

# ruff (pycodestyle, pyflakes, bugbear; config in bindings/python/pyproject.toml) over every
# Python file of the repository, and mypy --strict over the package.
python-lint-tools: $(PY_VENV)/.ready
	$(PY_PIP) install --quiet "ruff>=0.4" "mypy>=1.5"

lint-python: python-lint-tools
	$(PY_VENV)/bin/ruff check --config $(PY_DIR)/pyproject.toml $(PY_DIR) $(ROOT)/examples/python $(ROOT)/benches/python
	cd $(PY_DIR) && $(PY) -m mypy --strict src/ttlkv

# TTLKV_LIBRARY is unset so that the tests exercise the library pip installed.
test-python: python-install
	cd $(PY_DIR) && env -u TTLKV_LIBRARY $(PY) -m pytest -p no:cacheprovider tests

# The store directory is $$TTLKV_DEMO_DIR (shared with the C and Elixir demos), else a temp dir.
demo-python: python-install
	env -u TTLKV_LIBRARY $(PY) $(ROOT)/examples/python/demo.py

bench-python: python-install
	$(PY_PIP) install --quiet -r $(ROOT)/benches/python/requirements.txt
	env -u TTLKV_LIBRARY $(PY) $(ROOT)/benches/python/bench.py
