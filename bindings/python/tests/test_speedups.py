"""The compiled get and put (ttlkv._speedups) give exactly what the ctypes path gives: every value
size (the 4 KiB stack buffer and past it), a missing and an expired key, every error with its
status and detail. With TTLKV_PYTHON_BINDING=ctypes (make test-python runs that too) both sides
are ctypes, and test_packaging.py says which binding the installed wheel runs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import ttlkv
from ttlkv import _ffi


@pytest.fixture
def store(tmp_path: Path) -> ttlkv.Store:
    return ttlkv.Store(str(tmp_path / "s"), durability="periodic")


@pytest.mark.parametrize("size", [0, 1, 255, 4095, 4096, 4097, 65536, 3 << 20])
def test_get_and_put_of_every_size_agree_with_the_ctypes_path(store: ttlkv.Store, size: int) -> None:
    ns = store.namespace("n", ttl=60)
    value = bytes((i * 7) & 0xFF for i in range(size))
    ns.put(b"k", value)  # compiled when built
    assert ns.get(b"k") == value  # compiled when built
    assert store.get("n", b"k") == value  # ctypes, declared
    store.put("n", b"k2", value, 60)  # ctypes
    assert ns.get(b"k2") == value and ns.get("k2") == value


def test_missing_and_expired_keys_give_the_default(store: ttlkv.Store) -> None:
    ns = store.namespace("n", ttl=0.001)
    assert ns.get(b"absent") is None and ns.get(b"absent", 5) == 5
    ns.put(b"short", b"v")
    time.sleep(0.01)
    assert ns.get(b"short", "gone") == "gone"


def test_errors_carry_their_status_and_detail(store: ttlkv.Store) -> None:
    ns = store.namespace("n", ttl=60)
    long_key = b"k" * (store.max_key_len("n") + 1)
    with pytest.raises(ttlkv.KeyTooLongError, match="TTLKV_KEY_TOO_LONG") as got:
        ns.get(long_key)
    assert "get in namespace 'n'" in str(got.value)
    with pytest.raises(ttlkv.KeyTooLongError, match="put in namespace 'n'"):
        ns.put(long_key, b"v")
    store.close()
    with pytest.raises(ttlkv.ClosedError):
        ns.get(b"k")
    with pytest.raises(ttlkv.ClosedError):
        ns.put(b"k", b"v")


def test_the_compiled_module_refuses_wrong_arguments() -> None:
    sp = _ffi.speedups
    if sp is None:
        pytest.skip("the ctypes path runs here (TTLKV_PYTHON_BINDING=ctypes or no compiled module): nothing to call")
    with pytest.raises(TypeError):
        sp.get(1, "ns", b"k")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        sp.get(1, b"ns")  # type: ignore[call-arg]
    with pytest.raises(OverflowError):
        sp.put(1, b"ns", b"k", b"v", -1)
