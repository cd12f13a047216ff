"""The cache operations across processes, through multiprocessing as the package documents it:
each child opens the store itself (with spawn it has no store; with fork the parent's is closed
in the child). incr from 4 processes counts exactly; add has one winner per key."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from typing import Any, List, Tuple

import pytest

import ttlkv
import ops_workers

PROCESSES = 4


def _run(ctx: Any, target: Any, args: List[Tuple[Any, ...]]) -> List[Any]:
    barrier = ctx.Barrier(len(args))
    results = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*a, barrier, results)) for a in args]
    for p in procs:
        p.start()
    try:
        out = [results.get(timeout=120) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()
    assert [p.exitcode for p in procs] == [0] * len(procs)
    return out


def test_incr_from_four_spawned_processes_counts_exactly(store_dir: Path) -> None:
    ttlkv.Store(store_dir).close()  # created once, before the children race to open it
    ctx = multiprocessing.get_context("spawn")
    returned = _run(ctx, ops_workers.incr_many, [(str(store_dir), 2000)] * PROCESSES)
    values = [v for part in returned for v in part]
    # Every incr saw a value no other saw: the 8,000 results are exactly 1..8,000.
    assert sorted(values) == list(range(1, PROCESSES * 2000 + 1))
    for part in returned:
        assert part == sorted(part)  # each process's own increments only go up
    with ttlkv.Store(store_dir) as store:
        assert store.get("counters", b"hits") == b"8000"
        assert store.incr("counters", b"hits") == 8001


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() on this platform")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_add_races_from_four_forked_processes_have_one_winner_per_key(store_dir: Path) -> None:
    slots = 500
    with ttlkv.Store(store_dir, durability="periodic") as store:  # open in the parent at fork
        ns = store.namespace("slots", ttl=600)
        ctx = multiprocessing.get_context("fork")
        returned = _run(ctx, ops_workers.add_race, [(str(store_dir), me, slots) for me in range(PROCESSES)])
        winners = {}
        for me, won in returned:
            for slot in won:
                assert slot not in winners, f"slot {slot} won by {winners[slot]} and {me}"
                winners[slot] = me
        assert sorted(winners) == list(range(slots))  # every slot has exactly one winner
        for slot, me in winners.items():
            assert ns[b"slot-%d" % slot] == b"%d" % me  # and the value is the winner's
        assert len(ns) == slots
