"""``Store``: a handle on one store directory, its options, and the store-level operations.

The native calls are in ``_native.py``, the argument conversions in ``_convert.py``, what
happens to a forgotten handle in ``_lifetime.py``, and the namespace view in
``_namespace.py``.
"""

from __future__ import annotations

import math
import os
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

from . import _ffi, _lifetime, _native
from ._abi import STATUS
from ._convert import TTL, BytesLike, Key, context, namespace_bytes, seconds_to_ms, ttl_to_ms
from ._convert import to_key as _key
from ._convert import to_value as _value
from ._errors import binding_error
from ._errors import make_error as _make_error
from ._namespace import Namespace
from ._native import MISSING as _MISSING
from ._native import size as _size
from ._native import ttl_c as _ttl_c
from ._serializers import Serializer

__all__ = ["Store"]

_fput = _ffi.fast.ttlkv_put
_read = _native.read
_DEADLINE_NEVER_MS = _ffi.DEADLINE_NEVER_MS
_DURABILITY = {"sync": _ffi.DURABILITY_SYNC, "periodic": _ffi.DURABILITY_PERIODIC}
_U64_MAX = (1 << 64) - 1


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
                raise binding_error(
                    STATUS["TTLKV_PATH_INVALID"], f"path {fspath!r} is not valid UTF-8"
                ) from None
        else:
            encoded = fspath
        if b"\0" in encoded:
            raise binding_error(STATUS["TTLKV_PATH_INVALID"], "path contains a NUL byte")
        options = _options(
            durability, sync_interval, map_size, max_map_size, max_readers, write_map, allow_shared_dir
        )
        self.durability = durability
        handle = _native.open_store(encoded, options, f"opening {self.path!r}")
        self._h = handle
        self._closed = False
        self._finalizer = _lifetime.track(self, handle)

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
        _native.close(self._h, f"closing {self.path!r}")

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

    def namespace(self, name: Key, ttl: TTL, *, serializer: Optional[Serializer] = None) -> Namespace:
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
            raise binding_error(STATUS["TTLKV_CLOSED"], "the store is closed")
        return Namespace(self, name, ttl, serializer)

    # -- store-level operations --------------------------------------------------------------

    def put(self, namespace: Key, key: Key, value: BytesLike, ttl: TTL) -> None:
        """Inserts or overwrites ``key`` in ``namespace``, to expire ``ttl`` seconds from now
        (``None``: never)."""
        ns = namespace_bytes(namespace)
        k = key if type(key) is bytes else _key(key)
        v = value if type(value) is bytes else _value(value)
        ttl_c = _ttl_c(ttl)
        rc = _fput(self._h, ns, _size(len(ns)), k, _size(len(k)), v, _size(len(v)), ttl_c)
        if rc:
            raise _make_error(rc, context("put", ns))

    def get(self, namespace: Key, key: Key, default: Any = None) -> Any:
        """The value of ``key`` as ``bytes``, or ``default`` if it is absent or expired."""
        ns = namespace_bytes(namespace)
        data = _read(self._h, ns, key if type(key) is bytes else _key(key), "get")
        return default if data is _MISSING else data

    def delete(self, namespace: Key, key: Key) -> bool:
        """Removes ``key``; ``True`` if a live entry was removed."""
        ns = namespace_bytes(namespace)
        k = key if type(key) is bytes else _key(key)
        return _native.delete(self._h, ns, k, context("delete", ns))

    def keys(self, namespace: Key) -> List[bytes]:
        """Every live key of ``namespace``, in key order."""
        ns = namespace_bytes(namespace)
        return _native.list_keys(self._h, ns, context("keys", ns))

    def deadline(self, namespace: Key, key: Key) -> Optional[float]:
        """When ``key`` expires, as a Unix timestamp in seconds; ``math.inf`` if it never
        does; ``None`` if it is absent or expired."""
        ns = namespace_bytes(namespace)
        k = key if type(key) is bytes else _key(key)
        ms = _native.deadline_of(self._h, ns, k, context("deadline", ns))
        if ms is None:
            return None
        return math.inf if ms == _DEADLINE_NEVER_MS else ms / 1000

    def put_many(self, records: Iterable[Tuple[Key, Key, BytesLike, TTL]]) -> None:
        """Writes ``(namespace, key, value, ttl)`` records in one transaction: all or none.

        A batch over ``MAX_BATCH_RECORDS`` records or ``MAX_BATCH_BYTES`` bytes raises
        :class:`BatchTooLargeError` and writes nothing.
        """
        batch = [(namespace_bytes(ns), _key(k), _value(v), ttl_to_ms(ttl)) for ns, k, v, ttl in records]
        _native.write_many(self._h, batch, "put_many")

    def entries(self, namespace: Key) -> List[Tuple[bytes, bytes]]:
        """Every live ``(key, value)`` of ``namespace`` in key order, from one snapshot."""
        ns = namespace_bytes(namespace)
        return _native.list_entries(self._h, ns, context("entries", ns))

    def max_key_len(self, namespace: Key) -> int:
        """The longest key ``namespace`` takes, in bytes (about 490 for a short name)."""
        ns = namespace_bytes(namespace)
        return _native.max_key_len(self._h, ns, context("max_key_len", ns))

    # -- maintenance -------------------------------------------------------------------------

    def flush(self) -> None:
        """Flushes committed writes to disk now (``ttlkv_flush``): for periodic durability,
        e.g. before a planned stop; cheap in sync mode."""
        _native.flush(self._h)

    def purge_expired(self) -> int:
        """Removes every entry whose deadline has passed, now, without waiting for the
        background expiry thread; returns how many this call removed. Never needed for
        correctness: expired entries are never returned."""
        return _native.purge_expired(self._h)

    def stats(self) -> Dict[str, int]:
        """The counters of the store's background work in this process, by name: one per
        counter of the loaded library (``ttlkv_stat_name``), e.g. ``expired_removed``,
        ``map_size``, ``used_bytes``, ``write_commits``. The counters are those of this
        process's environment, shared by its handles on the directory."""
        return _native.stats(self._h)

    def verify(self) -> List[str]:
        """Checks that the entries and the deadline index agree, in one snapshot. Returns the
        problems found (the first ones, one text each; empty when the store is consistent)."""
        return _native.verify(self._h)


def _options(
    durability: str,
    sync_interval: Optional[float],
    map_size: Optional[int],
    max_map_size: Optional[int],
    max_readers: Optional[int],
    write_map: bool,
    allow_shared_dir: bool,
) -> List[Tuple[str, int]]:
    """The checked arguments of ``Store()`` as ``ttlkv_options_set_<name>(value)`` calls.

    Types and ranges the library cannot see (a bool, a float, a value ctypes would wrap) are
    checked here; the library checks the rest (the ranges of its options)."""
    if durability not in _DURABILITY:
        raise binding_error(
            STATUS["TTLKV_INVALID_ARGUMENT"],
            f"durability is 'sync' or 'periodic', not {durability!r}",
        )
    if not isinstance(write_map, bool):
        raise TypeError("write_map is a bool")
    if not isinstance(allow_shared_dir, bool):
        raise TypeError("allow_shared_dir is a bool")
    options = [("durability", _DURABILITY[durability])]
    if sync_interval is not None:
        if isinstance(sync_interval, bool) or not isinstance(sync_interval, (int, float)):
            raise TypeError("sync_interval is a number of seconds")
        if not sync_interval > 0 or sync_interval == math.inf:
            raise binding_error(
                STATUS["TTLKV_INVALID_ARGUMENT"],
                f"sync_interval must be positive seconds, got {sync_interval!r}",
            )
        # Rounded up (never 0); clamped so that ctypes cannot wrap a huge one into range: the
        # library checks the range (1 ms to 1 day).
        options.append(("sync_interval_ms", min(seconds_to_ms(sync_interval), _U64_MAX)))
    if write_map:
        options.append(("write_map", 1))
    if allow_shared_dir:
        options.append(("allow_shared_dir", 1))
    for name, value in (("map_size", map_size), ("max_map_size", max_map_size), ("max_readers", max_readers)):
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} is an int")
            if value <= 0 or value >= 1 << (32 if name == "max_readers" else 64):
                raise binding_error(STATUS["TTLKV_INVALID_ARGUMENT"], f"{name} out of range: {value!r}")
            options.append((name, value))
    return options
