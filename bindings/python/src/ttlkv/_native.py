"""The calls into the library: the pool of scratch buffers, and one helper per operation.

Every helper takes a store handle (``_ffi.StorePtr``), never a :class:`~ttlkv.Store`, and turns
a failing status into its exception on the calling thread, right after the call (the
library's detail text is per thread). Hot paths are written for the ctypes call overhead:
functions are bound once, ``bytes`` arguments are passed without a copy, and reads go through
``ttlkv_get_into`` with a reusable native buffer taken from a pool, so that threads and
re-entrant calls (a signal handler, a ``__del__``) never share one.
"""

from __future__ import annotations

import collections
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import _ffi
from ._convert import TTL, TTL_NEVER_MS, ttl_to_ms
from ._errors import make_error

__all__ = [
    "MISSING",
    "Scratch",
    "close",
    "close_handle",
    "deadline_of",
    "delete",
    "flush",
    "free",
    "list_entries",
    "list_keys",
    "max_key_len",
    "open_store",
    "pool",
    "purge_expired",
    "read",
    "read_large",
    "set_option",
    "size",
    "stats",
    "ttl_c",
    "verify",
    "write_many",
]

_lib = _ffi.lib
_put_many = _lib.ttlkv_put_many
_get = _lib.ttlkv_get
_get_into = _lib.ttlkv_get_into
_buf_free = _lib.ttlkv_buf_free
_keys = _lib.ttlkv_keys
_entries = _lib.ttlkv_entries
_key_list_value = _lib.ttlkv_key_list_value
_key_list_len = _lib.ttlkv_key_list_len
_key_list_get = _lib.ttlkv_key_list_get
_key_list_free = _lib.ttlkv_key_list_free

_OK = _ffi.OK
_NOT_FOUND = _ffi.NOT_FOUND
_BUFFER_TOO_SMALL = _ffi.BUFFER_TOO_SMALL
_byref = _ffi.byref
_string_at = _ffi.string_at
_size_t = _ffi.size_t
_uint64_t = _ffi.uint64_t

# The fast paths: undeclared handles that take every argument already in its C type (see
# _ffi.FAST_FUNCTIONS). Lengths come from SIZES or size(), TTLs from ttl_c().
_fget_into = _ffi.fast.ttlkv_get_into
_fdelete = _ffi.fast.ttlkv_delete
_fdeadline = _ffi.fast.ttlkv_deadline
_SIZES = _ffi.SIZES
_NEVER_C = _uint64_t(TTL_NEVER_MS)

#: What :func:`read` returns for an absent key (``None`` could be a caller's default).
MISSING: Any = object()


def size(n: int) -> Any:
    """The ``size_t`` of a length, shared for the small ones."""
    return _SIZES[n] if n <= 1024 else _size_t(n)


def ttl_c(ttl: TTL) -> Any:
    """A TTL as the ``uint64_t`` milliseconds ``ttlkv_put`` takes."""
    ms = ttl_to_ms(ttl)
    return _NEVER_C if ms == TTL_NEVER_MS else _uint64_t(ms)


# --- scratch space ------------------------------------------------------------------------

_INITIAL_BUFFER = 4096
#: Values up to this size are read into a pooled buffer (grown as needed); larger ones are
#: copied out of a ``ttlkv_buf`` allocated by the library, so no buffer stays that large.
_MAX_POOLED_BUFFER = 1 << 20


class _Slices(dict):  # type: ignore[type-arg]
    """``slices[n]`` is ``view[:n]``, made once: slicing a memoryview costs more than the
    ``tobytes()`` that follows, and values of one namespace tend to have few distinct sizes."""

    __slots__ = ("view",)

    def __init__(self, view: memoryview) -> None:
        super().__init__()
        self.view = view

    def __missing__(self, n: int) -> memoryview:
        piece = self.view[:n]
        if len(self) < 512:
            self[n] = piece
        return piece


class Scratch:
    """Out-parameters and a read buffer for one native call at a time."""

    __slots__ = (
        "cap",
        "cap_c",
        "buf",
        "view",
        "slices",
        "cbuf",
        "len",
        "len_p",
        "u64",
        "u64_p",
        "addr",
        "addr_p",
    )

    def __init__(self, cap: int = _INITIAL_BUFFER) -> None:
        self.cap = cap
        self.cap_c = _size_t(cap)
        self.buf = bytearray(cap)
        self.view = memoryview(self.buf)
        self.slices = _Slices(self.view)
        self.cbuf = _ffi.char_buffer(self.buf)
        self.len = _size_t()
        self.len_p = _ffi.pointer(self.len)
        self.u64 = _uint64_t()
        self.u64_p = _ffi.pointer(self.u64)
        self.addr = _ffi.address()
        self.addr_p = _ffi.pointer(self.addr)


# deque.pop and deque.append are atomic under the GIL: a call takes a scratch for itself
# alone. (A list would realloc its storage on every pop from and push onto a pool of one.)
pool: "collections.deque[Scratch]" = collections.deque()


def _take() -> Scratch:
    try:
        return pool.pop()
    except IndexError:
        return Scratch()


# --- reads ----------------------------------------------------------------------------------


def read_large(h: Any, ns: bytes, k: bytes, s: Scratch, ctx: str) -> Optional[bytes]:
    """The slow path of a read whose value did not fit the scratch buffer ``s`` (which the
    caller already gave back): the value, or ``None`` when it is gone."""
    needed = s.len.value
    if needed <= _MAX_POOLED_BUFFER:
        cap = max(needed, _INITIAL_BUFFER)
        s = Scratch(1 << (cap - 1).bit_length())
        rc = _get_into(h, ns, len(ns), k, len(k), s.cbuf, s.cap, s.len_p)
        if rc == _OK:
            data: bytes = s.slices[s.len.value].tobytes()
            pool.append(s)
            return data
        pool.append(s)
        if rc == _NOT_FOUND:
            return None
        if rc != _BUFFER_TOO_SMALL:  # the value grew meanwhile: fall through to ttlkv_get
            raise make_error(rc, ctx)
    out = _ffi.Buf()
    rc = _get(h, ns, len(ns), k, len(k), _byref(out))
    if rc == _NOT_FOUND:
        return None
    if rc != _OK:
        raise make_error(rc, ctx)
    try:
        return _string_at(out.data, out.len) if out.len else b""
    finally:
        _buf_free(_byref(out))


def read(h: Any, ns: bytes, k: bytes, ctx: str) -> Any:
    """The value of ``k`` as ``bytes``, or :data:`MISSING`."""
    try:
        s = pool.pop()
    except IndexError:
        s = Scratch()
    rc = _fget_into(h, ns, size(len(ns)), k, size(len(k)), s.cbuf, s.cap_c, s.len_p)
    if rc == _OK:
        data = s.slices[s.len.value].tobytes()
        pool.append(s)
        return data
    pool.append(s)
    if rc == _NOT_FOUND:
        return MISSING
    if rc == _BUFFER_TOO_SMALL:
        data = read_large(h, ns, k, s, ctx)
        return MISSING if data is None else data
    raise make_error(rc, ctx)


def deadline_of(h: Any, ns: bytes, k: bytes, ctx: str) -> Optional[int]:
    """The deadline of ``k`` in milliseconds, or ``None`` when it is absent."""
    s = _take()
    rc = _fdeadline(h, ns, size(len(ns)), k, size(len(k)), s.u64_p)
    ms = s.u64.value
    pool.append(s)
    if rc == _OK:
        return ms
    if rc == _NOT_FOUND:
        return None
    raise make_error(rc, ctx)


def list_keys(h: Any, ns: bytes, ctx: str) -> List[bytes]:
    handle = _ffi.KeyListPtr()
    rc = _keys(h, ns, len(ns), _byref(handle))
    if rc != _OK:
        raise make_error(rc, ctx)
    try:
        s = _take()
        count = _key_list_len(handle)
        keys: List[bytes] = []
        append = keys.append
        addr, length, addr_p, len_p = s.addr, s.len, s.addr_p, s.len_p
        for i in range(count):
            rc = _key_list_get(handle, i, addr_p, len_p)
            if rc != _OK:
                raise make_error(rc, ctx)
            n = length.value
            append(_string_at(addr.value or 0, n) if n else b"")
        pool.append(s)
        return keys
    finally:
        _key_list_free(handle)


def list_entries(h: Any, ns: bytes, ctx: str) -> List[Tuple[bytes, bytes]]:
    handle = _ffi.KeyListPtr()
    rc = _entries(h, ns, len(ns), _byref(handle))
    if rc != _OK:
        raise make_error(rc, ctx)
    try:
        s = _take()
        entries: List[Tuple[bytes, bytes]] = []
        addr, length, addr_p, len_p = s.addr, s.len, s.addr_p, s.len_p
        for i in range(_key_list_len(handle)):
            rc = _key_list_get(handle, i, addr_p, len_p)
            if rc != _OK:
                raise make_error(rc, ctx)
            n = length.value
            key = _string_at(addr.value or 0, n) if n else b""
            rc = _key_list_value(handle, i, addr_p, len_p)
            if rc != _OK:
                raise make_error(rc, ctx)
            n = length.value
            entries.append((key, _string_at(addr.value or 0, n) if n else b""))
        pool.append(s)
        return entries
    finally:
        _key_list_free(handle)


def max_key_len(h: Any, ns: bytes, ctx: str) -> int:
    s = _take()
    rc = _lib.ttlkv_max_key_len(h, ns, len(ns), s.len_p)
    n = s.len.value
    pool.append(s)
    if rc != _OK:
        raise make_error(rc, ctx)
    return n


# --- writes ---------------------------------------------------------------------------------


def delete(h: Any, ns: bytes, k: bytes, ctx: str) -> bool:
    """Removes ``k``; ``True`` if a live entry was removed."""
    rc = _fdelete(h, ns, size(len(ns)), k, size(len(k)))
    if rc == _OK:
        return True
    if rc == _NOT_FOUND:
        return False
    raise make_error(rc, ctx)


def write_many(h: Any, batch: Sequence[Tuple[bytes, bytes, bytes, int]], ctx: str) -> None:
    """Writes ``(ns, key, value, ttl_ms)`` records in one transaction."""
    array = _ffi.records(len(batch))
    for i, (ns, k, v, ms) in enumerate(batch):
        r = array[i]
        r.ns, r.ns_len, r.key, r.key_len = ns, len(ns), k, len(k)
        r.value, r.value_len, r.ttl_ms = v, len(v), ms
    # `batch` keeps every bytes object alive for the call (the array does too).
    rc = _put_many(h, array, len(batch))
    if rc != _OK:
        raise make_error(rc, ctx)


# --- maintenance ----------------------------------------------------------------------------


def flush(h: Any) -> None:
    rc = _lib.ttlkv_flush(h)
    if rc != _OK:
        raise make_error(rc, "flush")


def purge_expired(h: Any) -> int:
    s = _take()
    rc = _lib.ttlkv_purge_expired(h, s.u64_p)
    n = s.u64.value
    pool.append(s)
    if rc != _OK:
        raise make_error(rc, "purge_expired")
    return n


def stats(h: Any) -> Dict[str, int]:
    """Every counter the library has (``_ffi.STATS``, from ``ttlkv_stat_name``), by name."""
    s = _take()
    try:
        counters = {}
        for name, which in _ffi.STATS:
            rc = _lib.ttlkv_stat(h, which, s.u64_p)
            if rc != _OK:
                raise make_error(rc, f"stat {name}")
            counters[name] = s.u64.value
        return counters
    finally:
        pool.append(s)


def verify(h: Any) -> List[str]:
    s = _take()
    rc = _lib.ttlkv_verify(h, s.u64_p)
    problems = s.u64.value
    pool.append(s)
    if rc != _OK:
        raise make_error(rc, "verify")
    if not problems:
        return []
    lines = [line for line in _ffi.decode(_lib.ttlkv_last_error()).splitlines() if line]
    return lines or [f"{problems} problem(s)"]


# --- handles --------------------------------------------------------------------------------


def set_option(options: Any, name: str, value: int) -> None:
    """``ttlkv_options_set_<name>(options, value)``."""
    rc = getattr(_lib, f"ttlkv_options_set_{name}")(options, value)
    if rc != _OK:
        raise make_error(rc, f"option {name}={value!r}")


def open_store(path: bytes, options: Sequence[Tuple[str, int]], ctx: str) -> Any:
    """Opens a store with ``options`` (``(name, value)`` of the ``ttlkv_options_set_*``
    functions) and returns its new handle."""
    builder = _lib.ttlkv_options_new()
    if not builder:
        raise MemoryError("ttlkv_options_new returned NULL")
    try:
        for name, value in options:
            set_option(builder, name, value)
        handle = _ffi.StorePtr()
        rc = _lib.ttlkv_open(path, builder, _byref(handle))
        if rc != _OK:
            raise make_error(rc, ctx)
        return handle
    finally:
        _lib.ttlkv_options_free(builder)


def close(h: Any, ctx: str) -> None:
    rc = _lib.ttlkv_close(h)
    if rc != _OK:
        raise make_error(rc, ctx)


#: The raw calls, for the finalizer and interpreter exit: ``ttlkv_free`` never blocks for long
#: and returns nothing; ``ttlkv_close`` returns its status, which nobody is left to see.
free = _lib.ttlkv_free
close_handle = _lib.ttlkv_close
