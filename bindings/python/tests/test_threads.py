"""Threads: 8 at once on one store, the GIL released during native calls."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import List

import ttlkv


def run_threads(count: int, target, *args) -> List[BaseException]:  # type: ignore[no-untyped-def]
    errors: List[BaseException] = []
    barrier = threading.Barrier(count)

    def wrapper(i: int) -> None:
        try:
            barrier.wait()
            target(i, *args)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=wrapper, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive(), "a thread hung"
    return errors


def test_eight_threads_put_get_delete_at_once(store: ttlkv.Store) -> None:
    ns = store.namespace("threads", ttl=600)
    shared = store.namespace("shared", ttl=600)

    def work(i: int) -> None:
        for j in range(500):
            key = f"t{i}-{j}".encode()
            value = (f"value of {i}/{j} " * (1 + j % 40)).encode()  # sizes around the buffer
            ns.put(key, value)
            assert ns.get(key) == value
            shared.put(b"contended", b"%d" % i)
            assert shared.get(b"contended") in {b"%d" % t for t in range(8)}
            if j % 3 == 0:
                assert ns.delete(key)
                assert ns.get(key) is None
        ns.put_many({f"batch-{i}-{j}".encode(): b"b" for j in range(100)})
        assert len(ns.keys()) >= 100

    assert run_threads(8, work) == []
    keys = set(ns.keys())
    for i in range(8):
        for j in range(500):
            assert (f"t{i}-{j}".encode() in keys) == (j % 3 != 0)
        assert all(f"batch-{i}-{j}".encode() in keys for j in range(100))


def test_eight_threads_with_large_values(store: ttlkv.Store) -> None:
    ns = store.namespace("large", ttl=600)

    def work(i: int) -> None:
        for j in range(20):
            value = bytes([i]) * (100_000 + j * 70_000)  # past the pooled-buffer limit too
            ns.put(b"k%d" % i, value)
            assert ns.get(b"k%d" % i) == value

    assert run_threads(8, work) == []


def test_eight_threads_sync_writes(store_dir: Path) -> None:
    with ttlkv.Store(store_dir, durability="sync") as store:
        ns = store.namespace("sync", ttl=600)

        def work(i: int) -> None:
            for j in range(25):
                ns.put(f"{i}-{j}", b"v")

        assert run_threads(8, work) == []
        assert len(ns.keys()) == 200


def test_native_calls_release_the_gil(store: ttlkv.Store) -> None:
    """A thread spinning in Python keeps running *during* one long native call."""
    ns = store.namespace("gil", ttl=600)
    big = b"x" * (200 << 20)  # one put that takes the library a while to copy and commit
    running = threading.Event()
    stop = threading.Event()
    ticks = [0]

    def spinner() -> None:
        running.set()
        while not stop.is_set():
            ticks[0] += 1

    t = threading.Thread(target=spinner)
    t.start()
    try:
        running.wait()
        best = 0
        for _ in range(3):
            before = ticks[0]
            started = time.perf_counter()
            ns.put(b"big", big)
            elapsed = time.perf_counter() - started
            # Held GIL: the spinner could not run at all during the call.
            best = max(best, ticks[0] - before)
            if elapsed > 0.02 and best > 10_000:
                break
    finally:
        stop.set()
        t.join()
    assert best > 10_000, f"the spinner ran {best} times during the native call"


def test_close_while_other_threads_work(store_dir: Path) -> None:
    store = ttlkv.Store(store_dir, durability="periodic")
    ns = store.namespace("closing", ttl=600)
    started = threading.Barrier(5)
    outcomes: List[str] = []

    def work(i: int) -> None:
        started.wait()
        try:
            while True:
                ns.put(b"k%d" % i, b"v")
                ns.get(b"k%d" % i)
                ns.keys()
        except ttlkv.ClosedError:
            outcomes.append("closed")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    started.wait()
    time.sleep(0.1)
    store.close()
    for t in threads:
        t.join(timeout=30)
        assert not t.is_alive()
    assert outcomes == ["closed"] * 4
