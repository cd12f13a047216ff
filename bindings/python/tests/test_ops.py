"""The cache operations (README "Cache operations"), on Store and on Namespace: touch, add, incr
and decr, take, versions and compare-and-set, many keys at once, clear, count, namespaces,
scan and its paging, the size bound, backup — and their bad input."""

from __future__ import annotations

import gc
import math
import os
import pickle
import threading
import time
from pathlib import Path
from typing import Any, List

import pytest

import ttlkv
from ttlkv import _abi
from conftest import wait_until

# --- touch ----------------------------------------------------------------------------------


def test_touch_gives_a_new_deadline_and_keeps_value_and_version(store: ttlkv.Store) -> None:
    ns = store.namespace("t", ttl=10)
    ns.put(b"k", b"v")
    before = ns.get_versioned(b"k")
    assert ns.touch(b"k", ttl=1000) is True
    assert ns.deadline(b"k") > time.time() + 900
    assert ns.get_versioned(b"k") == before  # the value and the version stay
    assert ns.touch("k") is True  # the namespace's TTL
    assert ns.deadline(b"k") < time.time() + 11
    assert ns.touch(b"k", ttl=None) and ns.deadline(b"k") == math.inf
    assert store.touch("t", b"k", 5) is True and ns.deadline(b"k") < time.time() + 6
    assert ns.touch(b"absent") is False and store.touch("t", "absent", 5) is False
    assert b"absent" not in ns


def test_touch_does_not_bring_back_an_expired_entry(ns: ttlkv.Namespace) -> None:
    ns.put(b"k", b"v", ttl=0.05)
    wait_until(lambda: ns.get(b"k") is None)
    assert ns.touch(b"k", ttl=60) is False
    assert ns.get(b"k") is None and ns.deadline(b"k") is None


# --- add ------------------------------------------------------------------------------------


def test_add_writes_only_when_absent(store: ttlkv.Store) -> None:
    ns = store.namespace("a", ttl=60)
    assert ns.add(b"k", b"first") is True
    assert ns.add(b"k", b"second") is False
    assert ns[b"k"] == b"first"
    assert store.add("a", "k2", bytearray(b"x"), None) is True and ns.deadline(b"k2") == math.inf
    assert store.add("a", "k2", b"y", 5) is False and ns[b"k2"] == b"x"
    assert ns.add(b"k3", b"v", ttl=5) and time.time() + 4 < ns.deadline(b"k3") < time.time() + 6


def test_add_counts_an_expired_entry_as_absent(ns: ttlkv.Namespace) -> None:
    ns.put(b"k", b"old", ttl=0.05)
    wait_until(lambda: ns.get(b"k") is None)
    assert ns.add(b"k", b"new") is True
    assert ns[b"k"] == b"new"


def test_add_goes_through_the_serializer(store: ttlkv.Store) -> None:
    docs = store.namespace("docs", ttl=60, serializer=ttlkv.JSONSerializer())
    assert docs.add("d", {"a": [1]}) is True
    assert docs.add("d", {"b": 2}) is False
    assert docs["d"] == {"a": [1]} and store.get("docs", "d") == b'{"a":[1]}'


# --- incr / decr ----------------------------------------------------------------------------


def test_incr_creates_counts_and_keeps_the_deadline(store: ttlkv.Store) -> None:
    ns = store.namespace("c", ttl=30)
    assert ns.incr(b"hits") == 1  # created with the namespace's TTL
    deadline = ns.deadline(b"hits")
    assert time.time() + 29 < deadline < time.time() + 31
    assert ns.incr(b"hits") == 2
    assert ns.incr("hits", 40) == 42
    assert ns.decr(b"hits") == 41 and ns.decr(b"hits", 50) == -9
    assert ns.incr(b"hits", 0) == -9
    assert ns.deadline(b"hits") == deadline  # an existing counter keeps its deadline
    assert ns[b"hits"] == b"-9"  # ASCII decimal in the store
    assert ns.incr(b"other", 5, create_ttl=None) == 5 and ns.deadline(b"other") == math.inf
    assert ns.decr(b"down", 3) == -3  # created with -delta
    assert ns.incr(b"short", create_ttl=2.5) == 1 and ns.deadline(b"short") < time.time() + 3


def test_incr_of_a_missing_counter_without_create_raises_key_error(store: ttlkv.Store) -> None:
    ns = store.namespace("c", ttl=30)
    with pytest.raises(KeyError):
        ns.incr(b"missing", create=False)
    with pytest.raises(KeyError):
        ns.decr(b"missing", create=False)
    with pytest.raises(KeyError):
        store.incr("c", b"missing")  # a Store has no default TTL: it creates with create_ttl only
    with pytest.raises(KeyError):
        store.decr("c", b"missing", 2)
    assert b"missing" not in ns
    assert store.incr("c", b"missing", create_ttl=60) == 1
    assert store.incr("c", b"missing", 2) == 3 and ns.incr(b"missing", create=False) == 4
    assert store.decr("c", b"missing") == 3


def test_incr_counts_the_limits_of_64_bits(ns: ttlkv.Namespace) -> None:
    top, bottom = (1 << 63) - 1, -(1 << 63)
    assert ns.incr(b"c", top) == top
    with pytest.raises(ttlkv.CounterOverflowError) as info:
        ns.incr(b"c")
    assert isinstance(info.value, ttlkv.InvalidArgumentError) and info.value.code == 110
    assert ns[b"c"] == str(top).encode()  # unchanged
    assert ns.incr(b"low", bottom) == bottom
    with pytest.raises(ttlkv.CounterOverflowError):
        ns.decr(b"low")
    assert ns[b"low"] == str(bottom).encode()
    assert ns.incr(b"low", top) == -1


def test_incr_of_a_value_that_is_no_counter_changes_nothing(ns: ttlkv.Namespace) -> None:
    for value in (b"text", b"", b" 1", b"1.5", b"+1", b"-", b"99999999999999999999"):
        ns.put(b"v", value)
        version = ns.get_versioned(b"v")
        with pytest.raises(ttlkv.NotACounterError) as info:
            ns.incr(b"v")
        assert info.value.code == 109 and isinstance(info.value, ValueError)
        assert "[incr in namespace 'test']" in str(info.value)  # what was being done
        assert ns.get_versioned(b"v") == version


@pytest.mark.parametrize("delta", [1.0, "1", None, True, b"1"])
def test_incr_delta_must_be_an_int(ns: ttlkv.Namespace, store: ttlkv.Store, delta: Any) -> None:
    with pytest.raises(TypeError, match="delta"):
        ns.incr(b"c", delta)
    with pytest.raises(TypeError, match="delta"):
        ns.decr(b"c", delta)
    with pytest.raises(TypeError, match="delta"):
        store.incr("test", b"c", delta, create_ttl=5)
    assert b"c" not in ns


@pytest.mark.parametrize("delta", [1 << 63, -(1 << 63) - 1, 1 << 64, 10**30])
def test_incr_delta_outside_64_bits_is_refused(ns: ttlkv.Namespace, delta: int) -> None:
    """ctypes would wrap such a delta into range: the binding refuses it."""
    ns.put(b"c", b"5")
    with pytest.raises(ttlkv.CounterOverflowError, match="64-bit"):
        ns.incr(b"c", delta)
    with pytest.raises(ttlkv.CounterOverflowError):
        ns.incr(b"new", delta)
    assert ns[b"c"] == b"5" and b"new" not in ns
    with pytest.raises(ttlkv.CounterOverflowError):
        ns.decr(b"c", -(1 << 63))  # its negation is 2**63


def test_incr_create_ttl_is_checked_and_needs_create(ns: ttlkv.Namespace, store: ttlkv.Store) -> None:
    for ttl in (0, -1, math.nan):
        with pytest.raises(ttlkv.TTLInvalidError):
            ns.incr(b"c", create_ttl=ttl)
        with pytest.raises(ttlkv.TTLInvalidError):
            store.incr("test", b"c", create_ttl=ttl)
    with pytest.raises(TypeError, match="create_ttl"):
        ns.incr(b"c", create=False, create_ttl=5)
    assert b"c" not in ns


def test_counters_and_serializers(store: ttlkv.Store) -> None:
    """incr bypasses the serializer; what ns[key] gives back is the serializer's reading of the
    ASCII decimal bytes: bytes without one, an int with JSON and with pickle."""
    raw = store.namespace("raw", ttl=60)
    raw.incr(b"c", 41)
    assert raw[b"c"] == b"41" and int(raw[b"c"]) == 41
    docs = store.namespace("json", ttl=60, serializer=ttlkv.JSONSerializer())
    assert docs.incr(b"c", 41) == 41 and docs[b"c"] == 41
    docs[b"d"] = 5  # JSON of an int is a counter
    assert docs.incr(b"d") == 6 and docs.get_many([b"c", b"d"]) == {b"c": 41, b"d": 6}
    docs[b"f"] = 5.0
    with pytest.raises(ttlkv.NotACounterError):
        docs.incr(b"f")
    pickled = store.namespace("pickle", ttl=60, serializer=ttlkv.PickleSerializer())
    assert pickled.incr(b"c", -7) == -7
    assert pickled[b"c"] == -7 and pickled.take(b"c") == -7
    pickled[b"p"] = 5  # a pickle, not a counter
    with pytest.raises(ttlkv.NotACounterError):
        pickled.incr(b"p")
    assert pickled[b"p"] == 5
    store.put("pickle", b"junk", b"not a pickle", 60)
    with pytest.raises(Exception) as info:
        pickled[b"junk"]
    assert not isinstance(info.value, KeyError)


def test_pickle_serializer_reads_only_exact_counters() -> None:
    loads = ttlkv.PickleSerializer().loads
    assert loads(b"42") == 42 and loads(b"-7") == -7 and loads(b"0") == 0
    for data in (b"42\n", b"4 2", b"+4", b"-", b""):
        with pytest.raises((pickle.UnpicklingError, EOFError)):
            loads(data)


# --- take -----------------------------------------------------------------------------------


def test_take_removes_and_returns(store: ttlkv.Store) -> None:
    ns = store.namespace("tk", ttl=60)
    ns.put(b"k", b"v")
    assert ns.take(b"k") == b"v"
    assert ns.take(b"k") is None and ns.take(b"k", b"d") == b"d"
    assert b"k" not in ns
    store.put("tk", "s", b"x" * 100_000, 60)  # past the read buffer
    assert store.take("tk", "s") == b"x" * 100_000
    assert store.take("tk", "s", 0) == 0
    ns.put(b"empty", b"")
    assert ns.take(b"empty") == b""


def test_take_of_an_expired_entry_gives_the_default(ns: ttlkv.Namespace) -> None:
    ns.put(b"k", b"v", ttl=0.05)
    wait_until(lambda: ns.get(b"k") is None)
    assert ns.take(b"k", b"gone") == b"gone"


def test_take_from_four_threads_gives_each_value_once(store: ttlkv.Store) -> None:
    ns = store.namespace("race", ttl=60)
    ns.put_many({b"%03d" % i: b"value %d" % i for i in range(200)})
    got: List[List[bytes]] = [[] for _ in range(4)]
    barrier = threading.Barrier(4)

    def work(me: int) -> None:
        barrier.wait()
        for i in range(200):
            value = ns.take(b"%03d" % i)
            if value is not None:
                got[me].append(value)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    everything = [v for part in got for v in part]
    assert sorted(everything) == sorted(b"value %d" % i for i in range(200))
    assert len(ns) == 0


# --- versions -------------------------------------------------------------------------------


def test_versions_change_with_every_write_of_the_value_but_not_touch(store: ttlkv.Store) -> None:
    ns = store.namespace("v", ttl=60)
    assert ns.get_versioned(b"k") is None and store.get_versioned("v", b"k") is None
    ns.put(b"k", b"1")
    value, first = ns.get_versioned(b"k")  # type: ignore[misc]
    assert value == b"1" and isinstance(first, int) and first > 0
    seen = {first}
    ns.touch(b"k", 100)
    assert ns.get_versioned(b"k") == (b"1", first)
    for write in (
        lambda: ns.put(b"k", b"2"),
        lambda: ns.incr(b"k"),
        lambda: ns.put_if_version(b"k", b"9", ns.get_versioned(b"k")[1]),  # type: ignore[index]
        lambda: (ns.delete(b"k"), ns.add(b"k", b"after delete")),
    ):
        write()
        _, version = ns.get_versioned(b"k")  # type: ignore[misc]
        assert version not in seen and version > max(seen)
        seen.add(version)
    assert store.get_versioned("v", "k") == (b"after delete", max(seen))


def test_put_if_version_is_compare_and_set(store: ttlkv.Store) -> None:
    ns = store.namespace("cas", ttl=60)
    created = ns.put_if_version(b"k", b"1", None)  # only if absent
    assert isinstance(created, int) and ns.get_versioned(b"k") == (b"1", created)
    assert ns.put_if_version(b"k", b"x", None) is None  # there is one now: a result, not an error
    updated = ns.put_if_version(b"k", b"2", created, ttl=5)
    assert updated is not None and updated > created
    assert ns.put_if_version(b"k", b"3", created) is None  # stale
    assert ns.get_versioned(b"k") == (b"2", updated) and ns.deadline(b"k") < time.time() + 6
    assert store.put_if_version("cas", b"k", b"4", updated, None) is not None
    assert ns[b"k"] == b"4" and ns.deadline(b"k") == math.inf
    assert store.put_if_version("cas", b"other", bytearray(b"o"), None, 60) is not None
    assert ns[b"other"] == b"o"


def test_compare_and_set_increments_from_threads_lose_nothing(store: ttlkv.Store) -> None:
    ns = store.namespace("cas-threads", ttl=60)
    ns.put(b"n", b"0")

    def work() -> None:
        for _ in range(100):
            while True:
                value, version = ns.get_versioned(b"n")  # type: ignore[misc]
                if ns.put_if_version(b"n", b"%d" % (int(value) + 1), version) is not None:
                    break

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert ns[b"n"] == b"400"


def test_versions_through_a_serializer(store: ttlkv.Store) -> None:
    docs = store.namespace("vdocs", ttl=60, serializer=ttlkv.JSONSerializer())
    version = docs.put_if_version("d", {"n": 1}, None)
    assert docs.get_versioned("d") == ({"n": 1}, version)
    assert docs.put_if_version("d", {"n": 2}, version) is not None
    assert docs["d"] == {"n": 2}


@pytest.mark.parametrize("expected", [0, -1, 1 << 64])
def test_put_if_version_refuses_impossible_versions(ns: ttlkv.Namespace, expected: int) -> None:
    with pytest.raises(ttlkv.InvalidArgumentError, match="None"):
        ns.put_if_version(b"k", b"v", expected)
    assert b"k" not in ns


@pytest.mark.parametrize("expected", [True, "1", 1.0])
def test_put_if_version_expected_is_an_int(ns: ttlkv.Namespace, store: ttlkv.Store, expected: Any) -> None:
    with pytest.raises(TypeError, match="expected"):
        ns.put_if_version(b"k", b"v", expected)
    with pytest.raises(TypeError, match="expected"):
        store.put_if_version("test", b"k", b"v", expected, 60)
    assert b"k" not in ns


# --- many keys ------------------------------------------------------------------------------


def test_get_many_gives_a_dict_of_the_live_keys_as_given(store: ttlkv.Store) -> None:
    ns = store.namespace("many", ttl=60)
    ns.put_many({b"a": b"1", b"": b"empty", "é": b"accent", b"big": b"x" * 70_000})
    ns.put(b"gone", b"v", ttl=0.05)
    wait_until(lambda: ns.get(b"gone") is None)
    found = ns.get_many(["a", b"", "é", b"big", b"missing", b"gone", "a"])
    assert found == {"a": b"1", b"": b"empty", "é": b"accent", b"big": b"x" * 70_000}
    assert list(found) == ["a", b"", "é", b"big"]  # the order asked, missing keys left out
    assert ns.get_many(["a", b"a"]) == {"a": b"1", b"a": b"1"}  # keyed by the keys as given
    assert store.get_many("many", (k for k in [b"a", b"b"])) == {b"a": b"1"}
    assert ns.get_many([]) == {}
    keys = [b"%05d" % i for i in range(3000)]  # past the table of ready index objects
    ns.put_many({k: k * 3 for k in keys[::2]})
    found = ns.get_many(keys)
    assert found == {k: k * 3 for k in keys[::2]}


def test_get_many_is_one_snapshot_of_many_keys(store: ttlkv.Store) -> None:
    ns = store.namespace("snap", ttl=60)
    ns.put_many({b"%d" % i: b"v" for i in range(100)})
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            ns.put_many({b"%d" % i: b"w" for i in range(100)})
            ns.put_many({b"%d" % i: b"v" for i in range(100)})

    t = threading.Thread(target=churn)
    t.start()
    try:
        for _ in range(50):
            values = set(ns.get_many([b"%d" % i for i in range(100)]).values())
            assert len(values) == 1  # never half of one batch and half of another
    finally:
        stop.set()
        t.join()


def test_delete_many(store: ttlkv.Store) -> None:
    ns = store.namespace("dm", ttl=60)
    ns.put_many({b"a": b"1", b"b": b"2", b"c": b"3", b"": b"e"})
    assert ns.delete_many([b"a", "b", b"missing", b"a"]) == 2
    assert ns.keys() == [b"", b"c"]
    assert store.delete_many("dm", [b""]) == 1 and ns.delete_many([]) == 0
    assert ns.keys() == [b"c"]


@pytest.mark.parametrize("keys", ["abc", b"abc", bytearray(b"ab")])
def test_many_key_calls_refuse_a_single_key(ns: ttlkv.Namespace, store: ttlkv.Store, keys: Any) -> None:
    ns.put(b"a", b"1")
    with pytest.raises(TypeError, match="iterable of keys"):
        ns.get_many(keys)
    with pytest.raises(TypeError, match="iterable of keys"):
        ns.delete_many(keys)
    with pytest.raises(TypeError, match="iterable of keys"):
        store.get_many("test", keys)
    assert ns[b"a"] == b"1"


def test_many_key_calls_with_bad_keys_write_nothing(ns: ttlkv.Namespace) -> None:
    ns.put_many({b"a": b"1", b"b": b"2"})
    with pytest.raises(TypeError, match="keys are bytes or str"):
        ns.delete_many([b"a", 1])
    with pytest.raises(ttlkv.KeyTooLongError):
        ns.delete_many([b"a", b"x" * 5000])  # checked by the library before anything goes
    with pytest.raises(ttlkv.KeyTooLongError):
        ns.get_many([b"a", b"x" * 5000])
    with pytest.raises(TypeError):
        ns.get_many([None])
    assert ns.keys() == [b"a", b"b"]


def test_many_key_calls_take_at_most_max_keys_per_call(ns: ttlkv.Namespace) -> None:
    assert ttlkv.MAX_KEYS_PER_CALL == _abi.CONSTANTS["TTLKV_MAX_KEYS_PER_CALL"]
    ns.put(b"1", b"v")
    keys = [b"%d" % i for i in range(ttlkv.MAX_KEYS_PER_CALL + 1)]
    with pytest.raises(ttlkv.BatchTooLargeError):
        ns.get_many(keys)
    with pytest.raises(ttlkv.BatchTooLargeError):
        ns.delete_many(keys)
    assert ns[b"1"] == b"v"
    assert len(ns.get_many(keys[:-1])) == 1


# --- whole namespaces -----------------------------------------------------------------------


def test_clear_count_and_namespaces(store: ttlkv.Store) -> None:
    a = store.namespace("a", ttl=60)
    b = store.namespace(b"b", ttl=60)
    assert store.namespaces() == [] and a.count() == 0 and len(a) == 0
    a.put_many({b"%d" % i: b"v" for i in range(25_000)})  # more than one clear transaction
    b.put_many({b"x": b"1", b"y": b"2"})
    store.put("c\x00", b"k", b"v", 60)
    store.put("gone", b"k", b"v", 0.05)
    assert a.count() == len(a) == store.count("a") == 25_000
    assert store.namespaces()[:3] == [b"a", b"b", b"c\x00"]
    wait_until(lambda: store.get("gone", b"k") is None)
    assert store.namespaces() == [b"a", b"b", b"c\x00"]  # only those with a live entry
    assert a.clear() == 25_000
    assert a.count() == 0 and b.count() == 2 and store.namespaces() == [b"b", b"c\x00"]
    assert store.clear("b") == 2 and store.clear("b") == 0
    assert store.namespaces() == [b"c\x00"]


def test_count_leaves_out_expired_entries(ns: ttlkv.Namespace) -> None:
    ns.put(b"live", b"v")
    ns.put(b"short", b"v", ttl=0.05)
    wait_until(lambda: ns.get(b"short") is None)
    assert ns.count() == 1 and len(ns) == 1


# --- scan -----------------------------------------------------------------------------------

KEYS = [b"", b"\x00", b"a", b"a\x00", b"ab", b"abc", b"b", b"b\xff", b"\xff"]


def test_scan_pages_with_a_cursor_including_the_empty_key(store: ttlkv.Store) -> None:
    ns = store.namespace("scan", ttl=60)
    ns.put_many({k: b"v:" + k for k in KEYS})
    assert ns.scan() == [(k, b"v:" + k) for k in KEYS]
    assert [k for k, _ in ns.scan(limit=1)] == [b""]
    # The empty key as a cursor is "after the empty key", not "no cursor".
    assert [k for k, _ in ns.scan(after=b"", limit=2)] == [b"\x00", b"a"]
    assert [k for k, _ in ns.scan(after=None, limit=2)] == [b"", b"\x00"]
    for limit in range(1, len(KEYS) + 2):
        seen: List[bytes] = []
        after = None
        while True:
            page = ns.scan(b"", after, limit)
            assert len(page) <= limit
            seen += [k for k, _ in page]
            if len(page) < limit:
                break
            after = page[-1][0]
        assert seen == KEYS, limit
    assert [k for k, _ in ns.scan(b"a")] == [b"a", b"a\x00", b"ab", b"abc"]
    assert [k for k, _ in ns.scan("a", "a\x00", 2)] == [b"ab", b"abc"]
    assert [k for k, _ in ns.scan(b"a", b"", 10)] == [b"a", b"a\x00", b"ab", b"abc"]  # cursor before the prefix
    assert [k for k, _ in ns.scan(b"a", b"zzz", 10)] == []  # cursor past the prefix
    assert ns.scan(b"nothing") == []
    assert store.scan("scan", b"b", limit=5) == [(b"b", b"v:b"), (b"b\xff", b"v:b\xff")]


def test_scan_leaves_out_expired_entries_and_other_namespaces(store: ttlkv.Store) -> None:
    ns = store.namespace("scan", ttl=60)
    ns.put(b"a", b"1")
    ns.put(b"b", b"2", ttl=0.05)
    store.put("scan2", b"c", b"3", 60)
    store.put("sca", b"nd", b"4", 60)  # "sca" + "nd" never reads as "scan" + "d"
    wait_until(lambda: ns.get(b"b") is None)
    assert ns.scan() == [(b"a", b"1")]


def test_iter_prefix_pages_lazily(store: ttlkv.Store) -> None:
    ns = store.namespace("iter", ttl=60)
    ns.put_many({k: b"v:" + k for k in KEYS})
    for page_size in (1, 2, 3, len(KEYS), len(KEYS) + 1, 1000):
        assert list(ns.iter_prefix(page_size=page_size)) == [(k, b"v:" + k) for k in KEYS]
        assert [k for k, _ in ns.iter_prefix(b"a", page_size=page_size)] == [b"a", b"a\x00", b"ab", b"abc"]
    it = ns.iter_prefix(page_size=2)
    assert next(it) == (b"", b"v:")
    ns.put(b"zz", b"written meanwhile")  # after the cursor: the next pages see it
    rest = [k for k, _ in it]
    assert rest == sorted(KEYS[1:] + [b"zz"])
    assert list(store.iter_prefix("iter", b"b")) == [(b"b", b"v:b"), (b"b\xff", b"v:b\xff")]


def test_iter_prefix_keeps_its_store_alive(store_dir: Path) -> None:
    """An iterator outliving every other reference to its store must not use a freed handle."""
    with ttlkv.Store(store_dir) as store:
        store.put_many([("n", b"%d" % i, b"v", 60) for i in range(10)])
    it = ttlkv.Store(store_dir).namespace("n", ttl=60).iter_prefix(page_size=3)
    gc.collect()
    assert [k for k, _ in it] == [b"%d" % i for i in range(10)]


def test_iter_prefix_and_scan_through_a_serializer(store: ttlkv.Store) -> None:
    docs = store.namespace("sdocs", ttl=60, serializer=ttlkv.JSONSerializer())
    docs.update({"a1": [1], "a2": {"x": 2}, "b": None})
    assert docs.scan("a") == [(b"a1", [1]), (b"a2", {"x": 2})]
    assert list(docs.iter_prefix(page_size=1)) == [(b"a1", [1]), (b"a2", {"x": 2}), (b"b", None)]


@pytest.mark.parametrize("limit", [0, -1, _abi.CONSTANTS["TTLKV_MAX_KEYS_PER_CALL"] + 1, 1 << 64, (1 << 64) + 5])
def test_scan_limit_out_of_range(ns: ttlkv.Namespace, store: ttlkv.Store, limit: int) -> None:
    """Checked in the binding: ctypes would wrap 2**64 + 5 into the range."""
    ns.put(b"k", b"v")
    with pytest.raises(ttlkv.InvalidArgumentError, match="limit"):
        ns.scan(limit=limit)
    with pytest.raises(ttlkv.InvalidArgumentError, match="page_size"):
        ns.iter_prefix(page_size=limit)  # at the call, not at the first next()
    with pytest.raises(ttlkv.InvalidArgumentError):
        store.scan("test", b"", None, limit)


@pytest.mark.parametrize("bad", [1.5, True, "10", None])
def test_scan_limit_is_an_int(ns: ttlkv.Namespace, bad: Any) -> None:
    with pytest.raises(TypeError, match="limit"):
        ns.scan(limit=bad)


def test_scan_prefix_and_cursor_are_keys(ns: ttlkv.Namespace) -> None:
    with pytest.raises(TypeError):
        ns.scan(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ns.scan(b"", 1)  # type: ignore[arg-type]
    with pytest.raises(ttlkv.NamespaceInvalidError):
        ns.store.scan("", b"")


# --- the size bound -------------------------------------------------------------------------


def test_size_bound_defaults_and_round_trip(store: ttlkv.Store) -> None:
    assert store.max_bytes() == (None, "soonest_deadline")
    store.set_max_bytes(1 << 20)
    assert store.max_bytes() == (1 << 20, "soonest_deadline")
    store.set_max_bytes(ttlkv.MIN_MAX_BYTES, eviction="none")
    assert store.max_bytes() == (ttlkv.MIN_MAX_BYTES, "none")
    store.set_max_bytes(None)
    assert store.max_bytes()[0] is None


def test_size_bound_evicts_soonest_deadline_first(store_dir: Path) -> None:
    with ttlkv.Store(store_dir, durability="periodic") as store:
        bound = 4 * ttlkv.MIN_MAX_BYTES
        store.set_max_bytes(bound)
        forever = store.namespace("forever", ttl=None)
        forever.put_many({b"%d" % i: b"f" * 100 for i in range(10)})
        ns = store.namespace("bulk", ttl=3600)
        value = os.urandom(1000)
        for i in range(3000):  # ~3 MB through a 256 KiB bound
            ns.put(b"%06d" % i, value, ttl=3600 + i)
            assert store.stats()["tree_bytes"] <= bound + ttlkv.MIN_MAX_BYTES
        stats = store.stats()
        assert stats["evicted"] > 0
        assert 0 < ns.count() < 3000
        assert ns.get(b"%06d" % 2999) == value  # the latest write is never its own victim
        assert b"000000" not in ns  # the soonest deadlines went first
        assert forever.count() == 10  # never-expiring entries last
        assert store.verify() == []


def test_size_bound_with_eviction_none_refuses_the_write(store_dir: Path) -> None:
    with ttlkv.Store(store_dir, durability="periodic") as store:
        store.set_max_bytes(ttlkv.MIN_MAX_BYTES, "none")
        ns = store.namespace("full", ttl=3600)
        value = os.urandom(1000)
        written = 0
        with pytest.raises(ttlkv.FullError) as info:
            for i in range(10_000):
                ns.put(b"%06d" % i, value)
                written += 1
        assert isinstance(info.value, ttlkv.StorageError)
        failed = b"%06d" % written
        assert failed not in ns and ns.count() == written > 0
        with pytest.raises(ttlkv.FullError):
            ns.add(b"another", value)
        assert b"another" not in ns
        assert store.stats()["evicted"] == 0
        assert ns.delete(b"000000")  # deletes work at the bound
        assert store.max_bytes() == (ttlkv.MIN_MAX_BYTES, "none")


@pytest.mark.parametrize("bound", [0, -1, 1 << 64])
def test_size_bound_out_of_range(store: ttlkv.Store, bound: int) -> None:
    store.set_max_bytes(1 << 20)
    with pytest.raises(ttlkv.InvalidArgumentError):
        store.set_max_bytes(bound)
    assert store.max_bytes() == (1 << 20, "soonest_deadline")


def test_size_bound_bad_input_changes_nothing(store: ttlkv.Store) -> None:
    store.set_max_bytes(1 << 20, "none")
    with pytest.raises(ttlkv.InvalidArgumentError):
        store.set_max_bytes(1000)  # below 64 KiB: the library's check
    with pytest.raises(ttlkv.InvalidArgumentError, match="soonest_deadline"):
        store.set_max_bytes(1 << 21, "lru")
    with pytest.raises(ttlkv.InvalidArgumentError):
        store.set_max_bytes(1 << 21, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.set_max_bytes("1M")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.set_max_bytes(True)  # type: ignore[arg-type]
    assert store.max_bytes() == (1 << 20, "none")


def test_size_bound_is_kept_in_the_store(store_dir: Path) -> None:
    with ttlkv.Store(store_dir) as store:
        store.set_max_bytes(1 << 20, "none")
    with ttlkv.Store(store_dir) as store:
        assert store.max_bytes() == (1 << 20, "none")


# --- backup ---------------------------------------------------------------------------------


def test_backup_opens_with_every_entry_deadline_and_the_bound(store: ttlkv.Store, tmp_path: Path) -> None:
    ns = store.namespace("b", ttl=600)
    ns.put_many({b"%d" % i: os.urandom(200) for i in range(2000)})
    ns.put(b"forever", b"f", ttl=None)
    ns.incr(b"counter", 7)
    store.set_max_bytes(1 << 24, "none")
    for i in range(0, 2000, 2):
        ns.delete(b"%d" % i)  # free pages for the compacted copy to leave out
    entries = ns.entries()
    deadlines = {k: ns.deadline(k) for k, _ in entries}
    full, compact = tmp_path / "full", tmp_path / "compact"
    store.backup(full)
    store.backup(str(compact), compact=True)
    # Before any open (which sizes the file to its map): the copy is as large as the data.
    assert (compact / "data.mdb").stat().st_size < (full / "data.mdb").stat().st_size
    for copy in (full, compact):
        with ttlkv.Store(copy) as opened:
            assert opened.entries("b") == entries
            assert {k: opened.deadline("b", k) for k, _ in entries} == deadlines
            assert opened.max_bytes() == (1 << 24, "none")
            assert opened.verify() == []
            assert opened.incr("b", b"counter") == 8
    assert ns[b"counter"] == b"7"  # the original is its own store


def test_backup_refuses_a_directory_that_is_not_empty(store: ttlkv.Store, tmp_path: Path) -> None:
    dest = tmp_path / "used"
    dest.mkdir()
    (dest / "something").write_text("x")
    with pytest.raises(ttlkv.PathInvalidError):
        store.backup(dest)
    assert [p.name for p in dest.iterdir()] == ["something"]
    with pytest.raises(ttlkv.PathInvalidError):
        store.backup(tmp_path / "a\0b")
    with pytest.raises(ttlkv.PathInvalidError):
        store.backup("")
    with pytest.raises(TypeError):
        store.backup(tmp_path / "x", compact=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.backup(None)  # type: ignore[arg-type]
    assert not (tmp_path / "x").exists()


# --- Store-level bad input and the namespace checks -----------------------------------------


@pytest.mark.parametrize("name", ["", "n" * 256])
def test_store_level_operations_check_the_namespace(store: ttlkv.Store, name: str) -> None:
    calls = [
        lambda: store.touch(name, b"k", 5),
        lambda: store.add(name, b"k", b"v", 5),
        lambda: store.incr(name, b"k", create_ttl=5),
        lambda: store.take(name, b"k"),
        lambda: store.get_versioned(name, b"k"),
        lambda: store.put_if_version(name, b"k", b"v", None, 5),
        lambda: store.get_many(name, [b"k"]),
        lambda: store.delete_many(name, [b"k"]),
        lambda: store.clear(name),
        lambda: store.count(name),
        lambda: store.scan(name),
        lambda: list(store.iter_prefix(name)),
    ]
    for call in calls:
        with pytest.raises(ttlkv.NamespaceInvalidError):
            call()
    assert store.namespaces() == []


def test_bad_ttls_of_the_cache_operations_write_nothing(ns: ttlkv.Namespace, store: ttlkv.Store) -> None:
    ns.put(b"k", b"v", ttl=30)
    deadline = ns.deadline(b"k")
    for ttl in (0, -1, math.nan):
        with pytest.raises(ttlkv.TTLInvalidError):
            ns.touch(b"k", ttl)
        with pytest.raises(ttlkv.TTLInvalidError):
            ns.add(b"new", b"v", ttl)
        with pytest.raises(ttlkv.TTLInvalidError):
            ns.put_if_version(b"new", b"v", None, ttl)
        with pytest.raises(ttlkv.TTLInvalidError):
            store.add("test", b"new", b"v", ttl)
    with pytest.raises(TypeError):
        ns.touch(b"k", "60")  # type: ignore[arg-type]
    assert ns.deadline(b"k") == deadline and b"new" not in ns


def test_bad_keys_and_values_of_the_cache_operations(ns: ttlkv.Namespace) -> None:
    for call in (
        lambda: ns.touch(1),  # type: ignore[arg-type]
        lambda: ns.add(1, b"v"),  # type: ignore[arg-type]
        lambda: ns.add(b"k", "text"),
        lambda: ns.incr(None),  # type: ignore[arg-type]
        lambda: ns.take(1.5),  # type: ignore[arg-type]
        lambda: ns.get_versioned(["k"]),  # type: ignore[arg-type]
        lambda: ns.put_if_version(b"k", 5, None),
    ):
        with pytest.raises(TypeError):
            call()
    for call in (
        lambda: ns.touch(b"x" * 5000),
        lambda: ns.add(b"x" * 5000, b"v"),
        lambda: ns.incr(b"x" * 5000),
        lambda: ns.take(b"x" * 5000),
        lambda: ns.get_versioned(b"x" * 5000),
        lambda: ns.put_if_version(b"x" * 5000, b"v", None),
    ):
        with pytest.raises(ttlkv.KeyTooLongError):
            call()
    with pytest.raises(ttlkv.ValueTooLargeError):
        ns.add(b"k", bytes((1 << 30) + 1))
    assert ns.keys() == []
