"""``ttlkv.cachelib.TTLKVCache``: a `cachelib <https://cachelib.readthedocs.io>`_ cache over a
ttlkv store (Flask-Caching and Flask-Session take cachelib caches)::

    from ttlkv.cachelib import TTLKVCache
    cache = TTLKVCache("/var/cache/app", default_timeout=300, durability="periodic")

cachelib's semantics: ``timeout=None`` is ``default_timeout``, ``0`` never expires, a negative
timeout expires at once (``set`` deletes, ``add`` stores nothing); ``inc``/``dec`` of a missing
key create it with ``delta``/``-delta`` and the default timeout, and are one atomic ttlkv
``incr`` (across threads and processes) that keeps an existing counter's deadline;
``set_many`` is one transaction and returns every key; ``delete_many`` is one transaction and
returns every key given (none is left, as cachelib's RedisCache reports); ``clear`` empties the
cache's namespace. Values are stored as in ttlkv.django (64-bit ints as counters, everything
else as a marked pickle: see ``ttlkv._cachevalues``), so a Django and a cachelib cache can share
a namespace.

The cache is one ttlkv namespace (``namespace``, default ``"cachelib"``) of the store at
``path``, with ``key_prefix`` before every key. The store is opened lazily, once per process
and directory (a store opened before ``fork()`` is closed in the child, which opens its own).
``max_bytes``/``eviction`` bound the store (:meth:`ttlkv.Store.set_max_bytes`); the other
keyword arguments go to :class:`ttlkv.Store`.

.. warning:: Unpickling runs code chosen by whoever wrote the bytes: use this cache on a store
   nothing untrusted can write.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple

from cachelib.base import BaseCache  # type: ignore[import-untyped, import-not-found, unused-ignore]

from ._cachevalues import STORE_OPTIONS, dumps, follow_forks, incr_by_cas, loads, open_store
from ._errors import CounterOverflowError, NotACounterError
from ._namespace import Namespace

__all__ = ["TTLKVCache"]

_getpid = os.getpid


def _set_pid(pid: int) -> None:
    global _pid
    _pid = pid


# This process's id, for the per-process store check of every call (see follow_forks).
_pid = follow_forks(_set_pid)


class TTLKVCache(BaseCache):  # type: ignore[misc, unused-ignore]
    """A cachelib cache in one namespace of the ttlkv store at ``path`` (see the module)."""

    def __init__(
        self,
        path: "str | os.PathLike[str]",
        default_timeout: int = 300,
        *,
        namespace: str = "cachelib",
        key_prefix: str = "",
        max_bytes: Optional[int] = None,
        eviction: Optional[str] = None,
        **store_options: Any,
    ) -> None:
        unknown = set(store_options) - STORE_OPTIONS
        if unknown:
            raise TypeError(f"ttlkv.cachelib.TTLKVCache: unknown options {sorted(unknown)}")
        super().__init__(default_timeout)
        self.key_prefix = key_prefix
        self._location = os.path.abspath(os.fspath(path))
        self._namespace_name = namespace
        self._store_options: Dict[str, Any] = store_options
        self._max_bytes: Optional[Tuple[Optional[int], str]] = None
        if eviction is not None and max_bytes is None:
            raise TypeError("ttlkv.cachelib.TTLKVCache: eviction needs max_bytes")
        if max_bytes is not None:
            self._max_bytes = (max_bytes, eviction or "soonest_deadline")
        self._ns_pid = -1
        self._ns_cached: Optional[Namespace] = None

    @property
    def _ns(self) -> Namespace:
        ns = self._ns_cached
        if ns is None or self._ns_pid != _pid:
            ns = self._open_ns()
        return ns

    def _open_ns(self) -> Namespace:
        """This process's namespace, opened (once per process: a forked child opens its own)."""
        global _pid
        pid = _pid = _getpid()
        store = open_store(pid, self._location, self._store_options, self._max_bytes)
        ns = store.namespace(self._namespace_name, ttl=None)
        self._ns_cached, self._ns_pid = ns, pid
        return ns

    def _ttl(self, timeout: Optional[float]) -> Tuple[bool, Optional[float]]:
        """``(expired, ttl)``: cachelib's timeout as a ttlkv TTL, or expired at once."""
        t = self._normalize_timeout(timeout)  # type: ignore[arg-type, unused-ignore]
        if t == 0:
            return False, None
        if t < 0:
            return True, None
        return False, t

    def _key(self, key: str) -> str:
        return self.key_prefix + key

    def get(self, key: str) -> Any:
        k = self._key(key)
        ns = self._ns_cached  # self._ns, inline: the hottest path
        if ns is None or self._ns_pid != _pid:
            ns = self._open_ns()
        data = ns.get(k)
        return None if data is None else loads(data)

    def set(self, key: str, value: Any, timeout: Optional[int] = None) -> Optional[bool]:
        data = dumps(value)
        expired, ttl = self._ttl(timeout)
        if expired:
            self._ns.delete(self._key(key))
        else:
            self._ns.put(self._key(key), data, ttl)
        return True

    def add(self, key: str, value: Any, timeout: Optional[int] = None) -> bool:
        data = dumps(value)
        expired, ttl = self._ttl(timeout)
        if expired:
            return not self.has(key)
        return self._ns.add(self._key(key), data, ttl)

    def delete(self, key: str) -> bool:
        return self._ns.delete(self._key(key))

    def has(self, key: str) -> bool:
        return self._key(key) in self._ns

    def get_many(self, *keys: str) -> List[Any]:
        if not keys:
            return []
        made = [self._key(k) for k in keys]
        found = self._ns.get_many(made)
        return [None if k not in found else loads(found[k]) for k in made]

    def set_many(self, mapping: Dict[str, Any], timeout: Optional[int] = None) -> List[Any]:
        records = [(self._key(k), dumps(v)) for k, v in mapping.items()]
        if records:
            expired, ttl = self._ttl(timeout)
            if expired:
                self._ns.delete_many([k for k, _ in records])
            else:
                self._ns.put_many(records, ttl=ttl)  # one transaction: all or none
        return list(mapping)

    def delete_many(self, *keys: str) -> List[Any]:
        if keys:
            self._ns.delete_many([self._key(k) for k in keys])
        return list(keys)

    def clear(self) -> bool:
        self._ns.clear()
        return True

    def inc(self, key: str, delta: int = 1) -> Optional[int]:
        k = self._key(key)
        ns = self._ns
        _, ttl = self._ttl(None)
        while True:
            try:
                return ns.incr(k, delta, create_ttl=ttl)
            except (NotACounterError, CounterOverflowError):
                value = incr_by_cas(ns, k, delta)  # TypeError for a non-number
                if value is not None:
                    return value
                # gone meanwhile: create it

    def dec(self, key: str, delta: int = 1) -> Optional[int]:
        return self.inc(key, -delta)
