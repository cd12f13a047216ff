"""The undeclared fast-path handles (see ttlkv._ffi.FAST_FUNCTIONS and HELD_FUNCTIONS): every
argument the package passes them has the C type of the generated prototype, and they agree with
the declared functions whatever the argument sizes."""

from __future__ import annotations

import ctypes
from typing import Any, Dict, List

import pytest

import ttlkv
from ttlkv import _abi, _ffi, _native
from conftest import replace_everywhere


def _handles() -> List[Any]:
    """``(name, handle)`` of every undeclared handle: the GIL-releasing and the GIL-holding ones."""
    return [(name, getattr(_ffi.fast, name)) for name in _ffi.FAST_FUNCTIONS] + [
        (name, getattr(_ffi.held, name)) for name in _ffi.HELD_FUNCTIONS
    ]


def test_fast_handles_are_the_declared_functions_without_argtypes() -> None:
    assert not set(_ffi.FAST_FUNCTIONS) & set(_ffi.HELD_FUNCTIONS)
    for name, function in _handles():
        restype, _ = _abi.FUNCTIONS[name]
        if name == "ttlkv_buf_free":
            assert restype is None, "ttlkv_buf_free returns nothing"
        else:
            assert restype is ctypes.c_uint32, f"{name} returns a ttlkv_status"
        assert function.restype is restype and function.argtypes is None
        assert ctypes.cast(function, ctypes.c_void_p).value == ctypes.cast(
            getattr(_ffi.lib, name), ctypes.c_void_p
        ).value


def test_list_readers_keep_the_gil_and_the_store_calls_release_it() -> None:
    """A PyDLL function keeps the GIL (FUNCFLAG_PYTHONAPI); a CDLL one releases it."""
    pythonapi = ctypes._FUNCFLAG_PYTHONAPI  # type: ignore[attr-defined]
    for name in _ffi.HELD_FUNCTIONS:
        assert getattr(_ffi.held, name)._flags_ & pythonapi, name
    for name in _ffi.FAST_FUNCTIONS:
        assert not getattr(_ffi.fast, name)._flags_ & pythonapi, name
    assert _ffi.bytes_at._flags_ & pythonapi and _ffi.bytes_at.argtypes is None


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


def _every_cache_operation(store: ttlkv.Store, key: Any, value: Any) -> List[Any]:
    """The paths of the fast cache operations and of the list readers, for one key and value."""
    ns = store.namespace("spy", ttl=60)
    counters = store.namespace("spy-counters", ttl=None)
    absent = b"absent-" + (key if isinstance(key, bytes) else key.encode())
    return [
        lambda: ns.add(key, value),
        lambda: ns.add(key, value, ttl=2.5),
        lambda: store.add("spy", key, value, 30),
        lambda: ns.touch(key),
        lambda: ns.touch(key, ttl=None),
        lambda: store.touch("spy", key, 1.5),
        lambda: counters.incr(key),
        lambda: counters.incr(key, 1 << 40, create_ttl=9.5),
        lambda: counters.decr(key, 3),
        lambda: store.incr("spy-counters", key, -(1 << 40)),
        lambda: store.incr("spy-counters", absent, create_ttl=None),
        lambda: store.delete("spy-counters", absent),
        lambda: counters.incr(absent, create=False),
        lambda: ns.get_many([key, b"missing", key]),
        lambda: store.scan("spy", key[:1], None, 3),
        lambda: list(ns.iter_prefix(b"", page_size=1)),
        lambda: ns.keys() + store.keys("spy-counters") + store.namespaces(),
        lambda: ns.entries(),
        lambda: ns.get_versioned(key),
        lambda: ns.take(key),
        lambda: ns.take(key),
        lambda: store.take("spy-counters", key),
        lambda: ns.pop(key, None),
    ]


def test_every_fast_call_passes_the_prototypes_types(
    monkeypatch: pytest.MonkeyPatch, store: ttlkv.Store
) -> None:
    """Spies on every fast handle wherever the package bound it, drives every path that uses
    one (small and large keys and values, both TTL forms, hits, misses), and checks each
    argument against ``_abi.FUNCTIONS``: a wrong one would go out as a C int."""
    calls: Dict[str, int] = {}
    wrong: List[str] = []
    for name, real in _handles():
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
            for operation in _every_cache_operation(store, key, value):
                try:
                    operation()
                except (ttlkv.KeyTooLongError, KeyError):
                    continue
    assert wrong == []
    assert set(calls) == set(_ffi.FAST_FUNCTIONS) | set(_ffi.HELD_FUNCTIONS), calls


def test_bytes_at_gets_the_out_parameters_themselves(
    monkeypatch: pytest.MonkeyPatch, store: ttlkv.Store
) -> None:
    """``bytes_at`` (PyBytes_FromStringAndSize without argtypes) is given a ``c_void_p`` and a
    ``c_size_t`` object, never an int, on every list path."""
    real = _ffi.bytes_at
    seen: List[Any] = []

    def spy(*args: Any) -> Any:
        seen.append(tuple(type(a) for a in args))
        return real(*args)

    replace_everywhere(monkeypatch, real, spy)
    ns = store.namespace("spy", ttl=60)
    ns.put_many({b"": b"", b"a": b"1", b"b" * 300: b"2" * 5000})
    assert ns.keys() == [b"", b"a", b"b" * 300]
    assert ns.entries() == [(b"", b""), (b"a", b"1"), (b"b" * 300, b"2" * 5000)]
    assert ns.scan(b"b") == [(b"b" * 300, b"2" * 5000)]
    assert ns.get_many([b"", b"x", b"a"]) == {b"": b"", b"a": b"1"}
    assert store.namespaces() == [b"spy"]
    assert ns.get_versioned(b"")[0] == b"" and ns.take(b"") == b""  # type: ignore[index]
    assert ns.take(b"b" * 300) == b"2" * 5000 and ns.take(b"a") == b"1"
    assert seen and set(seen) == {(ctypes.c_void_p, ctypes.c_size_t)}


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
