"""Durations in seconds become the C ABI's milliseconds rounded up: a positive TTL or
sync_interval never becomes 0, and an exact one stays exact (0.3 -> 300, not 301).

The conversions themselves are tested in test_api.py (``ttl_to_ms``); these tests check, by
spying on the native calls, that every path that sends a duration to the library uses them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterator, List, Tuple

import pytest

import ttlkv
from ttlkv import _ffi, _native
from conftest import replace_everywhere, wait_until

# (seconds, milliseconds the library must receive)
ROUNDED = [(5e-10, 1), (0.0015, 2), (0.3, 300), (0.001, 1), (1.5, 1500), (1.1, 1100), (2, 2000)]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[List[int]]:
    """Every ``ttl_ms`` the binding passes to ttlkv_put and ttlkv_put_many."""
    seen: List[int] = []
    real_put, real_put_many = _ffi.fast.ttlkv_put, _ffi.lib.ttlkv_put_many

    def put(*args: Any) -> Any:
        seen.append(args[7].value)  # a c_uint64 (the fast path passes exact C types)
        return real_put(*args)

    def put_many(handle: Any, array: Any, count: int) -> Any:
        seen.extend(array[i].ttl_ms for i in range(count))
        return real_put_many(handle, array, count)

    replace_everywhere(monkeypatch, real_put, put)
    replace_everywhere(monkeypatch, real_put_many, put_many)
    if _ffi.speedups is not None:  # the compiled put takes the milliseconds as an int
        real_sput = _ffi.speedups.put

        def sput(handle: Any, ns: bytes, key: bytes, value: bytes, ttl_ms: int) -> Any:
            seen.append(ttl_ms)
            return real_sput(handle, ns, key, value, ttl_ms)

        replace_everywhere(monkeypatch, real_sput, sput)
    yield seen


@pytest.mark.parametrize("seconds, ms", ROUNDED)
def test_every_put_path_sends_the_rounded_up_ttl(
    store: ttlkv.Store, sent: List[int], seconds: float, ms: int
) -> None:
    ns = store.namespace("explicit", ttl=3600)
    ns.put(b"a", b"v", ttl=seconds)
    store.put("explicit", b"b", b"v", seconds)
    ns.put_many({b"c": b"v", b"d": b"v"}, ttl=seconds)
    store.put_many([("explicit", b"e", b"v", seconds), ("other", b"f", b"v", seconds)])
    default = store.namespace("default", ttl=seconds)  # the namespace's default TTL
    default.put(b"g", b"v")
    default[b"h"] = b"v"
    default.put_many([(b"i", b"v")])
    assert sent == [ms] * 9


def test_sub_millisecond_ttls_are_accepted_and_expire(store: ttlkv.Store) -> None:
    """5e-10 s used to become 0 ms and raise "a TTL of 0 is not allowed"."""
    store.put("tiny", b"a", b"v", 5e-10)
    ns = store.namespace("tiny", ttl=5e-10)
    ns.put(b"b", b"v")
    ns[b"c"] = b"v"
    ns.put_many({b"d": b"v"})
    store.put_many([("tiny", b"e", b"v", 1e-9)])
    ns.put(b"f", b"v", ttl=0.0004)
    wait_until(lambda: ns.keys() == [], timeout=5)  # each lived for 1 ms
    assert ns.get(b"a") is None


@pytest.fixture
def options_set(monkeypatch: pytest.MonkeyPatch) -> Iterator[List[Tuple[str, int]]]:
    """Every ``ttlkv_options_set_<name>(value)`` a Store() makes."""
    seen: List[Tuple[str, int]] = []
    real = _native.set_option

    def record(options: Any, name: str, value: int) -> None:
        seen.append((name, value))
        real(options, name, value)

    replace_everywhere(monkeypatch, real, record)
    yield seen


@pytest.mark.parametrize(
    "seconds, ms",
    [*ROUNDED, (0.25, 250), (60, 60_000), (86400, 86_400_000), (86399.9995, 86_400_000)],
)
def test_sync_interval_is_rounded_up_never_to_zero(
    tmp_path: Path, options_set: List[Tuple[str, int]], seconds: float, ms: int
) -> None:
    with ttlkv.Store(tmp_path / "s", durability="periodic", sync_interval=seconds) as store:
        store.put("n", b"k", b"v", 60)  # the library accepted the interval
        assert store.get("n", b"k") == b"v"
    assert ("sync_interval_ms", ms) in options_set


@pytest.mark.parametrize("seconds", [0, 0.0, -1, -5e-10, math.nan, math.inf, -math.inf])
def test_sync_interval_zero_negative_or_not_finite_is_refused(
    tmp_path: Path, seconds: float
) -> None:
    with pytest.raises(ttlkv.InvalidArgumentError, match="sync_interval"):
        ttlkv.Store(tmp_path / "s", durability="periodic", sync_interval=seconds)
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("seconds", [86400.001, 86401, 1e30, float(2**64), 2**64 + 1])
def test_sync_interval_beyond_the_library_range_is_refused(
    tmp_path: Path, seconds: float
) -> None:
    """Refused by the library's range check: never wrapped into range by ctypes' uint64_t
    conversion (2**64 + 1 seconds must not become 1000 ms)."""
    with pytest.raises(ttlkv.InvalidArgumentError, match="sync_interval"):
        ttlkv.Store(tmp_path / "s", durability="periodic", sync_interval=seconds)
