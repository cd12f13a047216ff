"""How store handles end: the finalizer of a forgotten store, and interpreter exit.

fork() needs nothing here: the library itself makes a handle inherited by a forked child
closed there (every call returns TTLKV_CLOSED, which raises ClosedError; ttlkv_close and
ttlkv_free on it only release memory), so the child's finalizers and :func:`_close_at_exit`
may treat inherited handles like any other. No lock guards :data:`_live` (each use is one
atomic dict operation): a lock held by another thread at fork() would stay held in the child.
"""

from __future__ import annotations

import atexit
import weakref
from typing import Any, Dict

from . import _native

__all__ = ["track"]

#: Handles of the stores still open in this process, by ``id()`` of their owner, so that
#: interpreter exit can close them.
_live: Dict[int, Any] = {}


def _release(key: int, handle: Any) -> None:
    """The finalizer of a store that is garbage: no thread can be using its handle."""
    _live.pop(key, None)
    _native.free(handle)


def track(owner: object, handle: Any) -> Any:
    """Frees ``handle`` when ``owner`` is garbage, and closes it at exit if it is still
    alive then. Returns the finalizer."""
    key = id(owner)
    _live[key] = handle
    finalizer = weakref.finalize(owner, _release, key, handle)
    finalizer.atexit = False  # exit is handled by _close_at_exit
    return finalizer


@atexit.register
def _close_at_exit() -> None:
    # Close, never free: a daemon thread may still be inside a call on the handle, and
    # ttlkv_close is safe against that (the call gets TTLKV_CLOSED), ttlkv_free is not.
    for handle in _live.copy().values():
        _native.close_handle(handle)
