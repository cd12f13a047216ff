"""``Namespace``: one namespace of a store, with a default TTL: a ``MutableMapping``."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, Union

from . import _ffi, _native
from ._convert import TTL, Key, checked_namespace, context, ttl_to_ms
from ._convert import to_key as _key
from ._convert import to_keys as _keys
from ._convert import to_value as _value
from ._convert import to_version as _version
from ._errors import make_error as _make_error
from ._native import MISSING as _MISSING
from ._native import Scratch as _Scratch
from ._native import read_large as _read_large
from ._native import size as _size
from ._native import ttl_c as _ttl_c
from ._serializers import Serializer

if TYPE_CHECKING:  # for annotations only: _store imports this module, never the reverse
    from ._store import Store

__all__ = ["Namespace"]

# Bound by assignment, not `from ... import ... as`: CPython compiles `name.method()` on a
# name an import statement bound as a module attribute load (a new bound method each call)
# instead of a method call, which costs ~1,000 instructions per get on the pool below.
_pool = _native.pool
_fput = _ffi.fast.ttlkv_put
_fget_into = _ffi.fast.ttlkv_get_into
_sget = None if _ffi.speedups is None else _ffi.speedups.get
_sput = None if _ffi.speedups is None else _ffi.speedups.put
_SIZES = _ffi.SIZES
_size_t = _ffi.size_t
_NOT_FOUND = _ffi.NOT_FOUND
_BUFFER_TOO_SMALL = _ffi.BUFFER_TOO_SMALL
_CREATE = _native.CREATE
_NO_FLAGS = _native.NO_FLAGS


class _NamespaceDefault:
    """The ``ttl`` default of ``Namespace.put``: the namespace's own TTL."""

    def __repr__(self) -> str:
        return "<the namespace's ttl>"


_DEFAULT: Any = _NamespaceDefault()


class Namespace(MutableMapping):  # type: ignore[type-arg]
    """One namespace of a store, with a default TTL; made by :meth:`Store.namespace`.

    A complete :class:`collections.abc.MutableMapping` of the namespace's live entries:
    ``ns[key]`` (``KeyError`` when absent), ``ns[key] = value`` (the default TTL),
    ``del ns[key]`` (``KeyError`` when absent), ``key in ns``, ``len(ns)`` (:meth:`count`),
    ``iter(ns)`` (a snapshot of the keys), ``pop``, ``popitem``, ``setdefault``, ``update``,
    ``clear``, ``get``, ``keys``/``items``/``values`` (lists, from one snapshot each; keys
    come back as ``bytes``). Each of them is one atomic call into the store where the
    mapping protocol allows it (``pop`` is :meth:`take`, ``setdefault`` is :meth:`add`,
    ``update`` is :meth:`put_many`, ``clear`` the store's clear). An empty namespace is false.
    Equality and hashing are those of the object (a view of a store, not a value): compare
    ``dict(ns.items())`` for the contents. Values are ``bytes`` unless the namespace has a
    serializer.
    """

    __slots__ = ("store", "name", "ttl", "serializer", "_ns", "_nsl", "_ms", "_ttl_c", "__weakref__")

    def __init__(
        self, store: "Store", name: Key, ttl: TTL, serializer: Optional[Serializer] = None
    ) -> None:
        self.store: Store = store
        self.name: Key = name
        self._ns: bytes = checked_namespace(name)
        self._nsl: Any = _size(len(self._ns))
        self._ms: int = ttl_to_ms(ttl)
        self._ttl_c: Any = _ttl_c(ttl)
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
        k = key if type(key) is bytes else key.encode("utf-8") if type(key) is str else _key(key)  # see get
        if self.serializer is not None:
            value = self.serializer.dumps(value)
        v = value if type(value) is bytes else _value(value)
        ttl_c = self._ttl_c if ttl is _DEFAULT else _ttl_c(ttl)
        ns = self._ns
        if _sput is not None:
            rc = _sput(self.store._hv, ns, k, v, self._ms if ttl is _DEFAULT else ttl_c.value)
            if rc:
                raise _make_error(rc, context("put", ns))
            return
        n = len(k)
        kl = _SIZES[n] if n <= 1024 else _size_t(n)
        n = len(v)
        vl = _SIZES[n] if n <= 1024 else _size_t(n)
        rc = _fput(self.store._h, ns, self._nsl, k, kl, v, vl, ttl_c)
        if rc:
            raise _make_error(rc, context("put", ns))

    def get(self, key: Key, default: Any = None) -> Any:
        """The value of ``key`` (``bytes``, or the serializer's object), or ``default`` if it is
        absent or expired."""
        # to_key's result, inline for the two exact types (a subclass takes the general path)
        k = key if type(key) is bytes else key.encode("utf-8") if type(key) is str else _key(key)
        if _sget is not None:
            r = _sget(self.store._hv, self._ns, k)
            if type(r) is bytes:
                return r if self.serializer is None else self.serializer.loads(r)
            if r is None:
                return default
            raise _make_error(r, context("get", self._ns))
        try:
            kl = _SIZES[len(k)]
        except IndexError:
            kl = _size_t(len(k))
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
        ns = self._ns
        if rc != _BUFFER_TOO_SMALL:
            raise _make_error(rc, context("get", ns))
        data = _read_large(self.store._h, ns, k, s, context("get", ns))
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

    # keys(), entries()/items() and values() are lists, not the views of a dict: a view of a
    # store would read it again at every use, and a list is one snapshot.
    def keys(self) -> List[bytes]:  # type: ignore[override]
        """Every live key, in key order (a ``str`` key comes back as its UTF-8 bytes)."""
        return _native.list_keys(self.store._h, self._ns, context("keys", self._ns))

    def entries(self) -> List[Tuple[bytes, Any]]:
        """Every live ``(key, value)``, in key order, from one consistent snapshot (so, unlike
        reading each key of :meth:`keys`, no entry expires in between). :meth:`items` is the
        same method, under the name of the mapping protocol."""
        entries = _native.list_entries(self.store._h, self._ns, context("entries", self._ns))
        if self.serializer is None:
            return entries
        loads = self.serializer.loads
        return [(k, loads(v)) for k, v in entries]

    #: The mapping protocol's name of :meth:`entries` (``Store.entries(ns)`` is the same list).
    items = entries  # type: ignore[assignment]  # a list (see keys)

    def values(self) -> List[Any]:  # type: ignore[override]  # a list (see keys)
        """Every live value, in key order (see :meth:`entries`)."""
        return [v for _, v in self.entries()]

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
        batch = [(ns, _key(k), _value(dumps(v) if dumps is not None else v), ms) for k, v in pairs]
        _native.write_many(self.store._h, batch, context("put_many", ns))

    # -- cache operations (README "Cache operations"): the namespace's TTL where one is optional

    def touch(self, key: Key, ttl: TTL = _DEFAULT) -> bool:
        """Gives the live entry ``key`` the deadline now + ``ttl`` (default: the namespace's),
        keeping its value and version. ``True`` if there was a live entry."""
        k = key if type(key) is bytes else _key(key)
        ttl_c = self._ttl_c if ttl is _DEFAULT else _ttl_c(ttl)
        return _native.touch(self.store._h, self._ns, self._nsl, k, ttl_c, "touch")

    def add(self, key: Key, value: Any, ttl: TTL = _DEFAULT) -> bool:
        """Writes ``key`` only if it has no live entry, atomically across threads and processes;
        ``True`` if it was written."""
        k = key if type(key) is bytes else _key(key)
        if self.serializer is not None:
            value = self.serializer.dumps(value)
        v = value if type(value) is bytes else _value(value)
        ttl_c = self._ttl_c if ttl is _DEFAULT else _ttl_c(ttl)
        return _native.add(self.store._h, self._ns, self._nsl, k, v, ttl_c, "add")

    def incr(self, key: Key, delta: int = 1, *, create: bool = True, create_ttl: TTL = _DEFAULT) -> int:
        """Adds ``delta`` to the counter ``key`` atomically and returns the new value (an int).

        A missing counter is created with the value ``delta`` and the TTL ``create_ttl``
        (default: the namespace's); an existing one keeps its deadline. With ``create=False`` a
        missing counter raises :class:`KeyError` instead (like ``ns[key]``).

        Counters bypass the serializer: in the store they are ASCII decimal bytes (``b"42"``),
        which every language reads. Reading one back gives what the serializer makes of those
        bytes: ``b"42"`` without one (``int(ns[key])`` works), ``42`` with
        :class:`JSONSerializer` (and ``ns[key] = 5`` writes a counter ``incr`` takes) and with
        :class:`PickleSerializer` (whose ``loads`` reads counters; its ``dumps`` still pickles,
        so start a pickled counter with ``incr``, not ``ns[key] = 0``).

        Raises:
            KeyError: the counter is missing and ``create`` is false.
            NotACounterError: the value is no such integer; nothing is written.
            CounterOverflowError: the sum (or ``delta``) leaves the signed 64-bit range.
        """
        k = key if type(key) is bytes else _key(key)
        delta_c = _native.delta_c(delta)
        if create:
            flags = _CREATE
            ttl_c = self._ttl_c if create_ttl is _DEFAULT else _ttl_c(create_ttl)
        else:
            if create_ttl is not _DEFAULT:
                raise TypeError("incr: create_ttl is the TTL of a created counter; it needs create=True")
            flags, ttl_c = _NO_FLAGS, self._ttl_c
        ns = self._ns
        value = _native.incr(self.store._h, ns, self._nsl, k, delta_c, flags, ttl_c, "incr")
        if value is None:
            raise KeyError(key)
        return value

    def decr(self, key: Key, delta: int = 1, *, create: bool = True, create_ttl: TTL = _DEFAULT) -> int:
        """:meth:`incr` by ``-delta`` (a missing counter is created with ``-delta``)."""
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise TypeError(f"a decr delta is an int, not {type(delta).__name__}")
        return self.incr(key, -delta, create=create, create_ttl=create_ttl)

    def take(self, key: Key, default: Any = None) -> Any:
        """Removes the live entry ``key`` and returns its value, atomically (of two callers
        taking one key, one gets it); ``default`` if there was none."""
        k = key if type(key) is bytes else _key(key)
        data = _native.take(self.store._h, self._ns, self._nsl, k, "take")
        if data is _MISSING:
            return default
        return data if self.serializer is None else self.serializer.loads(data)

    def get_versioned(self, key: Key) -> Optional[Tuple[Any, int]]:
        """``(value, version)`` of ``key``, or ``None`` if it is absent or expired (see
        :meth:`Store.get_versioned`)."""
        found = self.store.get_versioned(self._ns, key)
        if found is None or self.serializer is None:
            return found
        return self.serializer.loads(found[0]), found[1]

    def put_if_version(self, key: Key, value: Any, expected: Optional[int], ttl: TTL = _DEFAULT) -> Optional[int]:
        """Compare-and-set: writes ``key`` only if its live entry has the version ``expected``
        (``None``: only if it has none). Returns the new version, or ``None`` on a conflict
        (nothing written)."""
        k = key if type(key) is bytes else _key(key)
        if self.serializer is not None:
            value = self.serializer.dumps(value)
        v = value if type(value) is bytes else _value(value)
        version = _version(expected)
        ms = self._ms if ttl is _DEFAULT else ttl_to_ms(ttl)
        return _native.put_if_version(self.store._h, self._ns, k, v, ms, version, "put_if_version")

    def get_many(self, keys: Iterable[Key]) -> Dict[Any, Any]:
        """The values of ``keys`` from one read snapshot, as a dict keyed by the keys as given;
        absent and expired keys are left out (Django's ``get_many``)."""
        given, encoded = _keys(keys)
        found = _native.get_many(self.store._h, self._ns, encoded, given, "get_many")
        if self.serializer is None:
            return found
        loads = self.serializer.loads
        return {k: loads(v) for k, v in found.items()}

    def delete_many(self, keys: Iterable[Key]) -> int:
        """Removes ``keys`` in one transaction; returns how many live entries went."""
        return self.store.delete_many(self._ns, keys)

    def clear(self) -> int:  # type: ignore[override]  # returns the count, where a mapping returns None
        """Removes every entry of the namespace (in bounded transactions); returns how many live
        entries went."""
        return self.store.clear(self._ns)

    def count(self) -> int:
        """The number of live entries (one snapshot; reads every entry of the namespace)."""
        return self.store.count(self._ns)

    def scan(self, prefix: Key = b"", after: Optional[Key] = None, limit: int = 1000) -> List[Tuple[bytes, Any]]:
        """One page of at most ``limit`` live ``(key, value)`` whose keys start with ``prefix``,
        strictly after ``after`` (see :meth:`Store.scan`)."""
        page = self.store.scan(self._ns, prefix, after, limit)
        if self.serializer is None:
            return page
        loads = self.serializer.loads
        return [(k, loads(v)) for k, v in page]

    def iter_prefix(self, prefix: Key = b"", *, page_size: int = 1000) -> Iterator[Tuple[bytes, Any]]:
        """Every live ``(key, value)`` whose key starts with ``prefix``, in key order, read
        lazily one :meth:`scan` page at a time (see :meth:`Store.iter_prefix`)."""
        pages = self.store.iter_prefix(self._ns, prefix, page_size=page_size)
        if self.serializer is None:
            return pages
        loads = self.serializer.loads
        return ((k, loads(v)) for k, v in pages)

    # -- the mapping protocol ----------------------------------------------------------------

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

    def __len__(self) -> int:
        return self.count()

    def __bool__(self) -> bool:
        # A mapping is false when empty; one page of one entry says so without counting all.
        return bool(self.store.scan(self._ns, b"", None, 1))

    __eq__ = object.__eq__  # a view of a store: identity, not the contents (see the class)
    __hash__ = object.__hash__

    def pop(self, key: Key, default: Any = _MISSING) -> Any:
        """Removes ``key`` and returns its value, atomically (:meth:`take`); ``default`` if it
        had no live entry, else :class:`KeyError`."""
        value = self.take(key, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                raise KeyError(key)
            return default
        return value

    def popitem(self) -> Tuple[bytes, Any]:
        """Removes and returns the ``(key, value)`` with the smallest key (mappings of ttlkv are
        in key order), atomically per entry: an entry another caller takes first is skipped.
        :class:`KeyError` when the namespace is empty."""
        while True:
            page = self.store.scan(self._ns, b"", None, 1)
            if not page:
                raise KeyError("popitem(): the namespace is empty")
            key = page[0][0]
            value = self.take(key, _MISSING)
            if value is not _MISSING:
                return key, value

    def setdefault(self, key: Key, default: Any = None) -> Any:
        """The value of ``key``; if it has none, writes ``default`` (the namespace's TTL) with
        :meth:`add` and returns it. Atomic: of two callers, one writes, both get the value
        that was written."""
        while True:
            value = self.get(key, _MISSING)
            if value is not _MISSING:
                return value
            if self.add(key, default):
                return default
            # Another writer added it between the get and the add: read what it wrote.

    def update(self, other: Any = (), /, **kwargs: Any) -> None:
        """Writes every entry of ``other`` (a mapping, an object with ``keys()``, or pairs) and
        of ``kwargs`` with the namespace's TTL, in one transaction (:meth:`put_many`: all or
        none, at most ``MAX_BATCH_RECORDS`` records)."""
        if isinstance(other, Mapping):
            pairs: List[Tuple[Any, Any]] = list(other.items())
        elif hasattr(other, "keys"):
            pairs = [(k, other[k]) for k in other.keys()]
        else:
            pairs = list(other)
        pairs.extend(kwargs.items())
        self.put_many(pairs)
