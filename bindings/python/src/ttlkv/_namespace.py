"""``Namespace``: one namespace of a store, with a default TTL, used like a mapping."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Iterator, List, Mapping, Optional, Tuple, Union

from . import _ffi, _native
from ._convert import TTL, Key, checked_namespace, context, ttl_to_ms
from ._convert import to_key as _key
from ._convert import to_value as _value
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
_SIZES = _ffi.SIZES
_size_t = _ffi.size_t
_NOT_FOUND = _ffi.NOT_FOUND
_BUFFER_TOO_SMALL = _ffi.BUFFER_TOO_SMALL


class _NamespaceDefault:
    """The ``ttl`` default of ``Namespace.put``: the namespace's own TTL."""

    def __repr__(self) -> str:
        return "<the namespace's ttl>"


_DEFAULT: Any = _NamespaceDefault()


class Namespace:
    """One namespace of a store, with a default TTL; made by :meth:`Store.namespace`.

    Supports ``ns[key]`` (``KeyError`` when absent), ``ns[key] = value`` (default TTL),
    ``del ns[key]`` (``KeyError`` when absent), ``key in ns`` and ``iter(ns)`` (a snapshot of
    the keys). Values are ``bytes`` unless the namespace has a serializer.
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
        k = key if type(key) is bytes else _key(key)
        if self.serializer is not None:
            value = self.serializer.dumps(value)
        v = value if type(value) is bytes else _value(value)
        ttl_c = self._ttl_c if ttl is _DEFAULT else _ttl_c(ttl)
        n = len(k)
        kl = _SIZES[n] if n <= 1024 else _size_t(n)
        n = len(v)
        vl = _SIZES[n] if n <= 1024 else _size_t(n)
        ns = self._ns
        rc = _fput(self.store._h, ns, self._nsl, k, kl, v, vl, ttl_c)
        if rc:
            raise _make_error(rc, context("put", ns))

    def get(self, key: Key, default: Any = None) -> Any:
        """The value of ``key`` (``bytes``, or the serializer's object), or ``default`` if it is
        absent or expired."""
        k = key if type(key) is bytes else _key(key)
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

    def keys(self) -> List[bytes]:
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
    items = entries

    def values(self) -> List[Any]:
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
