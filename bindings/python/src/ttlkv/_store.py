"""``Store``: a handle on one store directory, its options, and the store-level operations.

The native calls are in ``_native.py``, the argument conversions in ``_convert.py``, what
happens to a forgotten handle in ``_lifetime.py``, and the namespace view in
``_namespace.py``.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple, Union

from . import _ffi, _lifetime, _native
from ._abi import CONSTANTS, STATUS
from ._convert import TTL, BytesLike, Key, ReplicaRecord, context, namespace_bytes, path_bytes, seconds_to_ms, ttl_to_ms
from ._convert import to_key as _key
from ._convert import to_keys as _keys
from ._convert import to_limit as _limit
from ._convert import to_replica_key as _replica_key
from ._convert import to_replica_record as _replica_record
from ._convert import to_u32 as _u32
from ._convert import to_u64 as _u64
from ._convert import to_value as _value
from ._convert import to_version as _version
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
_ON_CORRUPTION = {
    "error": CONSTANTS["TTLKV_ON_CORRUPTION_ERROR"],
    "reset": CONSTANTS["TTLKV_ON_CORRUPTION_RESET"],
}


class CorruptionResetWarning(UserWarning):
    """Opening with ``on_corruption="reset"`` found the store damaged and replaced it with an
    empty one (the old directory is kept aside; :meth:`Store.corruption_reset` names it)."""
_U64_MAX = (1 << 64) - 1
_NEVER_C = _ttl_c(None)  # the create TTL of an incr that creates nothing (ignored by the library)
#: The eviction policies of the size bound, by the names Python uses: the header's
#: TTLKV_EVICTION_<NAME> in lower case ("soonest_deadline", "none").
_EVICTION = {
    name[len("TTLKV_EVICTION_"):].lower(): value
    for name, value in CONSTANTS.items()
    if name.startswith("TTLKV_EVICTION_")
}
_EVICTION_NAMES = {value: name for name, value in _EVICTION.items()}
_BACKUP_COMPACT = CONSTANTS["TTLKV_BACKUP_COMPACT"]
_MAX_DIGEST_BUCKETS = CONSTANTS["TTLKV_MAX_DIGEST_BUCKETS"]
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


class _Omitted:
    """The default of ``Store.incr(create_ttl=...)``: no TTL given, so no counter is created."""

    def __repr__(self) -> str:
        return "<not given: a missing counter raises KeyError>"


_OMITTED: Any = _Omitted()


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
        crash_safe: periodic mode only: keep the last flush reachable across a power loss or
            OS crash. Each flush pins its snapshot and keeps its meta page in the flush mark;
            opening after an unclean shutdown of the machine returns the store to exactly that
            flush and verifies it (``stats()["rolled_back_at_open"]``). The price: commits
            cannot reuse pages freed since the last flush, so sustained writes grow the file
            and are bounded by the disk's write speed (README, Durability). It holds while
            every process writing the store opens it so. Default False.
        allow_shared_dir: accept an existing directory that other users could tamper with:
            one owned by another user, or writable by its group or by others. By default such
            a directory raises :class:`PermissionDeniedError` (naming ``allow_shared_dir``),
            because its other users could swap ``lock.mdb`` or ``data.mdb`` for a link to one
            of your files. Set it only for a directory shared on purpose by users who trust
            each other. Store files that are links, hard-linked or not regular files raise
            :class:`PathInvalidError` either way. Default False.
        on_corruption: what opening a damaged store does (README, "After a crash of the
            machine"): ``"error"`` (default) raises :class:`CorruptedError` naming the path and
            touches nothing; ``"reset"`` renames the directory aside
            (``<dir>.corrupted-<unix ms>``), opens a fresh, empty store in its place and warns
            with :class:`CorruptionResetWarning`; :meth:`corruption_reset` tells where the old
            store went. Recommended for a cache whose contents can be rebuilt.
        clock_offset_ms: test hook (``ttlkv_options_set_clock_offset_ms``): the store's clock
            is the system's wall clock shifted by this many milliseconds (negative: behind),
            as on a machine whose clock is off, for tests of clock skew between replicating
            stores. Every deadline and version made through the directory's environment in
            this process uses it. Like the other options it takes effect when this process
            opens the directory first; a second open of an open directory shares the first
            one's clock. Default 0. Not for production use.

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
        on_corruption: str = "error",
        crash_safe: bool = False,
        clock_offset_ms: int = 0,
    ) -> None:
        self._closed = True
        self.path: str
        self.path, encoded = path_bytes(path)
        options = _options(
            durability, sync_interval, map_size, max_map_size, max_readers, write_map, allow_shared_dir,
            clock_offset_ms, crash_safe,
        )
        if on_corruption not in _ON_CORRUPTION:
            raise binding_error(
                STATUS["TTLKV_INVALID_ARGUMENT"],
                f"on_corruption is 'error' or 'reset', not {on_corruption!r}",
            )
        options.append(("on_corruption", _ON_CORRUPTION[on_corruption]))
        self.durability = durability
        handle = _native.open_store(encoded, options, f"opening {self.path!r}")
        self._h = handle
        #: The handle's address, for the compiled calls (ttlkv._speedups).
        self._hv: Optional[int] = _ffi.handle_address(handle)
        self._closed = False
        self._finalizer = _lifetime.track(self, handle)
        if on_corruption == "reset":
            aside = self.corruption_reset()
            if aside is not None:
                warnings.warn(
                    f"ttlkv: the store at {self.path!r} was damaged: it was moved to {aside!r} "
                    "and an empty store opened in its place (on_corruption='reset')",
                    CorruptionResetWarning,
                    stacklevel=2,
                )

    def corruption_reset(self) -> Optional[str]:
        """Where a damaged store went when the open of this directory's environment in this
        process reset it (``on_corruption="reset"``), or ``None``."""
        aside = _native.corruption_reset(self._h, f"corruption_reset of {self.path!r}")
        return None if aside is None else os.fsdecode(aside)

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

    # -- cache operations (README "Cache operations"; each one call, atomic) -------------------

    def touch(self, namespace: Key, key: Key, ttl: TTL) -> bool:
        """Gives the live entry ``key`` the deadline now + ``ttl`` (``None``: never), keeping its
        value and version. ``True`` if there was a live entry; an expired one is not brought
        back."""
        ns = namespace_bytes(namespace)
        k = key if type(key) is bytes else _key(key)
        return _native.touch(self._h, ns, _size(len(ns)), k, _ttl_c(ttl), "touch")

    def add(self, namespace: Key, key: Key, value: BytesLike, ttl: TTL) -> bool:
        """Writes ``key`` only if it has no live entry (an expired one counts as absent), atomically
        across threads and processes. ``True`` if it was written."""
        ns = namespace_bytes(namespace)
        k = key if type(key) is bytes else _key(key)
        v = value if type(value) is bytes else _value(value)
        return _native.add(self._h, ns, _size(len(ns)), k, v, _ttl_c(ttl), "add")

    def incr(self, namespace: Key, key: Key, delta: int = 1, *, create_ttl: TTL = _OMITTED) -> int:
        """Adds ``delta`` to the counter ``key`` atomically and returns the new value.

        Counters are ASCII decimal signed 64-bit integers in the store (``b"42"``), readable
        from every language; an existing counter keeps its deadline. A missing counter is
        created with the value ``delta`` and the TTL ``create_ttl`` (``None``: never expires)
        when ``create_ttl`` is given; without it a missing counter raises :class:`KeyError`
        (a store has no default TTL to create it with; see :meth:`Namespace.incr`).

        Raises:
            KeyError: the counter is missing and no ``create_ttl`` was given.
            NotACounterError: the value is not such an integer; nothing is written.
            CounterOverflowError: the sum (or ``delta`` itself) leaves the signed 64-bit range;
                the counter is unchanged.
        """
        ns = namespace_bytes(namespace)
        k = key if type(key) is bytes else _key(key)
        delta_c = _native.delta_c(delta)
        if create_ttl is _OMITTED:
            flags, ttl_c = _native.NO_FLAGS, _NEVER_C
        else:
            flags, ttl_c = _native.CREATE, _ttl_c(create_ttl)
        value = _native.incr(self._h, ns, _size(len(ns)), k, delta_c, flags, ttl_c, "incr")
        if value is None:
            raise KeyError(key)
        return value

    def decr(self, namespace: Key, key: Key, delta: int = 1, *, create_ttl: TTL = _OMITTED) -> int:
        """:meth:`incr` by ``-delta`` (a missing counter is created with ``-delta``)."""
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise TypeError(f"a decr delta is an int, not {type(delta).__name__}")
        return self.incr(namespace, key, -delta, create_ttl=create_ttl)

    def take(self, namespace: Key, key: Key, default: Any = None) -> Any:
        """Removes the live entry ``key`` and returns its value (``bytes``), atomically: of two
        callers taking one key, one gets it. ``default`` if there was none."""
        ns = namespace_bytes(namespace)
        k = key if type(key) is bytes else _key(key)
        value = _native.take(self._h, ns, _size(len(ns)), k, "take")
        return default if value is _MISSING else value

    def get_versioned(self, namespace: Key, key: Key) -> Optional[Tuple[bytes, int]]:
        """``(value, version)`` of ``key``, or ``None`` if it is absent or expired. The version
        (an int, never 0) changes with every write of the value (put, add, incr,
        put_if_version; not touch) and never repeats for a key: pass it to
        :meth:`put_if_version`."""
        ns = namespace_bytes(namespace)
        k = key if type(key) is bytes else _key(key)
        return _native.get_versioned(self._h, ns, k, "get_versioned")

    def put_if_version(
        self, namespace: Key, key: Key, value: BytesLike, expected: Optional[int], ttl: TTL
    ) -> Optional[int]:
        """Compare-and-set: writes ``key`` (value and deadline, like :meth:`put`) only if its
        live entry has the version ``expected`` (from :meth:`get_versioned`), or, with
        ``expected=None``, only if it has no live entry. Returns the new version, or ``None``
        on a conflict (nothing written) — a result, not an exception. (C and Rust take
        ``ttl`` before ``expected``; here ``ttl`` comes last, as in every Python write.)"""
        ns = namespace_bytes(namespace)
        k = key if type(key) is bytes else _key(key)
        v = value if type(value) is bytes else _value(value)
        version = _version(expected)
        ms = ttl_to_ms(ttl)
        return _native.put_if_version(self._h, ns, k, v, ms, version, "put_if_version")

    def get_many(self, namespace: Key, keys: Iterable[Key]) -> Dict[Any, bytes]:
        """The values of ``keys`` from one read snapshot, as a dict ``{key: value}`` keyed by the
        keys as given (``str`` stays ``str``); absent and expired keys are left out (Django's
        ``get_many``). At most ``MAX_KEYS_PER_CALL`` keys (else :class:`BatchTooLargeError`)."""
        ns = namespace_bytes(namespace)
        given, encoded = _keys(keys)
        return _native.get_many(self._h, ns, encoded, given, "get_many")

    def delete_many(self, namespace: Key, keys: Iterable[Key]) -> int:
        """Removes ``keys`` in one transaction; returns how many live entries went. At most
        ``MAX_KEYS_PER_CALL`` keys."""
        ns = namespace_bytes(namespace)
        _, encoded = _keys(keys)
        return _native.delete_many(self._h, ns, encoded, "delete_many")

    def clear(self, namespace: Key) -> int:
        """Removes every entry of ``namespace``, in transactions of at most 10,000 entries
        (other readers and writers go on between them); returns how many live entries went."""
        ns = namespace_bytes(namespace)
        return _native.clear(self._h, ns, "clear")

    def count(self, namespace: Key) -> int:
        """The number of live entries of ``namespace``, from one snapshot (it reads every
        entry of the namespace)."""
        ns = namespace_bytes(namespace)
        return _native.count(self._h, ns, "count")

    def namespaces(self) -> List[bytes]:
        """Every namespace with a live entry, in byte order, from one snapshot."""
        return _native.namespaces(self._h)

    def scan(
        self, namespace: Key, prefix: Key = b"", after: Optional[Key] = None, limit: int = 1000
    ) -> List[Tuple[bytes, bytes]]:
        """One page: at most ``limit`` live ``(key, value)`` of ``namespace`` whose keys start with
        ``prefix``, in key order, strictly after the key ``after`` (``None`` for the first page;
        then the last key of the previous page — ``b""`` is the empty key, not "no cursor"),
        from one snapshot. A page shorter than ``limit`` is the last. ``limit`` is 1 to
        ``MAX_KEYS_PER_CALL``. :meth:`iter_prefix` pages for you."""
        ns = namespace_bytes(namespace)
        p = prefix if type(prefix) is bytes else _key(prefix)
        a = None if after is None else after if type(after) is bytes else _key(after)
        return _native.scan(self._h, ns, p, a, _limit(limit), "scan")

    def iter_prefix(
        self, namespace: Key, prefix: Key = b"", *, page_size: int = 1000
    ) -> Iterator[Tuple[bytes, bytes]]:
        """Every live ``(key, value)`` of ``namespace`` whose key starts with ``prefix``, in key
        order, read lazily with :meth:`scan` one page of ``page_size`` at a time. Each page is
        one snapshot, the whole iteration is not: an entry written or removed meanwhile may or
        may not be seen, but no key comes twice and the order holds (each page starts strictly
        after the last key of the one before). Arguments are checked at the call."""
        ns = namespace_bytes(namespace)
        p = prefix if type(prefix) is bytes else _key(prefix)
        return _paging(self, ns, p, _limit(page_size, "page_size"))

    def set_max_bytes(self, max_bytes: Optional[int], eviction: str = "soonest_deadline") -> None:
        """Bounds the bytes of the store's B-tree (``stats()["tree_bytes"]``) at ``max_bytes``
        (at least 64 KiB, ``MIN_MAX_BYTES``; ``None``: no bound), for every process: the bound
        is kept in the store. ``eviction="soonest_deadline"`` (default): a write that would
        pass the bound first evicts entries, soonest deadline first (expired ones first of all,
        never-expiring ones last, never one the write itself makes). ``eviction="none"``: such
        a write raises :class:`FullError` and writes nothing."""
        if max_bytes is None:
            bound = 0
        elif isinstance(max_bytes, bool) or not isinstance(max_bytes, int):
            raise TypeError(f"max_bytes is an int or None, not {type(max_bytes).__name__}")
        elif not 0 < max_bytes <= _U64_MAX:
            raise binding_error(
                STATUS["TTLKV_INVALID_ARGUMENT"],
                f"max_bytes is at least {CONSTANTS['TTLKV_MIN_MAX_BYTES']} bytes, or None for no "
                f"bound; got {max_bytes}",
            )
        else:
            bound = max_bytes
        policy = _EVICTION.get(eviction) if isinstance(eviction, str) else None
        if policy is None:
            names = " or ".join(repr(name) for name in _EVICTION)
            raise binding_error(STATUS["TTLKV_INVALID_ARGUMENT"], f"eviction is {names}, not {eviction!r}")
        _native.set_max_bytes(self._h, bound, policy)

    def max_bytes(self) -> Tuple[Optional[int], str]:
        """The store's size bound and its eviction policy: ``(bytes or None, "soonest_deadline"
        or "none")``."""
        bound, eviction = _native.max_bytes(self._h)
        return (bound or None), _EVICTION_NAMES.get(eviction, f"unknown ({eviction})")

    def backup(self, dest: Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"], compact: bool = False) -> None:
        """Copies the store into the directory ``dest`` (created, mode 0700, when absent; else it
        must be empty) from one read snapshot while readers and writers go on, with every
        entry, deadline and the size bound: the copy opens as a :class:`Store`. With
        ``compact=True`` free pages are left out, so the copy is as large as the data — the way
        to shrink a store's file (open the copy in place of the original once every process
        closed it)."""
        if not isinstance(compact, bool):
            raise TypeError("compact is a bool")
        text, encoded = path_bytes(dest, "backup path")
        flags = _BACKUP_COMPACT if compact else 0
        _native.backup(self._h, encoded, flags, f"backup to {text!r}")

    # -- replication (the order and the protocol: src/store/replica.rs) ----------------------

    def origin(self) -> int:
        """This store's origin: a 64-bit number naming the store (the first 8 bytes of its id),
        the tie-break between records of the same version from two stores. The same in every
        process that opens the directory."""
        return _native.origin(self._h)

    def set_replicated(self, on: bool) -> None:
        """Makes the store replicating (``True``) or not, for every process, persistently: from
        then on a delete (also :meth:`take`, :meth:`delete_many`) leaves a tombstone that reads
        as absent everywhere (and that :meth:`records` and :meth:`versions` show, so that the
        delete reaches the peers), and a touch takes a new version."""
        if not isinstance(on, bool):
            raise TypeError(f"set_replicated takes a bool, not {type(on).__name__}")
        _native.set_replicated(self._h, on)

    def replicated(self) -> bool:
        """Whether the store replicates (:meth:`set_replicated`)."""
        return _native.replicated(self._h)

    def records(self, keys: Iterable[Tuple[Key, Key]]) -> List[ReplicaRecord]:
        """The stored, unexpired record (entry or tombstone) of each ``(namespace, key)`` pair,
        in the order asked, from one snapshot, as :class:`ReplicaRecord` objects with their
        values; keys without one are left out. At most ``MAX_KEYS_PER_CALL`` keys."""
        if isinstance(keys, (str, bytes, bytearray, memoryview)):
            raise TypeError(f"keys is an iterable of (namespace, key) pairs, not a single {type(keys).__name__}")
        pairs = [_replica_key(pair) for pair in keys]
        return _native.records(self._h, pairs, "records")

    def merge(self, records: Iterable[ReplicaRecord]) -> int:
        """Merges records of other stores (from their :meth:`records`) in one transaction: each
        is written unless the stored record of its key is newer or the same by ``(version,
        origin)``, or its deadline has passed. Returns how many were written. A merge advances
        this process's clock to the highest version seen, so a later local write wins over
        what was merged.

        One bad record (a bad namespace, key or value, a tombstone with a value) raises
        (:class:`InvalidArgumentError` or a subclass) and writes nothing; so does a batch over
        ``MAX_BATCH_RECORDS`` records or ``MAX_BATCH_BYTES`` bytes (:class:`BatchTooLargeError`).
        """
        if isinstance(records, ReplicaRecord):
            raise TypeError("merge takes an iterable of ReplicaRecord objects, not a single one")
        items = [_replica_record(r) for r in records]
        return _native.merge(self._h, items, "merge")

    def digest(self, buckets: int, cutoff: int = 0) -> List[int]:
        """Anti-entropy's first step: ``buckets`` hashes (1 to ``MAX_DIGEST_BUCKETS``), each the
        XOR of a hash of ``(namespace, key, version, origin)`` over one bucket's records
        (entries and tombstones) whose deadline is after ``cutoff``, in milliseconds since the
        Unix epoch like :attr:`ReplicaRecord.deadline` (pass a moment a little ahead of now to
        leave out what is about to expire, which two stores may see on either side of its
        deadline). Two stores holding the same records have the same digest; compare a
        differing bucket's :meth:`versions`. One snapshot; it reads every record.

        The default ``cutoff=0`` counts every stored record, also expired ones the expiry
        thread has not removed yet (which :meth:`records` no longer gives): in a real exchange
        pass at least the current time (``int(time.time() * 1000)``)."""
        n = _buckets(buckets)
        return _native.digest(self._h, n, _u64(cutoff, "cutoff"), "digest")

    def versions(self, buckets: int, which: Iterable[int], cutoff: int = 0) -> List[ReplicaRecord]:
        """The records of the buckets ``which`` (numbers below ``buckets``, counted as
        :meth:`digest` counts them) whose deadline is after ``cutoff``, in key order, without
        their values (``value`` is ``b""``): what to compare with a peer's before asking
        :meth:`records` for the newer ones."""
        n = _buckets(buckets)
        if isinstance(which, (str, bytes, bytearray, memoryview)):
            raise TypeError(f"which is an iterable of bucket numbers, not {type(which).__name__}")
        chosen = [_u32(b, "bucket") for b in which]
        return _native.versions(self._h, n, chosen, _u64(cutoff, "cutoff"), "versions")

    def bucket_records(self, buckets: int, which: Iterable[int], cutoff: int = 0) -> List[ReplicaRecord]:
        """:meth:`versions` with the values: what a store holding nothing in those buckets (a
        node joining a cluster) takes whole with :meth:`merge`, without comparing first."""
        n = _buckets(buckets)
        if isinstance(which, (str, bytes, bytearray, memoryview)):
            raise TypeError(f"which is an iterable of bucket numbers, not {type(which).__name__}")
        chosen = [_u32(b, "bucket") for b in which]
        return _native.bucket_records(self._h, n, chosen, _u64(cutoff, "cutoff"), "bucket_records")

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


def _paging(store: Store, ns: bytes, prefix: bytes, page_size: int) -> Iterator[Tuple[bytes, bytes]]:
    """The pages of ``scan``, one after the other (see :meth:`Store.iter_prefix`). It holds the
    store, not only its handle: a store that is garbage frees its handle."""
    after: Optional[bytes] = None
    while True:
        page = _native.scan(store._h, ns, prefix, after, page_size, "scan")
        yield from page
        if len(page) < page_size:
            return
        after = page[-1][0]


def _buckets(buckets: Any) -> int:
    """The ``buckets`` of a digest, checked here: it sizes the array the digest is written to
    (and ctypes would wrap one past 32 bits)."""
    if isinstance(buckets, bool) or not isinstance(buckets, int):
        raise TypeError(f"buckets is an int, not {type(buckets).__name__}")
    if not 1 <= buckets <= _MAX_DIGEST_BUCKETS:
        raise binding_error(
            STATUS["TTLKV_INVALID_ARGUMENT"],
            f"buckets is 1 to {_MAX_DIGEST_BUCKETS} (TTLKV_MAX_DIGEST_BUCKETS), got {buckets}",
        )
    return buckets


def _options(
    durability: str,
    sync_interval: Optional[float],
    map_size: Optional[int],
    max_map_size: Optional[int],
    max_readers: Optional[int],
    write_map: bool,
    allow_shared_dir: bool,
    clock_offset_ms: int = 0,
    crash_safe: bool = False,
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
    if not isinstance(crash_safe, bool):
        raise TypeError("crash_safe is a bool")
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
    if crash_safe:
        options.append(("crash_safe", 1))
    if isinstance(clock_offset_ms, bool) or not isinstance(clock_offset_ms, int):
        raise TypeError("clock_offset_ms is an int (milliseconds)")
    if not _INT64_MIN <= clock_offset_ms <= _INT64_MAX:
        raise binding_error(
            STATUS["TTLKV_INVALID_ARGUMENT"], f"clock_offset_ms out of the signed 64-bit range: {clock_offset_ms!r}"
        )
    if clock_offset_ms:
        options.append(("clock_offset_ms", clock_offset_ms))
    for name, value in (("map_size", map_size), ("max_map_size", max_map_size), ("max_readers", max_readers)):
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} is an int")
            if value <= 0 or value >= 1 << (32 if name == "max_readers" else 64):
                raise binding_error(STATUS["TTLKV_INVALID_ARGUMENT"], f"{name} out of range: {value!r}")
            options.append((name, value))
    return options
