"""The API a user sees: round trips, namespaces, the mapping protocol, batches, serializers."""

from __future__ import annotations

import datetime
import math
import time

import pytest

import ttlkv
from ttlkv import _ffi


def test_bytes_round_trip(ns: ttlkv.Namespace) -> None:
    ns.put(b"token", b"payload")
    assert ns.get(b"token") == b"payload"
    assert type(ns.get(b"token")) is bytes


def test_str_key_is_its_utf8_bytes(ns: ttlkv.Namespace) -> None:
    ns.put("clé", b"v")
    assert ns.get("clé") == b"v"
    assert ns.get("clé".encode()) == b"v"
    assert ns.keys() == ["clé".encode()]


def test_values_are_any_bytes_like(ns: ttlkv.Namespace) -> None:
    ns.put(b"a", bytearray(b"from bytearray"))
    ns.put(b"b", memoryview(b"xxfrom memoryviewxx")[2:-2])
    ns.put(b"c", memoryview(bytes(range(16))).cast("I"))
    assert ns.get(b"a") == b"from bytearray"
    assert ns.get(b"b") == b"from memoryview"
    assert ns.get(b"c") == bytes(range(16))


def test_missing_key_gives_default(ns: ttlkv.Namespace) -> None:
    assert ns.get(b"nope") is None
    assert ns.get(b"nope", b"fallback") == b"fallback"


def test_empty_key_and_empty_value(ns: ttlkv.Namespace) -> None:
    ns.put(b"", b"empty key")
    ns.put(b"empty value", b"")
    assert ns.get(b"") == b"empty key"
    assert ns.get(b"empty value") == b""
    assert sorted(ns.keys()) == [b"", b"empty value"]


def test_binary_keys_and_values_with_nul_bytes(ns: ttlkv.Namespace) -> None:
    key, value = b"\x00k\x00\xff", b"\x00" * 10 + b"\xff"
    ns.put(key, value)
    assert ns.get(key) == value
    assert ns.keys() == [key]


@pytest.mark.parametrize("size", [4095, 4096, 4097, 70_000, (1 << 20) + 1, 5 << 20])
def test_values_larger_than_the_read_buffer(ns: ttlkv.Namespace, size: int) -> None:
    value = bytes(i % 251 for i in range(size))
    ns.put(b"big", value)
    assert ns.get(b"big") == value
    ns.put(b"small", b"s")  # the grown or fallback path leaves small reads intact
    assert ns.get(b"small") == b"s"


def test_overwrite_replaces_value_and_deadline(ns: ttlkv.Namespace) -> None:
    ns.put(b"k", b"1", ttl=10)
    first = ns.deadline(b"k")
    ns.put(b"k", b"2", ttl=1000)
    assert ns.get(b"k") == b"2"
    assert ns.deadline(b"k") > first + 900


def test_namespaces_are_separate(store: ttlkv.Store) -> None:
    a = store.namespace("a", ttl=60)
    b = store.namespace(b"b", ttl=60)
    a.put(b"k", b"in a")
    b.put(b"k", b"in b")
    assert a.get(b"k") == b"in a"
    assert b.get(b"k") == b"in b"
    assert a.delete(b"k")
    assert b.get(b"k") == b"in b"
    assert a.keys() == [] and b.keys() == [b"k"]


def test_namespace_and_key_never_collide_across_the_boundary(store: ttlkv.Store) -> None:
    store.put("a:b", "c", b"first", ttl=60)
    store.put("a", "b:c", b"second", ttl=60)
    assert store.get("a:b", "c") == b"first"
    assert store.get("a", "b:c") == b"second"
    assert store.keys("a") == [b"b:c"]


def test_mapping_protocol(ns: ttlkv.Namespace) -> None:
    ns["token"] = b"payload"
    assert ns["token"] == b"payload"
    assert "token" in ns and b"token" in ns
    assert "other" not in ns
    del ns["token"]
    assert "token" not in ns
    with pytest.raises(KeyError):
        ns["token"]
    with pytest.raises(KeyError):
        del ns["token"]


def test_delete_reports_whether_a_live_entry_was_removed(ns: ttlkv.Namespace) -> None:
    ns.put(b"k", b"v")
    assert ns.delete(b"k") is True
    assert ns.delete(b"k") is False
    assert ns.delete(b"never there") is False


def test_keys_and_iteration(ns: ttlkv.Namespace) -> None:
    expected = sorted(f"key-{i:03}".encode() for i in range(100))
    for key in reversed(expected):
        ns.put(key, b"v")
    assert ns.keys() == expected  # key order
    assert list(ns) == expected
    assert all(type(k) is bytes for k in ns)


def test_put_many_from_mapping_and_pairs(ns: ttlkv.Namespace) -> None:
    ns.put_many({b"a": b"1", "b": bytearray(b"2")})
    ns.put_many([(b"c", b"3"), ("d", b"4")], ttl=None)
    assert [ns.get(k) for k in (b"a", b"b", b"c", b"d")] == [b"1", b"2", b"3", b"4"]
    assert ns.deadline(b"d") == math.inf
    ns.put_many({})


def test_put_many_is_all_or_nothing(ns: ttlkv.Namespace) -> None:
    with pytest.raises(ttlkv.KeyTooLongError):
        ns.put_many({b"ok": b"1", b"x" * 5000: b"2"})
    assert ns.get(b"ok") is None
    with pytest.raises(TypeError):
        ns.put_many({b"ok": b"1", b"bad": "not bytes"})
    assert ns.get(b"ok") is None


def test_store_level_operations(store: ttlkv.Store) -> None:
    store.put("ns", b"k", b"v", ttl=60)
    store.put(b"ns", "k2", bytearray(b"v2"), None)
    assert store.get("ns", b"k") == b"v"
    assert store.get(b"ns", "missing", b"d") == b"d"
    assert store.keys("ns") == [b"k", b"k2"]
    assert store.deadline("ns", "k2") == math.inf
    assert store.delete("ns", b"k") is True
    assert store.delete("ns", b"k") is False
    store.put_many([("x", b"1", b"a", 60), (b"y", "2", b"b", None)])
    assert store.get("x", b"1") == b"a" and store.get("y", b"2") == b"b"


def test_store_level_put_many_is_atomic_across_namespaces(store: ttlkv.Store) -> None:
    with pytest.raises(ttlkv.NamespaceInvalidError):
        store.put_many([("x", b"1", b"a", 60), (b"", b"2", b"b", 60)])
    assert store.get("x", b"1") is None


def test_deadline_is_unix_seconds(ns: ttlkv.Namespace) -> None:
    before = time.time()
    ns.put(b"k", b"v", ttl=100)
    after = time.time()
    deadline = ns.deadline(b"k")
    assert isinstance(deadline, float)
    assert before + 100 - 0.01 <= deadline <= after + 100 + 0.01
    ns.put(b"forever", b"v", ttl=ttlkv.TTL_NEVER)
    assert ns.deadline(b"forever") == math.inf
    assert ns.deadline(b"missing") is None


def test_ttl_never_is_none(store: ttlkv.Store) -> None:
    assert ttlkv.TTL_NEVER is None
    forever = store.namespace("forever", ttl=None)
    forever.put(b"k", b"v")
    assert forever.deadline(b"k") == math.inf
    forever.put(b"k2", b"v", ttl=math.inf)
    assert forever.deadline(b"k2") == math.inf


@pytest.mark.parametrize(
    "ttl, ms",
    [
        (1, 1000),
        (1800, 1_800_000),
        (0.0001, 1),  # rounds up: a positive TTL never becomes 0
        (5e-10, 1),
        (5e-324, 1),  # the smallest float above 0
        (0.0015, 2),
        (0.0010001, 2),
        (1000.0005, 1_000_001),  # rounds up at any magnitude
        (1.1, 1100),  # float noise (1100.0000000000002) is not rounded up
        (0.3, 300),  # 0.3 * 1000 == 300.00000000000006 in floats: still 300
        (0.1 + 0.2, 300),  # 0.30000000000000004: one ulp off, still 300
        (0.007, 7),
        (0.001, 1),  # the float 0.001 is a hair above 1/1000: still 1
        (1.5, 1500),
        (2.5, 2500),
        (60.0, 60_000),
        (86400, 86_400_000),
        (datetime.timedelta(minutes=30), 1_800_000),
        (datetime.timedelta(microseconds=1), 1),
        (datetime.timedelta(microseconds=1500), 2),
        (datetime.timedelta(milliseconds=300), 300),
        (datetime.timedelta(days=999_999_999), 999_999_999 * 86_400_000),  # exact, no float
        (None, 2**64 - 1),
        (math.inf, 2**64 - 1),
    ],
)
def test_ttl_seconds_to_milliseconds(ttl: object, ms: int) -> None:
    assert ttlkv.ttl_to_ms(ttl) == ms  # type: ignore[arg-type]


def test_namespace_attributes(store: ttlkv.Store) -> None:
    sessions = store.namespace("sessions", ttl=1800)
    assert sessions.name == "sessions" and sessions.ttl == 1800 and sessions.store is store
    assert "sessions" in repr(sessions)


def test_pickle_serializer_round_trips_objects(store: ttlkv.Store) -> None:
    objects = store.namespace("objects", ttl=60, serializer=ttlkv.PickleSerializer())
    value = {"user": 42, "roles": ["admin"], "at": datetime.datetime(2024, 1, 2)}
    objects["k"] = value
    objects.put(b"k2", (1, 2), ttl=5)
    objects.put_many({b"k3": {3}})
    assert objects["k"] == value
    assert objects.get(b"k2") == (1, 2)
    assert objects.get(b"k3") == {3}
    assert objects.get(b"missing", "d") == "d"
    assert objects.keys() == [b"k", b"k2", b"k3"]
    # The bytes underneath are pickles.
    assert store.get("objects", "k")[:1] == b"\x80"


def test_json_serializer_stores_utf8_json(store: ttlkv.Store) -> None:
    docs = store.namespace("docs", ttl=60, serializer=ttlkv.JSONSerializer())
    docs["k"] = {"name": "José", "n": [1, 2]}
    assert docs["k"] == {"name": "José", "n": [1, 2]}
    assert store.get("docs", "k") == '{"name":"José","n":[1,2]}'.encode()


def test_library_metadata() -> None:
    assert ttlkv.ABI_VERSION == 1
    assert "ttlkv" in ttlkv.library_version()
    assert ttlkv.library_path()


def test_context_manager_closes(store_dir) -> None:  # type: ignore[no-untyped-def]
    with ttlkv.Store(store_dir) as s:
        assert not s.closed
        s.put("n", b"k", b"v", ttl=60)
    assert s.closed
    with ttlkv.Store(store_dir) as s:
        assert s.get("n", b"k") == b"v"


def test_entries_and_values_come_from_one_snapshot(store: ttlkv.Store) -> None:
    ns = store.namespace("items", ttl=60)
    ns.put_many({b"b": b"2", b"a": b"1", b"": b"empty"})
    assert ns.entries() == [(b"", b"empty"), (b"a", b"1"), (b"b", b"2")]
    assert ns.values() == [b"empty", b"1", b"2"]
    assert store.entries("items") == ns.entries() == ns.items()
    objects = store.namespace("items-json", ttl=60, serializer=ttlkv.JSONSerializer())
    objects["x"] = [1]
    assert objects.entries() == objects.items() == [(b"x", [1])]


def test_items_is_the_mapping_spelling_of_entries() -> None:
    assert ttlkv.Namespace.items is ttlkv.Namespace.entries


def test_max_key_len_depends_on_the_namespace(store: ttlkv.Store) -> None:
    short = store.max_key_len("n")
    long = store.max_key_len("n" * 200)
    assert short > long > 0
    assert store.namespace("n", ttl=60).max_key_len() == short


def test_maintenance_calls(store: ttlkv.Store) -> None:
    ns = store.namespace("maint", ttl=60)
    ns.put(b"k", b"v")
    ns.put(b"gone", b"v", ttl=0.05)
    store.flush()
    time.sleep(0.1)
    removed = store.purge_expired()
    assert removed in (0, 1)  # 0 when the expiry thread was quicker
    assert ns.keys() == [b"k"]
    assert store.verify() == []
    stats = store.stats()
    assert list(stats) == [name for name, _ in _ffi.STATS]  # the library's, in its order
    assert {
        "expired_removed", "expiry_batches", "expiry_panics", "expiry_errors", "readers_reclaimed",
        "map_size", "used_bytes", "write_commits", "write_calls", "pooled_readers",
    } <= set(stats)
    assert stats["map_size"] >= stats["used_bytes"] > 0
    assert stats["expiry_panics"] == 0
    assert stats["write_calls"] >= stats["write_commits"] >= 1  # the puts above
    assert not hasattr(store, "sync")  # renamed flush() before 1.0, no alias


def test_constants_are_exported() -> None:
    assert ttlkv.MAX_NAMESPACE_LEN == 255
    assert ttlkv.MAX_VALUE_LEN == 1 << 30
    assert ttlkv.MAX_BATCH_RECORDS > 0 and ttlkv.MAX_BATCH_BYTES > 0
