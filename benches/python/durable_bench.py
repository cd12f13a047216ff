"""Durable writes against the peers, in one run: every put is on disk when it returns.

    make bench-python                 # or: python benches/python/durable_bench.py [--seconds S]

- ttlkv, durability "sync" (group commit: concurrent writers of one process share a commit and
  its fsync; writers in different processes each commit on their own);
- diskcache, ``sqlite_synchronous=2`` (FULL: SQLite fsyncs every transaction);
- Redis, ``appendonly yes`` with ``appendfsync always`` (redis-server on a unix socket,
  started here; left out, and said so, when redis-server or the redis package is missing).

Each with 1, 2 and 8 writer threads in one process, and with 2 and 4 writer processes; 256-byte
values, distinct keys, every backend in a directory of the same file system. Prints puts per
second and ttlkv's ratio to each peer measured in the same run, the rows the performance issue
asks for.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Dict, List, Optional

import redis_server  # benches/python/redis_server.py, beside this script

VALUE = b"v" * 256


def _ttlkv_writer(path: str) -> Callable[[], Callable[[bytes], None]]:
    def make() -> Callable[[bytes], None]:
        import ttlkv

        store = ttlkv.Store(path, durability="sync")
        ns = store.namespace("bench", ttl=3600)
        return lambda key: ns.put(key, VALUE)

    return make


def _diskcache_writer(path: str) -> Callable[[], Callable[[bytes], None]]:
    def make() -> Callable[[bytes], None]:
        import diskcache

        cache = diskcache.Cache(path, sqlite_synchronous=2)
        return lambda key: cache.set(key, VALUE, expire=3600)

    return make


def _redis_writer(socket: str) -> Callable[[], Callable[[bytes], None]]:
    def make() -> Callable[[bytes], None]:
        import redis

        client = redis.Redis(unix_socket_path=socket)
        return lambda key: client.set(key, VALUE, ex=3600)

    return make


def _run_threads(make: Callable[[], Callable[[bytes], None]], threads: int, seconds: float, tag: str) -> int:
    """Puts done by `threads` writer threads in `seconds` (each with its own client)."""
    counts = [0] * threads
    writers = [make() for _ in range(threads)]
    start = threading.Barrier(threads + 1)
    stop_at: List[float] = [0.0]

    def work(i: int) -> None:
        put = writers[i]
        start.wait()
        n = 0
        while time.perf_counter() < stop_at[0]:
            put(f"{tag}-{i}-{n}".encode())
            n += 1
        counts[i] = n

    ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    stop_at[0] = time.perf_counter() + seconds
    start.wait()
    for t in ts:
        t.join()
    return sum(counts)


def _process_main(kind: str, where: str, seconds: float, tag: str, out: Any) -> None:
    make = {"ttlkv": _ttlkv_writer, "diskcache": _diskcache_writer, "redis": _redis_writer}[kind](where)
    out.put(_run_threads(make, 1, seconds, tag))


def _run_processes(kind: str, where: str, procs: int, seconds: float, tag: str) -> int:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    ps = [ctx.Process(target=_process_main, args=(kind, where, seconds, f"{tag}-{i}", out)) for i in range(procs)]
    for p in ps:
        p.start()
    total = sum(out.get(timeout=seconds + 60) for _ in ps)
    for p in ps:
        p.join()
    return total


def _start_redis(base: str) -> "Optional[subprocess.Popen[bytes]]":
    return redis_server.start(
        os.path.join(base, "redis.sock"), "--dir", base, "--save", "", "--appendonly", "yes", "--appendfsync", "always"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    args = parser.parse_args()
    base = tempfile.mkdtemp(prefix="ttlkv-durable-bench-", dir=os.environ.get("TTLKV_BENCH_DIR", "/var/tmp"))
    os.chmod(base, 0o700)
    redis_proc = _start_redis(base)
    try:
        where: Dict[str, str] = {"ttlkv": os.path.join(base, "ttlkv"), "diskcache": os.path.join(base, "diskcache")}
        if redis_proc is not None:
            where["redis"] = os.path.join(base, "redis.sock")
        else:
            print("durable_bench: redis-server or the redis package is missing: Redis left out", file=sys.stderr)
        makers = {"ttlkv": _ttlkv_writer, "diskcache": _diskcache_writer, "redis": _redis_writer}
        shapes = [("1 thread", "t", 1), ("2 threads", "t", 2), ("8 threads", "t", 8),
                  ("2 processes", "p", 2), ("4 processes", "p", 4)]
        rates: Dict[str, Dict[str, float]] = {}
        for label, how, n in shapes:
            for kind in where:
                tag = f"{kind}-{how}{n}"
                if how == "t":
                    done = _run_threads(makers[kind](where[kind]), n, args.seconds, tag)
                else:
                    done = _run_processes(kind, where[kind], n, args.seconds, tag)
                rates.setdefault(label, {})[kind] = done / args.seconds
        peers = [k for k in where if k != "ttlkv"]
        print()
        print("Durable puts per second (every put on disk when it returns), one run, same file system:")
        print()
        head = "| writers | ttlkv (sync) | " + " | ".join(
            {"diskcache": "diskcache (synchronous=FULL)", "redis": "Redis (appendfsync always)"}[p] for p in peers
        ) + " | " + " | ".join(f"ttlkv / {p}" for p in peers) + " |"
        print(head)
        print("|---" * (2 + 2 * len(peers)) + "|")
        for label, _, _ in shapes:
            r = rates[label]
            cells = [f"{r['ttlkv']:,.0f}"] + [f"{r[p]:,.0f}" for p in peers] + [
                f"{r['ttlkv'] / r[p]:.2f}×" for p in peers
            ]
            print(f"| {label} | " + " | ".join(cells) + " |")
        print()
        print("Target (issue #16): ahead of every peer with 2 or more writers")
        for label, _, n in shapes:
            if n < 2:
                continue
            r = rates[label]
            behind = [p for p in peers if r["ttlkv"] < r[p]]
            verdict = "met" if not behind else "MISSED (behind " + ", ".join(behind) + ")"
            print(f"  {label:<12} {verdict}")
    finally:
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(timeout=10)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
