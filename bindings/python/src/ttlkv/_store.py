"""The store and its namespaces: a thin layer over the C ABI.

Hot paths (``get``, ``put``) are written for the ctypes call overhead: functions are bound
once, ``bytes`` arguments are passed without a copy, and reads go through ``ttlkv_get_into``
with a reusable native buffer, taken from a pool so that threads and re-entrant calls (a
signal handler, a ``__del__``) never share one.
"""

from __future__ import annotations

import atexit
import collections
import datetime
import math
import os
import weakref
from ctypes import POINTER, byref, c_char, c_size_t, c_uint64, c_void_p, pointer, string_at
from typing import (
    Any,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Tuple,
    Union,
)

from . import _ffi
from ._errors import Error, error_class, make_error
from ._serializers import Serializer

__all__ = ["TTL_NEVER", "Namespace", "Store"]

#: Pass as ``ttl`` for an entry that never expires. It *is* ``None``: ``ttl=None`` and
#: ``ttl=TTL_NEVER`` mean the same. (``math.inf`` is accepted too.)
TTL_NEVER = None

Key = Union[bytes, str]
"""A key or a namespace name: ``bytes``, or ``str`` stored as its UTF-8 bytes."""
BytesLike = Union[bytes, bytearray, memoryview]
"""A value: any object with the buffer protocol (``bytes``, ``bytearray``, ``memoryview``…)."""
TTL = Union[int, float, datetime.timedelta, None]
"""A time-to-live in seconds (``int`` or ``float``) or a ``timedelta``; ``None`` never expires."""

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
_close = _lib.ttlkv_close
_free = _lib.ttlkv_free

_OK = _ffi.OK
_NOT_FOUND = _ffi.NOT_FOUND
_BUFFER_TOO_SMALL = _ffi.BUFFER_TOO_SMALL
_TTL_NEVER_MS = _ffi.TTL_NEVER_MS
_DEADLINE_NEVER_MS = _ffi.DEADLINE_NEVER_MS
_StorePtr = POINTER(_ffi.ttlkv_store)
_KeyListPtr = POINTER(_ffi.ttlkv_key_list)

# The fast paths: undeclared handles that take every argument already in its C type (see
# _ffi.FAST_FUNCTIONS). Lengths come from _SIZES or _size(), TTLs as c_uint64.
_fput = _ffi.fast.ttlkv_put
_fget_into = _ffi.fast.ttlkv_get_into
_fdelete = _ffi.fast.ttlkv_delete
_fdeadline = _ffi.fast.ttlkv_deadline
_SIZES = _ffi.SIZES
_NEVER_C = c_uint64(_TTL_NEVER_MS)


def _size(n: int) -> c_size_t:
    return _SIZES[n] if n <= 1024 else c_size_t(n)


def _ttl_c(ttl: "TTL") -> c_uint64:
    ms = ttl_to_ms(ttl)
    return _NEVER_C if ms == _TTL_NEVER_MS else c_uint64(ms)


_DURABILITY = {"sync": _ffi.DURABILITY_SYNC, "periodic": _ffi.DURABILITY_PERIODIC}
_U64_MAX = (1 << 64) - 1


class _NamespaceDefault:
    """The ``ttl`` default of ``Namespace.put``: the namespace's own TTL."""

    def __repr__(self) -> str:
        return "<the namespace's ttl>"


_DEFAULT: Any = _NamespaceDefault()


# --- conversions --------------------------------------------------------------------------


def _error(code: int, message: str) -> Error:
    """An error found by the binding before any native call (no C detail to read)."""
    cls = error_class(code)
    return cls(f"{cls.status} ({code}): {message}", message)


def _key(key: Any) -> bytes:
    if isinstance(key, bytes):
        return bytes(key)
    if isinstance(key, str):
        return key.encode("utf-8")
    raise TypeError(f"ttlkv keys are bytes or str, not {type(key).__name__}")


def _value(value: Any) -> bytes:
    if isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, str):
        raise TypeError(
            "ttlkv values are bytes-like, not str: encode it, or open the namespace with a "
            "serializer"
        )
    try:
        view = memoryview(value)
    except TypeError:
        raise TypeError(
            f"ttlkv values are bytes-like objects, not {type(value).__name__} "
            "(open the namespace with a serializer to store objects)"
        ) from None
    with view:
        return view.tobytes()


def _namespace(name: Any) -> bytes:
    if isinstance(name, str):
        encoded = name.encode("utf-8")
    elif isinstance(name, bytes):
        encoded = bytes(name)
    else:
        raise TypeError(f"ttlkv namespace names are bytes or str, not {type(name).__name__}")
    if not 1 <= len(encoded) <= _ffi.CONSTANTS["TTLKV_MAX_NAMESPACE_LEN"]:
        raise _error(
            _ffi.STATUS["TTLKV_NAMESPACE_INVALID"],
            f"a namespace name is 1 to 255 bytes, got {len(encoded)}",
        )
    return encoded


#: ``_ms`` of the non-integral floats seen so far (programs use few distinct TTLs); bounded.
_MS_CACHE: Dict[float, int] = {}


def _ms(seconds: Union[int, float]) -> int:
    """Positive, finite seconds to whole milliseconds, rounding up, so that a positive duration
    never becomes 0: ``5e-10`` -> 1, ``0.0015`` -> 2.

    A float is only the nearest binary value to the number that was meant: ``0.3`` is a hair
    below 3/10 and ``0.001`` a hair above 1/1000 (and ``0.3 * 1000`` in floats a hair above
    300). So the float's exact value is used (no float multiplication), and counts as a
    whole number of milliseconds when one lies within one unit in the last place of the
    float: ``0.3`` -> 300, ``0.001`` -> 1, ``1.1`` -> 1100. Otherwise it rounds up.
    """
    if isinstance(seconds, int) or seconds.is_integer():
        return int(seconds) * 1000
    cached = _MS_CACHE.get(seconds)
    if cached is not None:
        return cached
    # seconds == num / den exactly, den == 2**j; so ms == whole + rem / den, 0 < rem < den.
    num, den = seconds.as_integer_ratio()
    whole, rem = divmod(num * 1000, den)
    # One ulp of `seconds` is 2**k, and 2**-j is a multiple of it (j <= -k). Within the
    # tolerance of 1000 * 2**k ms <=> (rem / den) <= 1000 * 2**k <=> rem << -(k + j) <= 1000.
    k = max(math.frexp(seconds)[1] - 53, -1074)
    shift = -(k + den.bit_length() - 1)
    if (rem << shift) <= 1000:
        ms = whole  # a hair above a whole number of milliseconds: the float's own error
    else:
        ms = whole + 1  # a hair below one, or truly above `whole`: round up
    ms = max(ms, 1)
    if len(_MS_CACHE) < 1024:
        _MS_CACHE[seconds] = ms
    return ms


def _timedelta_ms(delta: datetime.timedelta) -> int:
    """A timedelta to whole milliseconds, rounding up, exactly (in integer microseconds)."""
    micros = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    return -(-micros // 1000)


def ttl_to_ms(ttl: TTL) -> int:
    """Converts a TTL in seconds to the C ABI's milliseconds (``TTLKV_TTL_NEVER`` for never).

    A positive TTL is rounded up to whole milliseconds and never becomes 0 (``5e-10`` -> 1,
    ``0.0015`` -> 2); an exact one stays exact (``0.3`` -> 300, ``1.5`` -> 1500).

    Raises:
        TTLInvalidError: for 0, a negative or NaN TTL, or one too large to represent.
        TypeError: for anything but a number, a ``timedelta`` or ``None``.
    """
    if ttl is None:
        return _TTL_NEVER_MS
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float, datetime.timedelta)):
        raise TypeError(
            f"ttl is a number of seconds, a timedelta or None, not {type(ttl).__name__}"
        )
    if isinstance(ttl, datetime.timedelta):
        if ttl <= datetime.timedelta(0):
            raise _error(
                _ffi.STATUS["TTLKV_TTL_INVALID"],
                f"ttl must be positive, or None for never; got {ttl!r}",
            )
        ms = _timedelta_ms(ttl)
    else:
        if isinstance(ttl, float):
            if math.isnan(ttl):
                raise _error(_ffi.STATUS["TTLKV_TTL_INVALID"], "ttl is NaN")
            if ttl == math.inf:
                return _TTL_NEVER_MS
        if ttl <= 0:
            raise _error(
                _ffi.STATUS["TTLKV_TTL_INVALID"],
                f"ttl must be positive seconds, or None for never; got {ttl!r}",
            )
        ms = _ms(ttl)
    if ms >= _TTL_NEVER_MS:
        raise _error(
            _ffi.STATUS["TTLKV_TTL_INVALID"],
            f"ttl {ttl!r} is too large; use None for an entry that never expires",
        )
    return ms


# --- native scratch space -----------------------------------------------------------------

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


class _Scratch:
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
        "out",
        "out_p",
        "addr",
        "addr_p",
    )

    def __init__(self, cap: int = _INITIAL_BUFFER) -> None:
        self.cap = cap
        self.cap_c = c_size_t(cap)
        self.buf = bytearray(cap)
        self.view = memoryview(self.buf)
        self.slices = _Slices(self.view)
        self.cbuf = (c_char * cap).from_buffer(self.buf)
        self.len = c_size_t()
        self.len_p = pointer(self.len)
        self.u64 = c_uint64()
        self.u64_p = pointer(self.u64)
        self.out = _ffi.ttlkv_buf()
        self.out_p = pointer(self.out)
        self.addr = c_void_p()
        self.addr_p = pointer(self.addr)


# deque.pop and deque.append are atomic under the GIL: a call takes a scratch for itself
# alone. (A list would realloc its storage on every pop from and push onto a pool of one.)
_pool: "collections.deque[_Scratch]" = collections.deque()


def _take() -> _Scratch:
    try:
        return _pool.pop()
    except IndexError:
        return _Scratch()


def _read_large(store: "Store", h: Any, ns: bytes, k: bytes, s: _Scratch, ctx: str) -> Any:
    """The slow path of a read whose value did not fit the scratch buffer."""
    needed = s.len.value
    if needed <= _MAX_POOLED_BUFFER:
        cap = max(needed, _INITIAL_BUFFER)
        s = _Scratch(1 << (cap - 1).bit_length())
        rc = _get_into(h, ns, len(ns), k, len(k), s.cbuf, s.cap, s.len_p)
        if rc == _OK:
            data = s.slices[s.len.value].tobytes()
            _pool.append(s)
            return data
        _pool.append(s)
        if rc == _NOT_FOUND:
            return None
        if rc != _BUFFER_TOO_SMALL:  # the value grew meanwhile: fall through to ttlkv_get
            raise store._fail(rc, ctx)
    out = _ffi.ttlkv_buf()
    rc = _get(h, ns, len(ns), k, len(k), byref(out))
    if rc == _NOT_FOUND:
        return None
    if rc != _OK:
        raise store._fail(rc, ctx)
    try:
        return string_at(out.data, out.len) if out.len else b""
    finally:
        _buf_free(byref(out))


_MISSING: Any = object()


def _read(store: "Store", ns: bytes, k: bytes, ctx: str) -> Any:
    """The value of ``k`` as ``bytes``, or ``_MISSING``."""
    h = store._h
    try:
        s = _pool.pop()
    except IndexError:
        s = _Scratch()
    rc = _fget_into(h, ns, _size(len(ns)), k, _size(len(k)), s.cbuf, s.cap_c, s.len_p)
    if rc == _OK:
        data = s.slices[s.len.value].tobytes()
        _pool.append(s)
        return data
    _pool.append(s)
    if rc == _NOT_FOUND:
        return _MISSING
    if rc == _BUFFER_TOO_SMALL:
        data = _read_large(store, h, ns, k, s, ctx)
        return _MISSING if data is None else data
    raise store._fail(rc, ctx)


def _deadline_of(store: "Store", ns: bytes, k: bytes, ctx: str) -> Optional[int]:
    s = _take()
    rc = _fdeadline(store._h, ns, _size(len(ns)), k, _size(len(k)), s.u64_p)
    ms = s.u64.value
    _pool.append(s)
    if rc == _OK:
        return ms
    if rc == _NOT_FOUND:
        return None
    raise store._fail(rc, ctx)


def _list_keys(store: "Store", ns: bytes, ctx: str) -> List[bytes]:
    handle = _KeyListPtr()
    rc = _keys(store._h, ns, len(ns), byref(handle))
    if rc != _OK:
        raise store._fail(rc, ctx)
    try:
        s = _take()
        count = _key_list_len(handle)
        keys: List[bytes] = []
        append = keys.append
        addr, length, addr_p, len_p = s.addr, s.len, s.addr_p, s.len_p
        for i in range(count):
            rc = _key_list_get(handle, i, addr_p, len_p)
            if rc != _OK:
                raise store._fail(rc, ctx)
            n = length.value
            append(string_at(addr.value or 0, n) if n else b"")
        _pool.append(s)
        return keys
    finally:
        _key_list_free(handle)


def _list_entries(store: "Store", ns: bytes, ctx: str) -> List[Tuple[bytes, bytes]]:
    handle = _KeyListPtr()
    rc = _entries(store._h, ns, len(ns), byref(handle))
    if rc != _OK:
        raise store._fail(rc, ctx)
    try:
        s = _take()
        entries: List[Tuple[bytes, bytes]] = []
        addr, length, addr_p, len_p = s.addr, s.len, s.addr_p, s.len_p
        for i in range(_key_list_len(handle)):
            rc = _key_list_get(handle, i, addr_p, len_p)
            if rc != _OK:
                raise store._fail(rc, ctx)
            n = length.value
            key = string_at(addr.value or 0, n) if n else b""
            rc = _key_list_value(handle, i, addr_p, len_p)
            if rc != _OK:
                raise store._fail(rc, ctx)
            n = length.value
            entries.append((key, string_at(addr.value or 0, n) if n else b""))
        _pool.append(s)
        return entries
    finally:
        _key_list_free(handle)


def _write_many(store: "Store", records: List[Tuple[bytes, bytes, bytes, int]], ctx: str) -> None:
    array = (_ffi.ttlkv_record * len(records))()
    for i, (ns, k, v, ms) in enumerate(records):
        r = array[i]
        r.ns, r.ns_len, r.key, r.key_len = ns, len(ns), k, len(k)
        r.value, r.value_len, r.ttl_ms = v, len(v), ms
    # `records` keeps every bytes object alive for the call (the array does too).
    rc = _put_many(store._h, array, len(records))
    if rc != _OK:
        raise store._fail(rc, ctx)


# --- lifetime ---------------------------------------------------------------------------

# Handles of the stores still open in this process, so that interpreter exit can close them.
#
# fork() needs nothing here: the library itself makes a handle inherited by a forked child
# closed there (every call returns TTLKV_CLOSED, which raises ClosedError; ttlkv_close and
# ttlkv_free on it only release memory), so the child's finalizers and _close_at_exit may
# treat inherited handles like any other. No lock guards this dict (each use is one atomic
# dict operation): a lock held by another thread at fork() would stay held in the child.
_live: Dict[int, Any] = {}


def _release(key: int, handle: Any) -> None:
    """The finalizer of a store that is garbage: no thread can be using its handle."""
    _live.pop(key, None)
    _free(handle)


@atexit.register
def _close_at_exit() -> None:
    # Close, never free: a daemon thread may still be inside a call on the handle, and
    # ttlkv_close is safe against that (the call gets TTLKV_CLOSED), ttlkv_free is not.
    for handle in _live.copy().values():
        _close(handle)


# --- the API ------------------------------------------------------------------------------


class Store:
    """A persistent key-value cache with a time-to-live on every key: one directory.

    Args:
        path: the store's directory; created (mode 0700) if missing.
        durability: ``"sync"`` (default) — a put is on disk when it returns; concurrent
            writers share one fsync. ``"periodic"`` — commits skip fsync and a background
            flush runs every ``sync_interval`` seconds: nothing is lost if the process dies,
            a power loss can lose the last interval.
        sync_interval: seconds between flushes in periodic mode (library default: 1.0; at most
            one day), rounded up to whole milliseconds like a TTL, so never 0.
        map_size: the initial size of the memory map in bytes (grown automatically).
        max_map_size: the size the map may grow to; past it a put raises :class:`FullError`.
        max_readers: the LMDB reader table size (concurrent read transactions).
        write_map: periodic mode only: write through a writable memory map. Puts get several
            times faster and the map's size is reserved on disk, but a power loss or OS crash
            between flushes can leave the store corrupted instead of only missing the last
            interval (a process crash is safe either way). Default False.
        allow_shared_dir: accept an existing directory that other users could tamper with:
            one owned by another user, or writable by its group or by others. By default such
            a directory raises :class:`PermissionDeniedError` (naming ``allow_shared_dir``),
            because its other users could swap ``lock.mdb`` or ``data.mdb`` for a link to one
            of your files. Set it only for a directory shared on purpose by users who trust
            each other. Store files that are links, hard-linked or not regular files raise
            :class:`PathInvalidError` either way. Default False.

    A store is safe to use from many threads at once; every native call releases the GIL.
    Opening the same directory twice in one process shares one environment, and several
    processes may open it at the same time. A store belongs to the process that opened it:
    in a child made by ``fork()``, every call on an inherited store raises
    :class:`ClosedError` (closing it, or letting it be garbage-collected, only releases
    memory there); open the path again in the child.

    Raises:
        PathInvalidError, PermissionDeniedError, IncompatibleError, StorageError…: see
        :mod:`ttlkv` for the exception families.
    """

    _h: Any

    def __init__(
        self,
        path: Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"],
        *,
        durability: str = "sync",
        sync_interval: Optional[float] = None,
        map_size: Optional[int] = None,
        max_map_size: Optional[int] = None,
        max_readers: Optional[int] = None,
        write_map: bool = False,
        allow_shared_dir: bool = False,
    ) -> None:
        self._closed = True
        fspath = os.fspath(path)
        self.path: str = os.fsdecode(fspath)
        if isinstance(fspath, str):
            try:
                encoded = fspath.encode("utf-8")
            except UnicodeEncodeError:
                raise _error(
                    _ffi.STATUS["TTLKV_PATH_INVALID"], f"path {fspath!r} is not valid UTF-8"
                ) from None
        else:
            encoded = fspath
        if b"\0" in encoded:
            raise _error(_ffi.STATUS["TTLKV_PATH_INVALID"], "path contains a NUL byte")
        if durability not in _DURABILITY:
            raise _error(
                _ffi.STATUS["TTLKV_INVALID_ARGUMENT"],
                f"durability is 'sync' or 'periodic', not {durability!r}",
            )
        if not isinstance(write_map, bool):
            raise TypeError("write_map is a bool")
        if not isinstance(allow_shared_dir, bool):
            raise TypeError("allow_shared_dir is a bool")
        self.durability = durability

        options = _lib.ttlkv_options_new()
        if not options:
            raise MemoryError("ttlkv_options_new returned NULL")
        try:
            self._set_option(options, "durability", _DURABILITY[durability])
            if sync_interval is not None:
                if isinstance(sync_interval, bool) or not isinstance(sync_interval, (int, float)):
                    raise TypeError("sync_interval is a number of seconds")
                if not sync_interval > 0 or sync_interval == math.inf:
                    raise _error(
                        _ffi.STATUS["TTLKV_INVALID_ARGUMENT"],
                        f"sync_interval must be positive seconds, got {sync_interval!r}",
                    )
                # Rounded up (never 0); clamped so that ctypes cannot wrap a huge one into
                # range: the library checks the range (1 ms to 1 day).
                interval_ms = min(_ms(sync_interval), _U64_MAX)
                self._set_option(options, "sync_interval_ms", interval_ms)
            if write_map:
                self._set_option(options, "write_map", 1)
            if allow_shared_dir:
                self._set_option(options, "allow_shared_dir", 1)
            for name, value in (
                ("map_size", map_size),
                ("max_map_size", max_map_size),
                ("max_readers", max_readers),
            ):
                if value is not None:
                    if isinstance(value, bool) or not isinstance(value, int):
                        raise TypeError(f"{name} is an int")
                    if value <= 0 or value >= 1 << (32 if name == "max_readers" else 64):
                        raise _error(
                            _ffi.STATUS["TTLKV_INVALID_ARGUMENT"],
                            f"{name} out of range: {value!r}",
                        )
                    self._set_option(options, name, value)
            handle = _StorePtr()
            rc = _lib.ttlkv_open(encoded, options, byref(handle))
            if rc != _OK:
                raise make_error(rc, f"opening {self.path!r}")
        finally:
            _lib.ttlkv_options_free(options)

        self._h = handle
        self._closed = False
        key = id(self)
        _live[key] = handle
        self._finalizer = weakref.finalize(self, _release, key, handle)
        self._finalizer.atexit = False  # exit is handled by _close_at_exit

    @staticmethod
    def _set_option(options: Any, name: str, value: int) -> None:
        rc = getattr(_lib, f"ttlkv_options_set_{name}")(options, value)
        if rc != _OK:
            raise make_error(rc, f"option {name}={value!r}")

    def _fail(self, rc: int, context: str) -> Error:
        """The exception of a failing native call, made on the calling thread."""
        return make_error(rc, context)

    # -- lifetime ------------------------------------------------------------------------

    def close(self) -> None:
        """Closes the store: flushes, stops its background threads and releases the directory
        once no other handle of this process uses it.

        Idempotent. Afterwards every call raises :class:`ClosedError`, and so does every
        :class:`Namespace` of this store. Calls running in other threads finish first or
        raise :class:`ClosedError`; none crashes.
        """
        if self._closed:
            return
        self._closed = True
        rc = _close(self._h)
        if rc != _OK:
            raise make_error(rc, f"closing {self.path!r}")

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else self.durability
        return f"<ttlkv.Store {self.path!r} ({state})>"

    def __reduce__(self) -> Any:
        raise TypeError("a ttlkv.Store cannot be pickled; open the path in the other process")

    # -- namespaces ------------------------------------------------------------------------

    def namespace(
        self, name: Key, ttl: TTL, *, serializer: Optional[Serializer] = None
    ) -> "Namespace":
        """A view of one namespace, with a default TTL for its puts.

        Args:
            name: 1 to 255 bytes (a ``str`` is UTF-8 encoded). Keys of different namespaces
                never collide.
            ttl: the default time-to-live of ``put`` and ``ns[key] = value``, in seconds;
                ``None`` (= :data:`TTL_NEVER`) for entries that never expire. Required, so
                that "forever" is always written down.
            serializer: store objects instead of bytes (e.g. :class:`PickleSerializer`,
                :class:`JSONSerializer`). Keys stay bytes or str.
        """
        if self._closed:
            raise _error(_ffi.STATUS["TTLKV_CLOSED"], "the store is closed")
        return Namespace(self, name, ttl, serializer)

    # -- store-level operations --------------------------------------------------------------

    def put(self, namespace: Key, key: Key, value: BytesLike, ttl: TTL) -> None:
        """Inserts or overwrites ``key`` in ``namespace``, to expire ``ttl`` seconds from now
        (``None``: never)."""
        ns = _namespace_arg(namespace)
        k = key if type(key) is bytes else _key(key)
        v = value if type(value) is bytes else _value(value)
        ttl_c = _ttl_c(ttl)
        rc = _fput(self._h, ns, _size(len(ns)), k, _size(len(k)), v, _size(len(v)), ttl_c)
        if rc != _OK:
            raise self._fail(rc, _ctx("put", ns))

    def get(self, namespace: Key, key: Key, default: Any = None) -> Any:
        """The value of ``key`` as ``bytes``, or ``default`` if it is absent or expired."""
        ns = _namespace_arg(namespace)
        data = _read(self, ns, key if type(key) is bytes else _key(key), "get")
        return default if data is _MISSING else data

    def delete(self, namespace: Key, key: Key) -> bool:
        """Removes ``key``; ``True`` if a live entry was removed."""
        ns = _namespace_arg(namespace)
        k = key if type(key) is bytes else _key(key)
        rc = _fdelete(self._h, ns, _size(len(ns)), k, _size(len(k)))
        if rc == _OK:
            return True
        if rc == _NOT_FOUND:
            return False
        raise self._fail(rc, _ctx("delete", ns))

    def keys(self, namespace: Key) -> List[bytes]:
        """Every live key of ``namespace``, in key order."""
        ns = _namespace_arg(namespace)
        return _list_keys(self, ns, _ctx("keys", ns))

    def deadline(self, namespace: Key, key: Key) -> Optional[float]:
        """When ``key`` expires, as a Unix timestamp in seconds; ``math.inf`` if it never
        does; ``None`` if it is absent or expired."""
        ns = _namespace_arg(namespace)
        k = key if type(key) is bytes else _key(key)
        ms = _deadline_of(self, ns, k, _ctx("deadline", ns))
        if ms is None:
            return None
        return math.inf if ms == _DEADLINE_NEVER_MS else ms / 1000

    def put_many(self, records: Iterable[Tuple[Key, Key, BytesLike, TTL]]) -> None:
        """Writes ``(namespace, key, value, ttl)`` records in one transaction: all or none.

        A batch over ``MAX_BATCH_RECORDS`` records or ``MAX_BATCH_BYTES`` bytes raises
        :class:`BatchTooLargeError` and writes nothing.
        """
        prepared = [
            (_namespace_arg(ns), _key(k), _value(v), ttl_to_ms(ttl)) for ns, k, v, ttl in records
        ]
        _write_many(self, prepared, "put_many")

    def entries(self, namespace: Key) -> List[Tuple[bytes, bytes]]:
        """Every live ``(key, value)`` of ``namespace`` in key order, from one snapshot."""
        ns = _namespace_arg(namespace)
        return _list_entries(self, ns, _ctx("entries", ns))

    def max_key_len(self, namespace: Key) -> int:
        """The longest key ``namespace`` takes, in bytes (about 490 for a short name)."""
        ns = _namespace_arg(namespace)
        s = _take()
        rc = _lib.ttlkv_max_key_len(self._h, ns, len(ns), s.len_p)
        n = s.len.value
        _pool.append(s)
        if rc != _OK:
            raise self._fail(rc, _ctx("max_key_len", ns))
        return n

    # -- maintenance -------------------------------------------------------------------------

    def sync(self) -> None:
        """Flushes committed writes to disk now (for periodic durability, e.g. before a
        planned stop; cheap in sync mode)."""
        rc = _lib.ttlkv_sync(self._h)
        if rc != _OK:
            raise self._fail(rc, "sync")

    def purge_expired(self) -> int:
        """Removes every entry whose deadline has passed, now, without waiting for the
        background expiry thread; returns how many this call removed. Never needed for
        correctness: expired entries are never returned."""
        s = _take()
        rc = _lib.ttlkv_purge_expired(self._h, s.u64_p)
        n = s.u64.value
        _pool.append(s)
        if rc != _OK:
            raise self._fail(rc, "purge_expired")
        return n

    def stats(self) -> Dict[str, int]:
        """The counters of the store's background work in this process: ``expired_removed``,
        ``expiry_batches``, ``expiry_panics``, ``expiry_errors``, ``readers_reclaimed``,
        ``map_size`` and ``used_bytes`` (one per ``TTLKV_STAT_*`` constant of the header)."""
        s = _take()
        try:
            stats = {}
            for name, which in _ffi.STATS.items():
                rc = _lib.ttlkv_stat(self._h, which, s.u64_p)
                if rc != _OK:
                    raise self._fail(rc, f"stat {name}")
                stats[name] = s.u64.value
            return stats
        finally:
            _pool.append(s)

    def verify(self) -> List[str]:
        """Checks that the entries and the deadline index agree, in one snapshot. Returns the
        problems found (the first ones, one text each; empty when the store is consistent)."""
        s = _take()
        rc = _lib.ttlkv_verify(self._h, s.u64_p)
        problems = s.u64.value
        _pool.append(s)
        if rc != _OK:
            raise self._fail(rc, "verify")
        if not problems:
            return []
        lines = [line for line in _ffi.decode(_lib.ttlkv_last_error()).splitlines() if line]
        return lines or [f"{problems} problem(s)"]


def _namespace_arg(name: Any) -> bytes:
    # Store-level calls leave the length check to the library (TTLKV_NAMESPACE_INVALID).
    if type(name) is bytes:
        return name
    if isinstance(name, str):
        return name.encode("utf-8")
    if isinstance(name, bytes):
        return bytes(name)
    raise TypeError(f"ttlkv namespace names are bytes or str, not {type(name).__name__}")


def _ctx(operation: str, ns: bytes) -> str:
    # Keys are left out of messages on purpose: they are often session tokens.
    return f"{operation} in namespace {ns.decode('utf-8', 'backslashreplace')!r}"


class Namespace:
    """One namespace of a store, with a default TTL; made by :meth:`Store.namespace`.

    Supports ``ns[key]`` (``KeyError`` when absent), ``ns[key] = value`` (default TTL),
    ``del ns[key]`` (``KeyError`` when absent), ``key in ns`` and ``iter(ns)`` (a snapshot of
    the keys). Values are ``bytes`` unless the namespace has a serializer.
    """

    __slots__ = ("store", "name", "ttl", "serializer", "_ns", "_nsl", "_ms", "_ttl_c", "__weakref__")

    def __init__(
        self, store: Store, name: Key, ttl: TTL, serializer: Optional[Serializer] = None
    ) -> None:
        self.store: Store = store
        self.name: Key = name
        self._ns: bytes = _namespace(name)
        self._nsl: c_size_t = _size(len(self._ns))
        self._ms: int = ttl_to_ms(ttl)
        self._ttl_c: c_uint64 = _ttl_c(ttl)
        self.ttl: TTL = ttl
        if serializer is not None and not (
            callable(getattr(serializer, "dumps", None))
            and callable(getattr(serializer, "loads", None))
        ):
            raise TypeError("a serializer has dumps(obj) -> bytes and loads(bytes) methods")
        self.serializer: Optional[Serializer] = serializer

    def __repr__(self) -> str:
        return f"<ttlkv.Namespace {self.name!r} ttl={self.ttl!r} of {self.store!r}>"

    def put(self, key: Key, value: Any, ttl: TTL = _DEFAULT) -> None:
        """Inserts or overwrites ``key``. ``ttl`` (seconds, ``None`` = never) overrides the
        namespace's default."""
        k = key if type(key) is bytes else _key(key)
        if self.serializer is not None:
            value = self.serializer.dumps(value)
        v = value if type(value) is bytes else _value(value)
        ttl_c = self._ttl_c if ttl is _DEFAULT else _ttl_c(ttl)
        n = len(k)
        kl = _SIZES[n] if n <= 1024 else c_size_t(n)
        n = len(v)
        vl = _SIZES[n] if n <= 1024 else c_size_t(n)
        ns = self._ns
        store = self.store
        rc = _fput(store._h, ns, self._nsl, k, kl, v, vl, ttl_c)
        if rc != _OK:
            raise store._fail(rc, _ctx("put", ns))

    def get(self, key: Key, default: Any = None) -> Any:
        """The value of ``key`` (``bytes``, or the serializer's object), or ``default`` if it is
        absent or expired."""
        k = key if type(key) is bytes else _key(key)
        try:
            kl = _SIZES[len(k)]
        except IndexError:
            kl = c_size_t(len(k))
        try:
            s = _pool.pop()
        except IndexError:
            s = _Scratch()
        rc = _fget_into(self.store._h, self._ns, self._nsl, k, kl, s.cbuf, s.cap_c, s.len_p)
        if not rc:
            data = s.slices[s.len.value].tobytes()
            _pool.append(s)
            if self.serializer is None:
                return data
            return self.serializer.loads(data)
        _pool.append(s)
        if rc == _NOT_FOUND:
            return default
        return self._get_slow(rc, k, s, default)

    def _get_slow(self, rc: int, k: bytes, s: _Scratch, default: Any) -> Any:
        store, ns = self.store, self._ns
        if rc != _BUFFER_TOO_SMALL:
            raise store._fail(rc, _ctx("get", ns))
        data = _read_large(store, store._h, ns, k, s, _ctx("get", ns))
        if data is None:
            return default
        if self.serializer is not None:
            return self.serializer.loads(data)
        return data

    def delete(self, key: Key) -> bool:
        """Removes ``key``; ``True`` if a live entry was removed."""
        return self.store.delete(self._ns, key)

    def deadline(self, key: Key) -> Optional[float]:
        """When ``key`` expires, as a Unix timestamp in seconds; ``math.inf`` if it never
        does; ``None`` if it is absent or expired."""
        return self.store.deadline(self._ns, key)

    def keys(self) -> List[bytes]:
        """Every live key, in key order (a ``str`` key comes back as its UTF-8 bytes)."""
        return _list_keys(self.store, self._ns, _ctx("keys", self._ns))

    def items(self) -> List[Tuple[bytes, Any]]:
        """Every live ``(key, value)``, in key order, from one consistent snapshot (so, unlike
        reading each key of :meth:`keys`, no entry expires in between)."""
        entries = _list_entries(self.store, self._ns, _ctx("items", self._ns))
        if self.serializer is None:
            return entries
        loads = self.serializer.loads
        return [(k, loads(v)) for k, v in entries]

    def values(self) -> List[Any]:
        """Every live value, in key order (see :meth:`items`)."""
        return [v for _, v in self.items()]

    def max_key_len(self) -> int:
        """The longest key this namespace takes, in bytes."""
        return self.store.max_key_len(self._ns)

    def put_many(
        self,
        items: Union[Mapping[Key, Any], Iterable[Tuple[Key, Any]]],
        ttl: TTL = _DEFAULT,
    ) -> None:
        """Writes every ``key: value`` of ``items`` (a mapping or pairs) in one transaction,
        with one TTL (default: the namespace's). All or none."""
        ms = self._ms if ttl is _DEFAULT else ttl_to_ms(ttl)
        pairs = items.items() if isinstance(items, Mapping) else items
        dumps = self.serializer.dumps if self.serializer is not None else None
        ns = self._ns
        prepared = [
            (ns, _key(k), _value(dumps(v) if dumps is not None else v), ms) for k, v in pairs
        ]
        _write_many(self.store, prepared, _ctx("put_many", ns))

    def __getitem__(self, key: Key) -> Any:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __setitem__(self, key: Key, value: Any) -> None:
        self.put(key, value)

    def __delitem__(self, key: Key) -> None:
        if not self.delete(key):
            raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return self.store.deadline(self._ns, key) is not None  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.keys())
