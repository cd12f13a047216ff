"""ttlkv.cachelib.TTLKVCache beyond cachelib's own tests (run by `make test-python` from the
cachelib sdist, tests/cachelib_upstream/cachelib_tests.py): timeouts, atomic inc, the stored
form shared with ttlkv.django, fork."""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from pathlib import Path

import pytest

import ttlkv
from ttlkv.cachelib import TTLKVCache
from test_fork import in_child

pytestmark = pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")


def raw(path: Path, namespace: str = "cachelib") -> ttlkv.Namespace:
    return ttlkv.Store(str(path)).namespace(namespace, ttl=None)


def test_timeouts_zero_is_forever_negative_expires_none_is_the_default(tmp_path: Path) -> None:
    cache = TTLKVCache(tmp_path, default_timeout=100)
    cache.set("forever", 1, timeout=0)
    cache.set("default", 1)
    cache.set("gone", 1)
    assert cache.set("gone", 2, timeout=-1) is True
    assert cache.add("never", 1, timeout=-1) is True
    ns = raw(tmp_path)
    assert ns.deadline("forever") == math.inf
    assert 0 < ns.deadline("default") - time.time() <= 100
    assert cache.get("gone") is None and not cache.has("never")


def test_inc_creates_counts_keeps_the_deadline_and_is_a_ttlkv_counter(tmp_path: Path) -> None:
    cache = TTLKVCache(tmp_path, default_timeout=50, key_prefix="p:")
    assert cache.inc("n", 5) == 5
    before = raw(tmp_path).deadline("p:n")
    assert cache.dec("n", 2) == 3
    assert raw(tmp_path).deadline("p:n") == before
    assert raw(tmp_path).get("p:n") == b"3"
    cache.set("big", (1 << 63) - 1)
    assert cache.inc("big") == 1 << 63
    cache.set("s", "text")
    with pytest.raises(TypeError):
        cache.inc("s")


def _inc_many(path: str, n: int) -> None:
    cache = TTLKVCache(path)
    for _ in range(n):
        cache.inc("shared")


def test_inc_from_four_processes_loses_no_increment(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_inc_many, args=(str(tmp_path), 500)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert TTLKVCache(tmp_path).get("shared") == 2000


def test_a_forked_child_opens_its_own_store(tmp_path: Path) -> None:
    cache = TTLKVCache(tmp_path)
    cache.set("before", "parent")

    def child() -> None:
        assert cache.get("before") == "parent"
        cache.set("from_child", os.getpid())

    in_child(child)
    assert isinstance(cache.get("from_child"), int)


def test_unknown_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        TTLKVCache(tmp_path, threshold=10)


def test_importing_ttlkv_does_not_import_cachelib() -> None:
    from conftest import run_python

    proc = run_python("import sys, ttlkv; assert 'cachelib' not in sys.modules, 'cachelib imported'")
    assert proc.returncode == 0
