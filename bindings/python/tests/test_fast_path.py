"""The undeclared fast-path handles (see ttlkv._ffi.FAST_FUNCTIONS) agree with the declared
functions, whatever the argument sizes."""

from __future__ import annotations

import ctypes

import pytest

import ttlkv
from ttlkv import _ffi, _store


@pytest.mark.parametrize("key_len", [0, 1, 32, 511, 1024, 1025, 3000])
@pytest.mark.parametrize("value_len", [0, 256, 1024, 1025, 4096, 4097, 100_000])
def test_fast_and_declared_paths_agree(store: ttlkv.Store, key_len: int, value_len: int) -> None:
    h = store._h
    key = bytes(i % 256 for i in range(key_len))
    value = bytes((i * 7) % 256 for i in range(value_len))
    ns = b"fast"
    declared = _ffi.lib.ttlkv_put(h, ns, len(ns), key, len(key), value, len(value), 60_000)
    fast = _ffi.fast.ttlkv_put(
        h, ns, _store._size(len(ns)), key, _store._size(len(key)), value,
        _store._size(len(value)), ctypes.c_uint64(60_000),
    )
    assert fast == declared
    if declared != _ffi.OK:  # a key too long: both refuse it, and reads agree too
        assert declared == _ffi.STATUS["TTLKV_KEY_TOO_LONG"]
        with pytest.raises(ttlkv.KeyTooLongError):
            store.get(ns, key)
        return
    assert store.get(ns, key) == value
    deadline = ctypes.c_uint64()
    assert _ffi.lib.ttlkv_deadline(h, ns, len(ns), key, len(key), ctypes.byref(deadline)) == 0
    assert store.deadline(ns, key) == deadline.value / 1000
    assert store.delete(ns, key) is True
    assert _ffi.lib.ttlkv_delete(h, ns, len(ns), key, len(key)) == _ffi.NOT_FOUND


def test_sizes_table_is_exact() -> None:
    assert all(size.value == n for n, size in enumerate(_ffi.SIZES))
    assert _store._size(5000).value == 5000


def test_ttl_objects() -> None:
    assert _store._ttl_c(None).value == 2**64 - 1
    assert _store._ttl_c(1.5).value == 1500
