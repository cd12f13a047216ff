# Python binding (bindings/python): a wheel built by setuptools-rust (`make wheel`, which runs
# `cargo rustc --release --lib` and puts libttlkv inside the package), installed with pip into
# a virtualenv under target/, then pytest, the demo and the benchmark; the same wheel is also
# installed into a fresh virtualenv whose PATH has no Rust toolchain and smoke-tested there.
# Needs only python3 (with venv) on PATH; pip fetches setuptools-rust, pytest and the bench
# peers. The ctypes tables (src/ttlkv/_abi.py) are generated from include/ttlkv.h by
# `make python-abi` and committed.

PYTHON ?= python3
PY_DIR := $(ROOT)/bindings/python
PY_VENV := $(TARGET)/venv
PY := $(PY_VENV)/bin/python
PY_PIP := $(PY) -m pip --disable-pip-version-check --no-input
PY_WHEELS := $(TARGET)/wheels
PY_WHEEL_VENV := $(TARGET)/wheel-venv

TEST_SUITES += test-python
LINTS += lint-python
DEMOS += demo-python
BENCHES += bench-python

.PHONY: test-python test-python-wheel test-python-django test-python-cachelib lint-python demo-python bench-python \
	python-install python-lint-tools python-abi wheel

# ttlkv.django is proven with Django's own BaseCacheTests, from the sdist of this release
# (pinned, with its sha256 from PyPI): tests/cache of it is extracted under target/upstream.
DJANGO_VERSION := 5.2.8
DJANGO_SHA256 := 23254866a5bb9a2cfa6004e8b809ec6246eba4b58a7589bc2772f1bcc8456c7f
PY_UPSTREAM := $(TARGET)/upstream
DJANGO_SDIST := $(PY_UPSTREAM)/django-$(DJANGO_VERSION).tar.gz
DJANGO_TESTS := $(PY_UPSTREAM)/django-$(DJANGO_VERSION)/tests
# ttlkv.cachelib the same way, with cachelib's CommonTests/ClearTests/HasTests.
CACHELIB_VERSION := 0.13.0
CACHELIB_SHA256 := 209d8996e3c57595bee274ff97116d1d73c4980b2fd9a34c7846cd07fd2e1a48
CACHELIB_SDIST := $(PY_UPSTREAM)/cachelib-$(CACHELIB_VERSION).tar.gz
CACHELIB_DIR := $(PY_UPSTREAM)/cachelib-$(CACHELIB_VERSION)

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

# Rewrites the generated ctypes tables (src/ttlkv/_abi.py, and the exception classes of
# src/ttlkv/_errors.py) from the header; standard library only. Commit the result.
python-abi:
	$(PYTHON) $(PY_DIR)/tools/gen_abi.py

# One wheel in target/wheels, always of the current tree. setuptools builds in the source
# directory, so its build/ and egg-info are removed before (a stale build/lib would put files
# deleted from src/ into the wheel) and after.
# ttlkv._speedups needs Python's headers: installed (Debian's python3-dev) when missing and
# running as root; otherwise the wheel is built without it, and make test-python says so.
wheel: $(PY_VENV)/.ready
	@if [ ! -f "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "wheel: installing Debian's python3-dev for ttlkv._speedups (the compiled get and put)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-dev >/dev/null; \
	  else \
	    echo "wheel: no Python.h (install python3-dev): the wheel gets no ttlkv._speedups, get and put run on ctypes"; \
	  fi; \
	fi
	rm -rf $(PY_DIR)/build $(PY_DIR)/src/ttlkv.egg-info $(PY_WHEELS)/ttlkv-*.whl
	$(PY_PIP) wheel --quiet --no-deps --wheel-dir $(PY_WHEELS) $(PY_DIR)
	rm -rf $(PY_DIR)/build $(PY_DIR)/src/ttlkv.egg-info
	ls $(PY_WHEELS)/ttlkv-*.whl

# Reinstalled on every run, so the package always carries the library of the current tree.
# The test tools are checked every run too (pip does not go to the network when satisfied).
python-install: wheel
	$(PY_PIP) install --quiet "pytest>=7" "mypy>=1.5" "django==$(DJANGO_VERSION)" \
	  "cachelib==$(CACHELIB_VERSION)" "pytest-xprocess>=0.23"
	$(PY_PIP) install --quiet --force-reinstall --no-deps $(PY_WHEELS)/ttlkv-*.whl
	env -u TTLKV_LIBRARY $(PY) -c 'import ttlkv; print("python: ttlkv", ttlkv.__version__, "over", ttlkv.library_version(), "from", ttlkv.library_path())'

# ruff (pycodestyle, pyflakes, bugbear; config in bindings/python/pyproject.toml) over every
# Python file of the repository, mypy --strict over the package, and the generated tables
# checked against the header.
python-lint-tools: $(PY_VENV)/.ready
	$(PY_PIP) install --quiet "ruff>=0.4" "mypy>=1.5"

lint-python: python-lint-tools
	$(PY_VENV)/bin/ruff check --config $(PY_DIR)/pyproject.toml $(PY_DIR) $(ROOT)/examples/python $(ROOT)/benches/python
	cd $(PY_DIR) && $(PY) -m mypy --strict src/ttlkv
	$(PYTHON) $(PY_DIR)/tools/gen_abi.py --check

# The wheel as a user without Rust gets it: a new virtualenv, an environment emptied of
# everything but a PATH with neither cargo nor rustc, pip offline, then a smoke test.
test-python-wheel: wheel
	rm -rf $(PY_WHEEL_VENV)
	$(PYTHON) -m venv $(PY_WHEEL_VENV)
	env -i PATH=$(PY_WHEEL_VENV)/bin HOME=$(PY_WHEEL_VENV) PIP_CONFIG_FILE=/dev/null \
	  $(PY_WHEEL_VENV)/bin/python -m pip --disable-pip-version-check --no-input install \
	  --quiet --no-index --no-deps --no-cache-dir $(PY_WHEELS)/ttlkv-*.whl
	env -i PATH=$(PY_WHEEL_VENV)/bin HOME=$(PY_WHEEL_VENV) \
	  $(PY_WHEEL_VENV)/bin/python -I $(PY_DIR)/tests/wheel_smoke.py $(PY_WHEELS)/ttlkv-*.whl

# TTLKV_LIBRARY is unset so that the tests exercise the library inside the installed wheel.
test-python: python-install test-python-wheel test-python-django test-python-cachelib
	cd $(PY_DIR) && env -u TTLKV_LIBRARY $(PY) -m pytest -p no:cacheprovider tests
	@$(PY) -c 'import ttlkv; print("test-python: get and put ran through", "the compiled binding (ttlkv._speedups)" if ttlkv.compiled_binding() else "ctypes alone: the wheel has no ttlkv._speedups (no Python headers; Debian: python3-dev)")'
	# The ctypes path too, which runs where the compiled module is not built.
	cd $(PY_DIR) && env -u TTLKV_LIBRARY TTLKV_PYTHON_BINDING=ctypes $(PY) -m pytest -p no:cacheprovider \
	  tests/test_fast_path.py tests/test_durations.py tests/test_mapping.py tests/test_api.py tests/test_django.py tests/test_packaging.py

# A failed download or a wrong checksum fails the target: these tests are never skipped.
$(DJANGO_SDIST): | $(PY_VENV)/.ready
	mkdir -p $(PY_UPSTREAM)
	$(PY_PIP) download --quiet --no-binary :all: --no-deps --dest $(PY_UPSTREAM) "django==$(DJANGO_VERSION)"
	echo "$(DJANGO_SHA256)  $@" | sha256sum --check --quiet

$(DJANGO_TESTS)/cache/tests.py: $(DJANGO_SDIST)
	echo "$(DJANGO_SHA256)  $<" | sha256sum --check --quiet
	tar -xzf $< -C $(PY_UPSTREAM) django-$(DJANGO_VERSION)/tests/cache
	touch $@

# Django's BaseCacheTests against ttlkv.django.TTLKVCache (tests/django_upstream/run.py fails
# on any failure, on no test run, and on a skip it does not list).
test-python-django: python-install $(DJANGO_TESTS)/cache/tests.py
	env -u TTLKV_LIBRARY $(PY) $(PY_DIR)/tests/django_upstream/run.py $(DJANGO_TESTS)

# The store directory is $$TTLKV_DEMO_DIR (shared with the C and Elixir demos), else a temp dir.
demo-python: python-install
	env -u TTLKV_LIBRARY $(PY) $(ROOT)/examples/python/demo.py

# The Django benchmark's Redis peer: Debian's redis-server, installed when missing and
# running as root (otherwise that backend is left out, and the benchmark says so).
bench-python: python-install
	$(PY_PIP) install --quiet -r $(ROOT)/benches/python/requirements.txt
	env -u TTLKV_LIBRARY $(PY) $(ROOT)/benches/python/bench.py
	@if ! command -v redis-server >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "bench-python: installing Debian's redis-server for the Django benchmark"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	fi
	env -u TTLKV_LIBRARY $(PY) $(ROOT)/benches/python/django_bench.py
	env -u TTLKV_LIBRARY $(PY) $(ROOT)/benches/python/durable_bench.py

$(CACHELIB_SDIST): | $(PY_VENV)/.ready
	mkdir -p $(PY_UPSTREAM)
	$(PY_PIP) download --quiet --no-binary :all: --no-deps --dest $(PY_UPSTREAM) "cachelib==$(CACHELIB_VERSION)"
	echo "$(CACHELIB_SHA256)  $@" | sha256sum --check --quiet

$(CACHELIB_DIR)/tests/common.py: $(CACHELIB_SDIST)
	echo "$(CACHELIB_SHA256)  $<" | sha256sum --check --quiet
	tar -xzf $< -C $(PY_UPSTREAM) cachelib-$(CACHELIB_VERSION)/tests cachelib-$(CACHELIB_VERSION)/setup.cfg
	touch $@

# cachelib's tests import its conftest (which needs pytest-xprocess) and run under its setup.cfg.
test-python-cachelib: python-install $(CACHELIB_DIR)/tests/common.py
	cp $(PY_DIR)/tests/cachelib_upstream/cachelib_tests.py $(CACHELIB_DIR)/tests/test_ttlkv_cache.py
	cd $(CACHELIB_DIR) && env -u TTLKV_LIBRARY $(PY) -m pytest -p no:cacheprovider -rs tests/test_ttlkv_cache.py
