"""Worker functions of tests/test_ops_processes.py: a module of their own, so that
multiprocessing's spawn start method imports them in the child without the test module."""

from __future__ import annotations

from typing import Any, List

import ttlkv


def incr_many(path: str, count: int, barrier: Any, results: Any) -> None:
    """Opens the store itself (the rule for a child of any start method), waits for the others,
    then increments one counter ``count`` times; reports every value incr returned."""
    with ttlkv.Store(path, durability="periodic") as store:
        counters = store.namespace("counters", ttl=600)
        barrier.wait()
        results.put([counters.incr(b"hits") for _ in range(count)])


def add_race(path: str, me: int, keys: int, barrier: Any, results: Any) -> None:
    """Tries to add every slot ``0..keys-1``; reports the slots this process won."""
    with ttlkv.Store(path, durability="periodic") as store:
        slots = store.namespace("slots", ttl=600)
        barrier.wait()
        won: List[int] = [i for i in range(keys) if slots.add(b"slot-%d" % i, b"%d" % me)]
        results.put((me, won))
