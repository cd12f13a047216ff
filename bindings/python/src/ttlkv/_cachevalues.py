"""What ttlkv.django and ttlkv.cachelib share: the stored form of values, the slow ``incr``,
and the stores they open, one per process and directory.

An ``int`` (not a ``bool``) of the signed 64-bit range is ASCII decimal (``b"42"``), the
library's counter format, so ``incr`` is one atomic ttlkv call and every language reads the
counter. Everything else is the marker byte ``b"\\x01"`` and the value's pickle (highest
protocol). A counter starts with a digit or ``-``, the marker is neither: a pickled value is
never read as a counter, and the library's ``incr`` refuses it (``NotACounterError``). Both
backends write the same form, so they can share a namespace.
"""

from __future__ import annotations

import math
import os
import pickle
import threading
import time
from typing import Any, Callable, Dict, Optional, Tuple, Union

from ._namespace import Namespace
from ._store import Store

__all__ = ["PICKLE_MARKER", "STORE_OPTIONS", "dumps", "follow_forks", "loads", "incr_by_cas", "open_store"]

#: The options a cache backend passes on to :class:`ttlkv.Store`.
STORE_OPTIONS = frozenset(
    (
        "durability",
        "sync_interval",
        "map_size",
        "max_map_size",
        "max_readers",
        "write_map",
        "crash_safe",
        "allow_shared_dir",
        "on_corruption",
    )
)

def follow_forks(update: Callable[[int], None]) -> int:
    """This process's id, and a hook that gives ``update`` the new id in every forked child.

    The backends check the process id on every call (a store opened before fork() is not the
    child's); os.getpid() is a system call (~0.2 µs on a VM, near a tenth of a get), so each
    keeps the id in a module global, read at import and set again in every forked child by
    the hook os.fork() runs there (as any fork that goes on running Python does:
    PyOS_AfterFork_Child). Were it ever stale, the library still refuses an inherited handle.
    """
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=lambda: update(os.getpid()))
    return os.getpid()


#: The first byte of a pickled value; a counter starts with a digit or ``-``.
PICKLE_MARKER = b"\x01"
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1
_COUNTER_START = frozenset(b"-0123456789")
_MARKER = PICKLE_MARKER[0]
_pickle_loads = pickle.loads


def dumps(value: Any) -> bytes:
    """The stored form of ``value``: ASCII decimal for a 64-bit ``int``, else the marker byte
    and its pickle."""
    if type(value) is int and _I64_MIN <= value <= _I64_MAX:
        return b"%d" % value
    return PICKLE_MARKER + pickle.dumps(value, pickle.HIGHEST_PROTOCOL)


def loads(data: bytes) -> Any:
    """The value of a stored form written by :func:`dumps` (or a counter of any language)."""
    if data:
        first = data[0]
        if first == _MARKER:
            return _pickle_loads(data[1:])
        if first in _COUNTER_START:
            return int(data)
    raise ValueError("not a cached value of ttlkv: neither a counter nor a marked pickle")


def incr_by_cas(ns: Namespace, key: Union[bytes, str], delta: int) -> Optional[int]:
    """``value + delta`` for a value the library's ``incr`` refused (a pickled value, or a sum
    outside 64 bits), by compare-and-set until no other writer came between; the deadline is
    kept. ``None`` if the key is missing; ``TypeError`` from ``+`` for a non-number."""
    while True:
        found = ns.get_versioned(key)
        deadline = ns.deadline(key)
        if found is None or deadline is None:
            return None
        value = loads(found[0]) + delta
        ttl: Optional[float] = None
        if deadline != math.inf:
            ttl = deadline - time.time()
            if ttl <= 0:
                return None
        if ns.put_if_version(key, dumps(value), found[1], ttl) is not None:
            return int(value)


# One Store per (process, directory, options): every thread and cache of a process shares it,
# and a forked child, whose inherited stores are closed, opens its own.
_stores: Dict[Tuple[int, str, Tuple[Tuple[str, Any], ...]], Store] = {}
_stores_lock = threading.Lock()


def open_store(
    pid: int, location: str, options: Dict[str, Any], max_bytes: Optional[Tuple[Optional[int], str]]
) -> Store:
    """The store of ``location`` for the process ``pid``, opened on its first use there; with
    ``max_bytes`` (``(bound, eviction)``), the bound is set at that open."""
    key = (pid, location, tuple(sorted(options.items())))
    with _stores_lock:
        store = _stores.get(key)
        if store is None or store.closed:
            store = Store(location, **options)
            if max_bytes is not None:
                store.set_max_bytes(max_bytes[0], max_bytes[1])
            _stores[key] = store
        return store
