"""``ttlkv.django.TTLKVCache``: a Django cache backend over a ttlkv store.

::

    CACHES = {
        "default": {
            "BACKEND": "ttlkv.django.TTLKVCache",
            "LOCATION": "/var/cache/app",          # the store's directory
            "TIMEOUT": 300,                         # Django's default timeout, seconds
            "OPTIONS": {"durability": "periodic", "max_bytes": 1 << 30},
        }
    }

Django's semantics hold exactly: ``timeout=None`` never expires, ``0`` or a negative timeout
expires at once (``set`` deletes the key, ``add`` stores nothing, ``touch`` deletes), keys are
``make_key(key, version)`` (``KEY_PREFIX``, ``VERSION``, ``KEY_FUNCTION``) and validated with
Django's memcached warnings. With Django's default key function and key methods, keys take a
fast path that gives the same keys and the same warnings, from Django's ``validate_key``
(see :meth:`TTLKVCache.make_and_validate_key`); a ``KEY_FUNCTION``, or a ``make_key`` or
``validate_key`` of a subclass or set on the cache, goes through Django's methods as ever.

**Values.** An ``int`` (not a ``bool``) of the signed 64-bit range is stored as ASCII decimal
(``b"42"``), the library's counter format, so ``incr``/``decr`` are one atomic ttlkv ``incr``
(across threads and processes) and a counter is readable from every language. Everything else
is ``b"\\x01"`` followed by its pickle (highest protocol). A counter starts with a digit or
``-``; the marker byte is neither, so a pickled value is never read as a counter and the
library's ``incr`` refuses it. ``incr`` of a pickled int (one outside 64 bits) or of a sum
leaving 64 bits falls back to a compare-and-set loop (``get_versioned``/``put_if_version``),
atomic too; of a non-int it raises ``TypeError`` as Django does.

**Namespace.** Every cache is one ttlkv namespace, ``OPTIONS["namespace"]`` (default
``"django"``). Two aliases with the same ``LOCATION`` and namespace share their entries (their
keys differ by ``KEY_PREFIX``/``VERSION``, as with Django's file-based cache), and ``clear()``
empties the whole namespace, for every alias using it, like FileBasedCache empties its
directory. Give aliases their own namespace to clear them separately.

**Processes.** The store is opened lazily, once per process and ``LOCATION`` (shared by
every thread and alias): a ttlkv store opened before ``fork()`` is closed in the child, so a
child (gunicorn, uWSGI, multiprocessing workers) opens its own on first use. ``close()``,
which Django calls at the end of every request, keeps the store open for the next one.

**OPTIONS** (lower case): ``durability``, ``sync_interval``, ``map_size``, ``max_map_size``,
``max_readers``, ``write_map``, ``crash_safe``, ``allow_shared_dir``, ``on_corruption`` go to
:class:`ttlkv.Store` (the first open of a directory in a process decides them); ``max_bytes``
and ``eviction`` to :meth:`ttlkv.Store.set_max_bytes` at open (the bound is kept in the store,
for every process); ``namespace`` as above. ``MAX_ENTRIES`` and ``CULL_FREQUENCY`` are refused: ttlkv bounds a
store by bytes (``max_bytes``), evicting the soonest deadline first, not by an entry count.

.. warning:: Unpickling runs code chosen by whoever wrote the bytes: use this backend on a
   store nothing untrusted can write (the directory is created 0700).
"""

from __future__ import annotations

import os
import pickle
from typing import Any, Dict, Iterable, List, Optional, Tuple

from django.core.cache.backends.base import (  # type: ignore[import-untyped, import-not-found, unused-ignore]
    DEFAULT_TIMEOUT,
    MEMCACHE_MAX_KEY_LENGTH,
    BaseCache,
    default_key_func,
)
from django.core.exceptions import (  # type: ignore[import-untyped, import-not-found, unused-ignore]
    ImproperlyConfigured,
)

from ._cachevalues import PICKLE_MARKER, STORE_OPTIONS, dumps, follow_forks, incr_by_cas, loads, open_store
from ._errors import CounterOverflowError, NotACounterError
from ._namespace import Namespace

__all__ = ["PICKLE_MARKER", "TTLKVCache", "dumps", "loads"]

_OWN_OPTIONS = frozenset(("namespace", "max_bytes", "eviction"))

# The key fast path (TTLKVCache.make_and_validate_key) stands in for these three methods of
# Django's; an override of any of them, in a subclass or on an instance, turns it off.
_KEY_METHODS = frozenset(("make_key", "validate_key", "make_and_validate_key"))
_getpid = os.getpid


def _set_pid(pid: int) -> None:
    global _pid
    _pid = pid


# This process's id, for the per-process store check of every call (see follow_forks).
_pid = follow_forks(_set_pid)

_pickle_loads = pickle.loads


class TTLKVCache(BaseCache):  # type: ignore[misc]  # Django ships no type information
    """A Django cache in one namespace of the ttlkv store at ``LOCATION`` (see the module)."""

    _plain_keys: bool  # set by _plain_keys_update
    _inline_keys: bool

    def __init__(self, location: str, params: Dict[str, Any]) -> None:
        options = dict(params.get("OPTIONS", params.get("options", {})))
        refused = {"MAX_ENTRIES", "CULL_FREQUENCY"} & set(options)
        if refused:
            raise ImproperlyConfigured(
                f"ttlkv.django.TTLKVCache: {sorted(refused)} are not supported: ttlkv bounds a store "
                "by bytes (OPTIONS max_bytes), not by an entry count"
            )
        unknown = set(options) - STORE_OPTIONS - _OWN_OPTIONS
        if unknown:
            raise ImproperlyConfigured(f"ttlkv.django.TTLKVCache: unknown OPTIONS {sorted(unknown)}")
        if not location:
            raise ImproperlyConfigured("ttlkv.django.TTLKVCache needs a LOCATION: the store's directory")
        super().__init__({k: v for k, v in params.items() if k not in ("OPTIONS", "options")})
        self._location = os.path.abspath(os.fspath(location))
        self._namespace_name: str = options.get("namespace", "django")
        self._store_options = {k: v for k, v in options.items() if k in STORE_OPTIONS}
        self._max_bytes: Optional[Tuple[Optional[int], str]] = None
        if "eviction" in options and "max_bytes" not in options:
            raise ImproperlyConfigured("ttlkv.django.TTLKVCache: OPTIONS eviction needs max_bytes")
        if "max_bytes" in options:
            self._max_bytes = (options.get("max_bytes"), options.get("eviction", "soonest_deadline"))
        self._ns_pid = -1
        self._ns_cached: Optional[Namespace] = None
        self._plain_keys_update()

    # -- keys ----------------------------------------------------------------------------

    def make_and_validate_key(self, key: Any, version: Optional[int] = None) -> Any:
        """Django's ``make_and_validate_key``, with a fast path that gives the same key and the
        same warnings: while ``key_func`` is Django's ``default_key_func`` and ``make_key``,
        ``validate_key`` and this method are Django's (not overridden by a subclass or on the
        instance), the key is ``default_key_func``'s own expression, and ``validate_key`` is
        called only when a key could draw one of its warnings: longer than
        ``MEMCACHE_MAX_KEY_LENGTH``, or holding a space or a character ``str.isprintable``
        refuses (which every control character ``\\x00``-``\\x1f`` and ``\\x7f`` is). A key
        with none of these matches neither of ``memcache_key_warnings``' tests, so skipping the
        call changes nothing but its cost (~2 µs: a generator and Django's lazily compiled
        regex). ``key_prefix``, ``version`` and ``key_func`` are read at every call, as Django
        does."""
        if self._plain_keys and self.key_func is default_key_func:
            if version is None:
                version = self.version
            k = "%s:%s:%s" % (self.key_prefix, version, key)  # default_key_func's expression
            if len(k) > MEMCACHE_MAX_KEY_LENGTH or " " in k or not k.isprintable():
                self.validate_key(k)  # Django's own: its warnings, from its line
            return k
        return super().make_and_validate_key(key, version=version)

    def _plain_keys_update(self) -> None:
        """``_plain_keys``: ``make_key`` and ``validate_key`` are Django's, so the fast path of
        :meth:`make_and_validate_key` holds; ``_inline_keys``: so is that method (this class's),
        so :meth:`get` may run the fast path inline."""
        cls, shadowed = type(self), self.__dict__.keys()
        plain = (
            cls.make_key is BaseCache.make_key
            and cls.validate_key is BaseCache.validate_key
            and "make_key" not in shadowed
            and "validate_key" not in shadowed
        )
        inline = (
            plain
            and cls.make_and_validate_key is TTLKVCache.make_and_validate_key
            and "make_and_validate_key" not in shadowed
        )
        object.__setattr__(self, "_plain_keys", plain)
        object.__setattr__(self, "_inline_keys", inline)

    # An instance attribute shadowing one of the key methods (``cache.validate_key = ...``,
    # ``mock.patch.object(cache, "make_key")``) is seen when it is set or deleted, so the fast
    # path costs no check of the instance per call.
    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name in _KEY_METHODS:
            self._plain_keys_update()

    def __delattr__(self, name: str) -> None:
        object.__delattr__(self, name)
        if name in _KEY_METHODS:
            self._plain_keys_update()

    # -- the store, per process ----------------------------------------------------------

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
        ns = open_store(pid, self._location, self._store_options, self._max_bytes).namespace(
            self._namespace_name, ttl=None
        )
        self._ns_cached, self._ns_pid = ns, pid
        return ns

    def _ttl(self, timeout: Any) -> Tuple[bool, Optional[float]]:
        """``(expired, ttl)``: Django's timeout as a ttlkv TTL, or expired at once."""
        # Not BaseCache.get_backend_timeout, which gives an absolute time.
        if timeout is DEFAULT_TIMEOUT:
            timeout = self.default_timeout
        if timeout is None:
            return False, None
        if timeout <= 0:
            return True, None
        return False, timeout

    # -- the cache API -------------------------------------------------------------------

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Optional[int] = None) -> bool:
        k = self.make_and_validate_key(key, version=version)
        data = dumps(value)
        expired, ttl = self._ttl(timeout)
        if expired:  # Django: added if absent, but already expired
            return k not in self._ns
        return self._ns.add(k, data, ttl)

    def get(self, key: Any, default: Any = None, version: Optional[int] = None) -> Any:
        if self._inline_keys and self.key_func is default_key_func:  # make_and_validate_key, inline
            k = "%s:%s:%s" % (self.key_prefix, self.version if version is None else version, key)
            if len(k) > MEMCACHE_MAX_KEY_LENGTH or " " in k or not k.isprintable():
                self.validate_key(k)
        else:
            k = self.make_and_validate_key(key, version=version)
        ns = self._ns_cached  # self._ns, inline: the hottest path
        if ns is None or self._ns_pid != _pid:
            ns = self._open_ns()
        data = ns.get(k)
        if data is None:
            return default
        if data[:1] == PICKLE_MARKER:  # loads(data), its usual case inline
            return _pickle_loads(data[1:])
        return loads(data)

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Optional[int] = None) -> None:
        k = self.make_and_validate_key(key, version=version)
        data = dumps(value)
        expired, ttl = self._ttl(timeout)
        ns = self._ns_cached  # self._ns, inline
        if ns is None or self._ns_pid != _pid:
            ns = self._open_ns()
        if expired:
            ns.delete(k)
        else:
            ns.put(k, data, ttl)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Optional[int] = None) -> bool:
        k = self.make_and_validate_key(key, version=version)
        expired, ttl = self._ttl(timeout)
        if expired:
            return self._ns.delete(k)
        return self._ns.touch(k, ttl)

    def delete(self, key: Any, version: Optional[int] = None) -> bool:
        return self._ns.delete(self.make_and_validate_key(key, version=version))

    def has_key(self, key: Any, version: Optional[int] = None) -> bool:
        return self.make_and_validate_key(key, version=version) in self._ns

    def get_many(self, keys: Iterable[Any], version: Optional[int] = None) -> Dict[Any, Any]:
        make = self.make_and_validate_key
        made = {make(key, version=version): key for key in keys}
        if not made:
            return {}
        found = self._ns.get_many(list(made))
        return {made[k]: loads(v) for k, v in found.items()}

    def set_many(
        self, data: Dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: Optional[int] = None
    ) -> List[Any]:
        records = [(self.make_and_validate_key(key, version=version), dumps(value)) for key, value in data.items()]
        if not records:
            return []
        expired, ttl = self._ttl(timeout)
        if expired:
            self._ns.delete_many([k for k, _ in records])
        else:
            self._ns.put_many(records, ttl=ttl)  # one transaction: all or none
        return []

    def delete_many(self, keys: Iterable[Any], version: Optional[int] = None) -> None:
        made = [self.make_and_validate_key(key, version=version) for key in keys]
        if made:
            self._ns.delete_many(made)

    def incr(self, key: Any, delta: int = 1, version: Optional[int] = None) -> int:
        k = self.make_and_validate_key(key, version=version)
        try:
            return self._ns.incr(k, delta, create=False)
        except KeyError:
            raise ValueError(f"Key '{key}' not found") from None
        except (NotACounterError, CounterOverflowError):
            value = incr_by_cas(self._ns, k, delta)  # TypeError for a non-number, as Django
            if value is None:
                raise ValueError(f"Key '{key}' not found") from None
            return value

    def clear(self) -> None:
        self._ns.clear()

    def close(self, **kwargs: Any) -> None:
        """Django calls this after every request; the store stays open for the next one."""
