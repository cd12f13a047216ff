"""ttlkv.django.TTLKVCache beyond Django's own BaseCacheTests (run by `make test-python` from
the Django sdist, tests/django_upstream/run.py): the stored format, counters shared with plain
ttlkv, atomic incr across processes, fork, the per-process store and the OPTIONS."""

from __future__ import annotations

import multiprocessing
import os
import pickle
from pathlib import Path
from typing import Any, Dict

import pytest

import django
from django.conf import settings

if not settings.configured:
    settings.configure(CACHES={}, USE_TZ=False)
    django.setup()

from django.core.exceptions import ImproperlyConfigured  # noqa: E402

import ttlkv  # noqa: E402
from ttlkv import django as tdj  # noqa: E402
from test_fork import in_child  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")


def make(path: Path, **params: Any) -> tdj.TTLKVCache:
    return tdj.TTLKVCache(str(path), {"TIMEOUT": 300, **params})


def raw(path: Path, namespace: str = "django") -> ttlkv.Namespace:
    return ttlkv.Store(str(path)).namespace(namespace, ttl=None)


def test_ints_are_stored_as_counters_and_everything_else_as_marked_pickles(tmp_path: Path) -> None:
    cache = make(tmp_path)
    cache.set("n", 42)
    cache.set("neg", -7)
    cache.set("flag", True)
    cache.set("big", 1 << 70)
    cache.set("text", "42")
    ns = raw(tmp_path)
    assert ns.get(cache.make_key("n")) == b"42"
    assert ns.get(cache.make_key("neg")) == b"-7"
    for key, value in (("flag", True), ("big", 1 << 70), ("text", "42")):
        stored = ns.get(cache.make_key(key))
        assert stored[:1] == tdj.PICKLE_MARKER
        assert pickle.loads(stored[1:]) == value
        assert type(cache.get(key)) is type(value)
    assert cache.get("flag") is True


def test_a_counter_of_plain_ttlkv_is_an_int_to_django_and_back(tmp_path: Path) -> None:
    cache = make(tmp_path)
    ns = raw(tmp_path)
    assert ns.incr(cache.make_key("hits"), 5) == 5
    assert cache.get("hits") == 5
    assert cache.incr("hits", 2) == 7
    assert ns.get(cache.make_key("hits")) == b"7"


def test_incr_keeps_the_deadline_and_refuses_a_missing_key_and_a_non_number(tmp_path: Path) -> None:
    cache = make(tmp_path)
    cache.set("n", 1, timeout=1000)
    before = raw(tmp_path).deadline(cache.make_key("n"))
    assert cache.incr("n") == 2
    assert raw(tmp_path).deadline(cache.make_key("n")) == before
    with pytest.raises(ValueError):
        cache.incr("missing")
    cache.set("s", "text")
    with pytest.raises(TypeError):
        cache.incr("s")
    assert cache.get("s") == "text"


def test_incr_past_64_bits_and_of_a_pickled_int_goes_on_atomically(tmp_path: Path) -> None:
    cache = make(tmp_path)
    cache.set("n", (1 << 63) - 1, timeout=None)
    assert cache.incr("n") == 1 << 63  # the library's overflow: compare-and-set instead
    assert cache.get("n") == 1 << 63
    assert cache.decr("n", 2) == (1 << 63) - 2  # a pickled int back in range, stored as a counter
    assert raw(tmp_path).get(cache.make_key("n")) == b"%d" % ((1 << 63) - 2)
    assert raw(tmp_path).deadline(cache.make_key("n")) == float("inf")


def _incr_many(path: str, n: int) -> None:
    cache = tdj.TTLKVCache(path, {})
    for _ in range(n):
        cache.incr("shared")


def test_incr_from_four_processes_loses_no_increment(tmp_path: Path) -> None:
    cache = make(tmp_path)
    cache.set("shared", 0, timeout=None)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_incr_many, args=(str(tmp_path), 500)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert cache.get("shared") == 2000


def _add_race(path: str, me: int, keys: int, queue: Any) -> None:
    cache = tdj.TTLKVCache(path, {})
    queue.put((me, [i for i in range(keys) if cache.add(f"slot-{i}", me, timeout=600)]))


def test_add_from_four_worker_processes_has_exactly_one_winner_per_key(tmp_path: Path) -> None:
    # gunicorn-style workers racing for the same keys: every key is added exactly once, and
    # the value stored is the winner's.
    make(tmp_path)  # the store exists before the workers open it
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_add_race, args=(str(tmp_path), me, 300, queue)) for me in range(4)]
    for p in procs:
        p.start()
    won = dict(queue.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    winners = [me for me, slots in won.items() for _ in slots]
    assert len(winners) == 300
    cache = make(tmp_path)
    for me, slots in won.items():
        for i in slots:
            assert cache.get(f"slot-{i}") == me


def test_a_forked_child_opens_its_own_store(tmp_path: Path) -> None:
    cache = make(tmp_path)
    cache.set("before", "parent")

    def child() -> None:
        assert cache.get("before") == "parent"  # not ClosedError: the child's own store
        cache.set("from_child", os.getpid())

    in_child(child)
    assert isinstance(cache.get("from_child"), int)
    assert cache.get("before") == "parent"


def test_close_keeps_the_store_for_the_next_request(tmp_path: Path) -> None:
    cache = make(tmp_path)
    cache.set("k", "v")
    cache.close()
    assert cache.get("k") == "v"


def test_caches_of_one_location_share_one_store_and_namespaces_separate_them(tmp_path: Path) -> None:
    a = make(tmp_path)
    b = make(tmp_path, KEY_PREFIX="b")
    other = make(tmp_path, OPTIONS={"namespace": "other"})
    a.set("k", 1)
    b.set("k", 2)
    other.set("k", 3)
    assert a._ns.store is b._ns.store is other._ns.store
    assert (a.get("k"), b.get("k"), other.get("k")) == (1, 2, 3)
    a.clear()  # the whole namespace, both aliases
    assert (a.get("k"), b.get("k"), other.get("k")) == (None, None, 3)


def test_options_go_to_the_store_and_the_size_bound(tmp_path: Path) -> None:
    cache = make(tmp_path, OPTIONS={"durability": "periodic", "max_bytes": 1 << 20, "eviction": "none"})
    cache.set("k", "v")
    assert cache._ns.store.durability == "periodic"
    assert cache._ns.store.max_bytes() == (1 << 20, "none")


@pytest.mark.parametrize(
    "options",
    [{"MAX_ENTRIES": 30}, {"CULL_FREQUENCY": 0}, {"no_such_option": 1}, {"eviction": "none"}],
)
def test_options_it_cannot_honour_are_refused(tmp_path: Path, options: Dict[str, Any]) -> None:
    with pytest.raises(ImproperlyConfigured):
        make(tmp_path, OPTIONS=options)


def test_a_location_is_required() -> None:
    with pytest.raises(ImproperlyConfigured):
        tdj.TTLKVCache("", {})


def test_loads_refuses_bytes_it_did_not_write() -> None:
    with pytest.raises(ValueError):
        tdj.loads(b"\x80\x04K*.")
    assert tdj.loads(tdj.dumps({"a": [1]})) == {"a": [1]}


def test_importing_ttlkv_does_not_import_django() -> None:
    from conftest import run_python

    proc = run_python("import sys, ttlkv; assert 'django' not in sys.modules, 'django imported'")
    assert proc.returncode == 0
