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
from ._abi import FUNCTIONS, STATUS, ttlkv_replica_record
from ._convert import TTL, TTL_NEVER_MS, ReplicaRecord, context, ttl_to_ms
from ._errors import binding_error, make_error

__all__ = [
    "CREATE",
    "MISSING",
    "NO_FLAGS",
    "Scratch",
    "add",
    "backup",
    "clear",
    "close",
    "close_handle",
    "count",
    "deadline_of",
    "delete",
    "delete_many",
    "delta_c",
    "digest",
    "flush",
    "free",
    "get_many",
    "get_versioned",
    "incr",
    "list_entries",
    "list_keys",
    "max_bytes",
    "max_key_len",
    "merge",
    "namespaces",
    "open_store",
    "origin",
    "pool",
    "purge_expired",
    "put_if_version",
    "read",
    "read_large",
    "records",
    "replicated",
    "scan",
    "set_max_bytes",
    "set_option",
    "set_replicated",
    "size",
    "stats",
    "take",
    "touch",
    "ttl_c",
    "verify",
    "versions",
    "write_many",
]

_lib = _ffi.lib
_put_many = _lib.ttlkv_put_many
_get = _lib.ttlkv_get
_get_into = _lib.ttlkv_get_into
_buf_free = _lib.ttlkv_buf_free
_keys = _lib.ttlkv_keys
_entries = _lib.ttlkv_entries
_key_list_len = _lib.ttlkv_key_list_len
_key_list_free = _lib.ttlkv_key_list_free
_get_versioned = _lib.ttlkv_get_versioned
_put_if_version = _lib.ttlkv_put_if_version
_get_many_into = _lib.ttlkv_get_many_into
_delete_many = _lib.ttlkv_delete_many
_scan = _lib.ttlkv_scan
# The list readers keep the GIL (see _ffi.HELD_FUNCTIONS); bytes_at copies what they point at.
_key_list_get = _ffi.held.ttlkv_key_list_get
_key_list_value = _ffi.held.ttlkv_key_list_value
_fbuf_free = _ffi.held.ttlkv_buf_free
_bytes_at = _ffi.bytes_at
_slice_array = _ffi.slice_array

_OK = _ffi.OK
_NOT_FOUND = _ffi.NOT_FOUND
_CONFLICT = _ffi.CONFLICT
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
_ftouch = _ffi.fast.ttlkv_touch
_fadd = _ffi.fast.ttlkv_add
_fincr = _ffi.fast.ttlkv_incr
_ftake = _ffi.fast.ttlkv_take
_SIZES = _ffi.SIZES
_NEVER_C = _uint64_t(TTL_NEVER_MS)

#: The ``flags`` of ``ttlkv_incr``, as the ``uint32_t`` objects its fast handle takes.
CREATE: Any = _ffi.uint32_t(_ffi.CONSTANTS["TTLKV_INCR_CREATE"])
_LEN_NOT_FOUND: int = _ffi.CONSTANTS["TTLKV_LEN_NOT_FOUND"]
NO_FLAGS: Any = _ffi.uint32_t(0)
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
#: ``int64_t`` objects of the usual deltas, shared.
_DELTAS: Dict[int, Any] = {d: _ffi.int64_t(d) for d in range(-16, 17)}
_OVERFLOW = STATUS["TTLKV_OVERFLOW"]

#: What :func:`read` returns for an absent key (``None`` could be a caller's default).
MISSING: Any = object()


def size(n: int) -> Any:
    """The ``size_t`` of a length, shared for the small ones."""
    return _SIZES[n] if n <= 1024 else _size_t(n)


def ttl_c(ttl: TTL) -> Any:
    """A TTL as the ``uint64_t`` milliseconds ``ttlkv_put`` takes."""
    ms = ttl_to_ms(ttl)
    return _NEVER_C if ms == TTL_NEVER_MS else _uint64_t(ms)


def delta_c(delta: Any) -> Any:
    """An ``incr`` delta as the ``int64_t`` ``ttlkv_incr`` takes: an ``int`` (not a ``bool``)
    in the signed 64-bit range of counters, checked here because ctypes would wrap it."""
    if type(delta) is not int:
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise TypeError(f"an incr delta is an int, not {type(delta).__name__}")
        delta = int(delta)
    shared = _DELTAS.get(delta)
    if shared is not None:
        return shared
    if not _INT64_MIN <= delta <= _INT64_MAX:
        raise binding_error(
            _OVERFLOW, f"the delta {delta} is outside the signed 64-bit range of counters"
        )
    return _ffi.int64_t(delta)


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
        "i64",
        "i64_p",
        "addr",
        "addr_p",
        "out",
        "out_p",
        "out_data",
        "out_len",
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
        self.i64 = _ffi.int64_t()
        self.i64_p = _ffi.pointer(self.i64)
        self.addr = _ffi.address()
        self.addr_p = _ffi.pointer(self.addr)
        self.out = _ffi.Buf()  # a ttlkv_buf the library fills (take, get_versioned)
        self.out_p = _ffi.pointer(self.out)
        self.out_data, self.out_len = _ffi.buf_fields(self.out)  # its fields, for bytes_at


# deque.pop and deque.append are atomic under the GIL: a call takes a scratch for itself
# alone. (A list would realloc its storage on every pop from and push onto a pool of one.)
pool: "collections.deque[Scratch]" = collections.deque()


def _scratch() -> Scratch:
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
    s = _scratch()
    rc = _fdeadline(h, ns, size(len(ns)), k, size(len(k)), s.u64_p)
    ms = s.u64.value
    pool.append(s)
    if rc == _OK:
        return ms
    if rc == _NOT_FOUND:
        return None
    raise make_error(rc, ctx)


def _items(handle: Any, ctx: str) -> List[bytes]:
    """Every key of a list."""
    s = _scratch()
    try:
        addr, length, addr_p, len_p = s.addr, s.len, s.addr_p, s.len_p
        items: List[bytes] = []
        append = items.append
        for i in range(_key_list_len(handle)):
            rc = _key_list_get(handle, _SIZES[i] if i <= 1024 else _size_t(i), addr_p, len_p)
            if rc != _OK:
                raise make_error(rc, ctx)
            append(_bytes_at(addr, length))
        return items
    finally:
        pool.append(s)


def _pairs(handle: Any, ctx: str) -> List[Tuple[bytes, bytes]]:
    """Every ``(key, value)`` of a list."""
    s = _scratch()
    try:
        addr, length, addr_p, len_p = s.addr, s.len, s.addr_p, s.len_p
        pairs: List[Tuple[bytes, bytes]] = []
        append = pairs.append
        for i in range(_key_list_len(handle)):
            index = _SIZES[i] if i <= 1024 else _size_t(i)
            rc = _key_list_get(handle, index, addr_p, len_p)
            if rc != _OK:
                raise make_error(rc, ctx)
            key = _bytes_at(addr, length)
            rc = _key_list_value(handle, index, addr_p, len_p)
            if rc != _OK:
                raise make_error(rc, ctx)
            append((key, _bytes_at(addr, length)))
        return pairs
    finally:
        pool.append(s)


def _list(function: Any, args: Tuple[Any, ...], read: Any, ctx: str) -> Any:
    """Calls a function that makes a list (its last argument), reads it, frees it."""
    handle = _ffi.KeyListPtr()
    rc = function(*args, _byref(handle))
    if rc != _OK:
        raise make_error(rc, ctx)
    try:
        return read(handle, ctx)
    finally:
        _key_list_free(handle)


def list_keys(h: Any, ns: bytes, ctx: str) -> List[bytes]:
    result: List[bytes] = _list(_keys, (h, ns, len(ns)), _items, ctx)
    return result


def list_entries(h: Any, ns: bytes, ctx: str) -> List[Tuple[bytes, bytes]]:
    result: List[Tuple[bytes, bytes]] = _list(_entries, (h, ns, len(ns)), _pairs, ctx)
    return result


def namespaces(h: Any) -> List[bytes]:
    result: List[bytes] = _list(_lib.ttlkv_namespaces, (h,), _items, "namespaces")
    return result


def scan(
    h: Any, ns: bytes, prefix: bytes, after: Optional[bytes], limit: int, op: str
) -> List[Tuple[bytes, bytes]]:
    """One page of ``ttlkv_scan``; ``after`` ``None`` is "no cursor" (a NULL pointer) and
    ``b""`` the empty key (a pointer to no bytes)."""
    args = (h, ns, len(ns), prefix, len(prefix), after, 0 if after is None else len(after), limit)
    result: List[Tuple[bytes, bytes]] = _list(_scan, args, _pairs, context(op, ns))
    return result


def get_many(h: Any, ns: bytes, keys: Sequence[bytes], names: Sequence[Any], op: str) -> Dict[Any, bytes]:
    """``{names[i]: value}`` for every ``keys[i]`` with a live entry, from one snapshot: one
    ``ttlkv_get_many_into`` call copies every value into a pooled buffer (grown and retried
    when the values do not fit), and one length per key says where each one ends."""
    n = len(keys)
    array, keep = _slice_array(keys)
    lens = (_uint64_t * n)()
    s = _scratch()
    try:
        while True:
            rc = _get_many_into(h, ns, len(ns), array, n, s.cbuf, s.cap, lens, s.len_p)
            if rc != _BUFFER_TOO_SMALL:
                break
            pool.append(s)
            s = Scratch(1 << (max(s.len.value, _INITIAL_BUFFER) - 1).bit_length())
        del keep  # the library is done with the keys
        if rc != _OK:
            raise make_error(rc, context(op, ns))
        view = s.view
        found: Dict[Any, bytes] = {}
        at = 0
        for name, length in zip(names, lens):
            if length != _LEN_NOT_FOUND:
                found[name] = view[at : at + length].tobytes()
                at += length
        return found
    finally:
        if s.cap <= _MAX_POOLED_BUFFER:
            pool.append(s)


def get_versioned(h: Any, ns: bytes, k: bytes, op: str) -> Optional[Tuple[bytes, int]]:
    """``(value, version)`` of ``k``, or ``None`` when it has no live entry."""
    s = _scratch()
    rc = _get_versioned(h, ns, len(ns), k, len(k), s.out_p, s.u64_p)
    if rc != _OK:
        pool.append(s)
        if rc == _NOT_FOUND:
            return None
        raise make_error(rc, context(op, ns))
    version = s.u64.value
    value = _bytes_at(s.out_data, s.out_len)  # data is never NULL on TTLKV_OK
    _fbuf_free(s.out_p)
    pool.append(s)
    return value, version


def max_key_len(h: Any, ns: bytes, ctx: str) -> int:
    s = _scratch()
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


# The helpers of the cache operations take the operation's name (``op``) and make the error's
# context from it only when there is an error: formatting it costs ~1k instructions a call.


def touch(h: Any, ns: bytes, nsl: Any, k: bytes, ttl: Any, op: str) -> bool:
    """Gives ``k`` the deadline now + ``ttl`` (a ``uint64_t``); ``True`` if it had a live entry."""
    rc = _ftouch(h, ns, nsl, k, size(len(k)), ttl)
    if rc == _OK:
        return True
    if rc == _NOT_FOUND:
        return False
    raise make_error(rc, context(op, ns))


def add(h: Any, ns: bytes, nsl: Any, k: bytes, v: bytes, ttl: Any, op: str) -> bool:
    """Writes ``k`` only if it has no live entry; ``True`` if it was written."""
    rc = _fadd(h, ns, nsl, k, size(len(k)), v, size(len(v)), ttl)
    if rc == _OK:
        return True
    if rc == _CONFLICT:
        return False
    raise make_error(rc, context(op, ns))


def incr(h: Any, ns: bytes, nsl: Any, k: bytes, delta: Any, flags: Any, ttl: Any, op: str) -> Optional[int]:
    """The counter's new value, or ``None`` when it is missing and ``flags`` is not
    :data:`CREATE`. ``delta`` from :func:`delta_c`, ``ttl`` from :func:`ttl_c`."""
    s = _scratch()
    rc = _fincr(h, ns, nsl, k, size(len(k)), delta, flags, ttl, s.i64_p)
    value = s.i64.value
    pool.append(s)
    if rc == _OK:
        return value
    if rc == _NOT_FOUND:
        return None
    raise make_error(rc, context(op, ns))


def take(h: Any, ns: bytes, nsl: Any, k: bytes, op: str) -> Any:
    """Removes ``k`` and returns its value, or :data:`MISSING` when it had no live entry."""
    s = _scratch()
    rc = _ftake(h, ns, nsl, k, size(len(k)), s.out_p)
    if rc != _OK:
        pool.append(s)
        if rc == _NOT_FOUND:
            return MISSING
        raise make_error(rc, context(op, ns))
    value = _bytes_at(s.out_data, s.out_len)  # data is never NULL on TTLKV_OK
    _fbuf_free(s.out_p)
    pool.append(s)
    return value


def corruption_reset(h: Any, ctx: str) -> Optional[bytes]:
    """Where the open moved a damaged store (``ttlkv_corruption_reset``), or ``None``."""
    s = _scratch()
    rc = _lib.ttlkv_corruption_reset(h, s.out_p)
    if rc != _OK:
        pool.append(s)
        if rc == _NOT_FOUND:
            return None
        raise make_error(rc, ctx)
    value: bytes = _bytes_at(s.out_data, s.out_len)
    _fbuf_free(s.out_p)
    pool.append(s)
    return value


def put_if_version(
    h: Any, ns: bytes, k: bytes, v: bytes, ms: int, expected: int, op: str
) -> Optional[int]:
    """Compare-and-set: the new version, or ``None`` on a conflict."""
    s = _scratch()
    rc = _put_if_version(h, ns, len(ns), k, len(k), v, len(v), ms, expected, s.u64_p)
    version = s.u64.value
    pool.append(s)
    if rc == _OK:
        return version
    if rc == _CONFLICT:
        return None
    raise make_error(rc, context(op, ns))


def delete_many(h: Any, ns: bytes, keys: Sequence[bytes], op: str) -> int:
    """Removes ``keys`` in one transaction; how many live entries went."""
    array, keep = _slice_array(keys)
    s = _scratch()
    rc = _delete_many(h, ns, len(ns), array, len(keys), s.u64_p)
    del keep
    removed = s.u64.value
    pool.append(s)
    if rc != _OK:
        raise make_error(rc, context(op, ns))
    return removed


def _counted(function: Any, h: Any, ns: bytes, op: str) -> int:
    s = _scratch()
    rc = function(h, ns, len(ns), s.u64_p)
    n = s.u64.value
    pool.append(s)
    if rc != _OK:
        raise make_error(rc, context(op, ns))
    return n


def clear(h: Any, ns: bytes, op: str) -> int:
    """Removes every entry of ``ns``; how many live entries went."""
    return _counted(_lib.ttlkv_clear, h, ns, op)


def count(h: Any, ns: bytes, op: str) -> int:
    """The number of live entries of ``ns``."""
    return _counted(_lib.ttlkv_count, h, ns, op)


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
    s = _scratch()
    rc = _lib.ttlkv_purge_expired(h, s.u64_p)
    n = s.u64.value
    pool.append(s)
    if rc != _OK:
        raise make_error(rc, "purge_expired")
    return n


def stats(h: Any) -> Dict[str, int]:
    """Every counter the library has (``_ffi.STATS``, from ``ttlkv_stat_name``), by name."""
    s = _scratch()
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


def set_max_bytes(h: Any, max_bytes: int, eviction: int) -> None:
    rc = _lib.ttlkv_set_max_bytes(h, max_bytes, eviction)
    if rc != _OK:
        raise make_error(rc, "set_max_bytes")


def max_bytes(h: Any) -> Tuple[int, int]:
    """``(max_bytes, eviction)`` as the C ABI gives them (0: no bound)."""
    bound, eviction = _uint64_t(), _ffi.uint32_t()
    rc = _lib.ttlkv_max_bytes(h, _byref(bound), _byref(eviction))
    if rc != _OK:
        raise make_error(rc, "max_bytes")
    return bound.value, eviction.value


def backup(h: Any, dest: bytes, flags: int, ctx: str) -> None:
    rc = _lib.ttlkv_backup(h, dest, flags)
    if rc != _OK:
        raise make_error(rc, ctx)


def verify(h: Any) -> List[str]:
    s = _scratch()
    rc = _lib.ttlkv_verify(h, s.u64_p)
    problems = s.u64.value
    pool.append(s)
    if rc != _OK:
        raise make_error(rc, "verify")
    if not problems:
        return []
    lines = [line for line in _ffi.decode(_lib.ttlkv_last_error()).splitlines() if line]
    return lines or [f"{problems} problem(s)"]


# --- replication ----------------------------------------------------------------------------

_records = _lib.ttlkv_records
_merge = _lib.ttlkv_merge
_versions = _lib.ttlkv_versions
_bucket_records = _lib.ttlkv_bucket_records
_replica_list_len = _lib.ttlkv_replica_list_len
_replica_list_get = _lib.ttlkv_replica_list_get
_replica_list_free = _lib.ttlkv_replica_list_free
_TOMBSTONE = _ffi.CONSTANTS["TTLKV_REPLICA_TOMBSTONE"]
# The C types the prototypes' out-parameters point at, read from the generated tables (only
# _ffi and _abi import ctypes): POINTER(struct ttlkv_replica_list) and int32_t.
_ReplicaListPtr: Any = FUNCTIONS["ttlkv_records"][1][3]._type_
_int32_t: Any = FUNCTIONS["ttlkv_replicated"][1][1]._type_


def origin(h: Any) -> int:
    s = _scratch()
    rc = _lib.ttlkv_origin(h, s.u64_p)
    n = s.u64.value
    pool.append(s)
    if rc != _OK:
        raise make_error(rc, "origin")
    return n


def set_replicated(h: Any, on: bool) -> None:
    rc = _lib.ttlkv_set_replicated(h, 1 if on else 0)
    if rc != _OK:
        raise make_error(rc, "set_replicated")


def replicated(h: Any) -> bool:
    out = _int32_t()
    rc = _lib.ttlkv_replicated(h, _byref(out))
    if rc != _OK:
        raise make_error(rc, "replicated")
    return bool(out.value)


def _replica_records(handle: Any, ctx: str) -> List[ReplicaRecord]:
    """Every record of a ``ttlkv_replica_list``, copied out. The byte strings are read through
    views of the struct's pointer and length fields (a ``c_char_p`` field would stop at the
    first NUL byte)."""
    out = ttlkv_replica_record()
    fields = [
        (
            _ffi.address.from_buffer(out, getattr(ttlkv_replica_record, name).offset),
            _size_t.from_buffer(out, getattr(ttlkv_replica_record, name + "_len").offset),
        )
        for name in ("ns", "key", "value")
    ]
    (ns_p, ns_len), (key_p, key_len), (value_p, value_len) = fields
    out_p = _byref(out)
    found: List[ReplicaRecord] = []
    append = found.append
    for i in range(_replica_list_len(handle)):
        rc = _replica_list_get(handle, i, out_p)
        if rc != _OK:
            raise make_error(rc, ctx)
        append(
            ReplicaRecord(
                _bytes_at(ns_p, ns_len),
                _bytes_at(key_p, key_len),
                _bytes_at(value_p, value_len),
                out.deadline,
                out.version,
                out.origin,
                bool(out.flags & _TOMBSTONE),
            )
        )
    return found


def _replica_list(function: Any, args: Tuple[Any, ...], ctx: str) -> List[ReplicaRecord]:
    """Calls a function that makes a ``ttlkv_replica_list`` (its last argument), reads it,
    frees it."""
    handle = _ReplicaListPtr()
    rc = function(*args, _byref(handle))
    if rc != _OK:
        raise make_error(rc, ctx)
    try:
        return _replica_records(handle, ctx)
    finally:
        _replica_list_free(handle)


def _record_array(items: Sequence[Tuple[bytes, bytes, bytes, int, int, int, int]]) -> Any:
    """A ``struct ttlkv_replica_record`` array of ``(ns, key, value, deadline, version,
    origin, flags)``; it keeps every ``bytes`` object it points into alive."""
    array = (ttlkv_replica_record * len(items))()
    for i, (ns, k, v, deadline, version, writer, flags) in enumerate(items):
        r = array[i]
        r.ns, r.ns_len, r.key, r.key_len, r.value, r.value_len = ns, len(ns), k, len(k), v, len(v)
        r.deadline, r.version, r.origin, r.flags = deadline, version, writer, flags
    return array


def records(h: Any, keys: Sequence[Tuple[bytes, bytes]], ctx: str) -> List[ReplicaRecord]:
    """The stored records of ``(ns, key)`` pairs (``ttlkv_records``)."""
    array = _record_array([(ns, k, b"", 0, 0, 0, 0) for ns, k in keys])
    return _replica_list(_records, (h, array, len(keys)), ctx)


def merge(h: Any, items: Sequence[Tuple[bytes, bytes, bytes, int, int, int, int]], ctx: str) -> int:
    """Merges records (the tuples of :func:`_record_array`); how many were written."""
    array = _record_array(items)
    s = _scratch()
    rc = _merge(h, array, len(items), s.u64_p)
    applied = s.u64.value
    pool.append(s)
    if rc != _OK:
        raise make_error(rc, ctx)
    return applied


def digest(h: Any, buckets: int, cutoff: int, ctx: str) -> List[int]:
    """``ttlkv_digest``: one hash per bucket (``buckets`` already checked: it sizes the array)."""
    out = (_uint64_t * buckets)()
    rc = _lib.ttlkv_digest(h, buckets, cutoff, out, buckets)
    if rc != _OK:
        raise make_error(rc, ctx)
    return list(out)


def versions(h: Any, buckets: int, which: Sequence[int], cutoff: int, ctx: str) -> List[ReplicaRecord]:
    """``ttlkv_versions``: the records of the buckets ``which``, without values."""
    array = (_ffi.uint32_t * len(which))(*which)
    return _replica_list(_versions, (h, buckets, array, len(which), cutoff), ctx)


def bucket_records(h: Any, buckets: int, which: Sequence[int], cutoff: int, ctx: str) -> List[ReplicaRecord]:
    """``ttlkv_bucket_records``: the records of the buckets ``which``, with their values."""
    array = (_ffi.uint32_t * len(which))(*which)
    return _replica_list(_bucket_records, (h, buckets, array, len(which), cutoff), ctx)


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
