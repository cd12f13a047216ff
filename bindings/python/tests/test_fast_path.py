"""The undeclared fast-path handles (see ttlkv._ffi.FAST_FUNCTIONS): every argument the package
passes them has the C type of the generated prototype, and they agree with the declared
functions whatever the argument sizes."""

from __future__ import annotations

import ctypes
from typing import Any, Dict, List

import pytest

import ttlkv
from ttlkv import _abi, _ffi, _native
from conftest import replace_everywhere


def test_fast_handles_are_the_declared_functions_without_argtypes() -> None:
    for name in _ffi.FAST_FUNCTIONS:
        restype, _ = _abi.FUNCTIONS[name]
        assert restype is ctypes.c_uint32, f"{name} returns a ttlkv_status"
        function = getattr(_ffi.fast, name)
        assert function.restype is restype and function.argtypes is None
        assert ctypes.cast(function, ctypes.c_void_p).value == ctypes.cast(
            getattr(_ffi.lib, name), ctypes.c_void_p
        ).value


def _mismatch(value: Any, argtype: Any) -> bool:
    """Whether ctypes, given no argtypes, would pass ``value`` as something else than
    ``argtype``."""
    if argtype is ctypes.c_char_p:
        return not (value is None or type(value) is bytes)
    if isinstance(argtype, type) and issubclass(argtype, ctypes._Pointer):
        target = argtype._type_  # type: ignore[attr-defined]
        if isinstance(value, ctypes.Array):
            return value._type_ is not target
        return type(value) is not argtype
    return type(value) is not argtype


def _every_put(store: ttlkv.Store, key: Any, value: Any) -> List[Any]:
    ns = store.namespace("spy", ttl=60)
    forever = store.namespace("spy-forever", ttl=None)
    return [
        lambda: ns.put(key, value),
        lambda: ns.put(key, value, ttl=1.5),
        lambda: forever.put(key, value),
        lambda: store.put("spy", key, value, 30),
        lambda: store.put("spy", key, value, None),
    ]


def test_every_fast_call_passes_the_prototypes_types(
    monkeypatch: pytest.MonkeyPatch, store: ttlkv.Store
) -> None:
    """Spies on every fast handle wherever the package bound it, drives every path that uses
    one (small and large keys and values, both TTL forms, hits, misses), and checks each
    argument against ``_abi.FUNCTIONS``: a wrong one would go out as a C int."""
    calls: Dict[str, int] = {}
    wrong: List[str] = []
    for name in _ffi.FAST_FUNCTIONS:
        real = getattr(_ffi.fast, name)
        argtypes = _abi.FUNCTIONS[name][1]

        def spy(*args: Any, _name: str = name, _real: Any = real, _types: Any = argtypes) -> Any:
            calls[_name] = calls.get(_name, 0) + 1
            if len(args) != len(_types):
                wrong.append(f"{_name}: {len(args)} arguments for {len(_types)}")
            for i, (value, argtype) in enumerate(zip(args, _types)):
                if _mismatch(value, argtype):
                    wrong.append(f"{_name} argument {i}: {type(value).__name__} for {argtype.__name__}")
            return _real(*args)

        replace_everywhere(monkeypatch, real, spy)

    ns = store.namespace("spy", ttl=60)
    for key in (b"", b"k", "str-key", b"k" * 1100):  # 1100 > the table of ready sizes
        for value in (b"", b"v", bytearray(b"v" * 5000), memoryview(b"v" * 200_000)):
            for put in _every_put(store, key, value):
                try:
                    put()
                except ttlkv.KeyTooLongError:
                    assert len(key) > 400
                    continue
                assert ns.get(key) == bytes(value) and store.get("spy", key) == bytes(value)
                assert ns.deadline(key) is not None and key in ns
            if len(key) < 400:
                ns[key] = value
                assert ns[key] == bytes(value)
                assert ns.delete(key) and not store.delete("spy", key)
                assert ns.get(key) is None and store.deadline("spy", key) is None
    assert wrong == []
    assert set(calls) == set(_ffi.FAST_FUNCTIONS), calls


@pytest.mark.parametrize("key_len", [0, 1, 32, 511, 1024, 1025, 3000])
@pytest.mark.parametrize("value_len", [0, 256, 1024, 1025, 4096, 4097, 100_000])
def test_fast_and_declared_paths_agree(store: ttlkv.Store, key_len: int, value_len: int) -> None:
    h = store._h
    key = bytes(i % 256 for i in range(key_len))
    value = bytes((i * 7) % 256 for i in range(value_len))
    ns = b"fast"
    declared = _ffi.lib.ttlkv_put(h, ns, len(ns), key, len(key), value, len(value), 60_000)
    fast = _ffi.fast.ttlkv_put(
        h, ns, _native.size(len(ns)), key, _native.size(len(key)), value,
        _native.size(len(value)), ctypes.c_uint64(60_000),
    )
    assert fast == declared
    if declared != _ffi.OK:  # a key too long: both refuse it, and reads agree too
        assert declared == _abi.STATUS["TTLKV_KEY_TOO_LONG"]
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
    assert all(type(size) is _ffi.size_t and size.value == n for n, size in enumerate(_ffi.SIZES))
    assert _native.size(5000).value == 5000


def test_ttl_objects() -> None:
    assert type(_native.ttl_c(1.5)) is _abi.FUNCTIONS["ttlkv_put"][1][7]
    assert _native.ttl_c(None).value == 2**64 - 1
    assert _native.ttl_c(1.5).value == 1500
