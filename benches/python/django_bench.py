"""Django's cache API from one process: ttlkv.django.TTLKVCache against Django's own backends
and the usual alternatives, the same workload in one run.

    make bench-python                 # or: python benches/python/django_bench.py [--n N]

Backends: LocMemCache (an in-process dict), FileBasedCache, DatabaseCache on SQLite,
diskcache's DjangoCache, and RedisCache against a redis-server on a unix socket started here
(skipped, and said so, when redis-server or the redis package is missing). ttlkv runs with
durability "periodic" (the peers do not fsync each write either: FileBasedCache never does,
Redis without appendonly neither, diskcache's SQLite runs synchronous=NORMAL) and, for the
record, "sync". Workload: N keys (default 2,000), 256-byte values: set, get (hits), get_many
of 10, incr; each measured in --rounds rounds (default 2) interleaved across backends, best
round counts. Prints operations per second and the ratios the issue sets as targets: ttlkv >= 3x
every persistent backend on get and set, >= 0.3x LocMemCache.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, Optional

import django
from django.conf import settings

import redis_server  # benches/python/redis_server.py, beside this script

BASE = tempfile.mkdtemp(prefix="ttlkv-django-bench-")
os.chmod(BASE, 0o700)
SOCKET = os.path.join(BASE, "redis.sock")


def start_redis() -> "Optional[subprocess.Popen[bytes]]":
    return redis_server.start(SOCKET, "--save", "", "--appendonly", "no")


def incr_from_zero(cache: Any, n: int) -> None:
    cache.set("counter", 0)
    for _ in range(n):
        cache.incr("counter")
    assert cache.get("counter") == n, cache


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    redis_proc = start_redis()
    caches: Dict[str, Dict[str, Any]] = {
        "ttlkv (periodic)": {
            "BACKEND": "ttlkv.django.TTLKVCache",
            "LOCATION": os.path.join(BASE, "ttlkv"),
            "OPTIONS": {"durability": "periodic"},
        },
        "ttlkv (sync)": {
            "BACKEND": "ttlkv.django.TTLKVCache",
            "LOCATION": os.path.join(BASE, "ttlkv-sync"),
        },
        "LocMemCache": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "OPTIONS": {"MAX_ENTRIES": 10 * args.n},
        },
        "FileBasedCache": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": os.path.join(BASE, "files"),
            "OPTIONS": {"MAX_ENTRIES": 10 * args.n},
        },
        "DatabaseCache (SQLite)": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "bench_cache",
            "OPTIONS": {"MAX_ENTRIES": 10 * args.n},
        },
        "diskcache DjangoCache": {
            "BACKEND": "diskcache.DjangoCache",
            "LOCATION": os.path.join(BASE, "diskcache"),
        },
    }
    if redis_proc is not None:
        caches["RedisCache (unix socket)"] = {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"unix://{SOCKET}",
        }
    settings.configure(
        CACHES={name: {"TIMEOUT": 3600, **conf} for name, conf in caches.items()},
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(BASE, "db.sqlite3")}},
        INSTALLED_APPS=[],
        USE_TZ=False,
    )
    django.setup()
    from django.core.cache import caches as django_caches
    from django.core.management import call_command

    call_command("createcachetable", verbosity=0)

    n = args.n
    keys = [f"key-{i:08d}-{os.urandom(8).hex()}" for i in range(n)]
    value = os.urandom(128).hex()  # 256 bytes
    ops: Dict[str, Callable[[Any], None]] = {
        "set": lambda c: [c.set(k, value) for k in keys] and None,
        "get": lambda c: [c.get(k) for k in keys] and None,
        "get_many of 10": lambda c: [c.get_many(keys[i : i + 10]) for i in range(0, n, 10)] and None,
        "incr": lambda c: incr_from_zero(c, n),
    }
    per_call = {"set": n, "get": n, "get_many of 10": n // 10, "incr": n}
    best: Dict[str, Dict[str, float]] = {name: {} for name in caches}
    for name in caches:
        django_caches[name].set("counter", 0)
    for _ in range(args.rounds):
        for op, fn in ops.items():
            for name in caches:
                cache = django_caches[name]
                t0 = time.perf_counter()
                fn(cache)
                rate = per_call[op] / (time.perf_counter() - t0)
                best[name][op] = max(best[name].get(op, 0.0), rate)

    print(f"# Django {django.get_version()} cache API, one process: {n} keys, 256-byte values, best of {args.rounds}")
    if redis_proc is None:
        print("# RedisCache not measured: redis-server or the redis package is missing")
    print()
    cols = list(ops)
    print("| backend | " + " | ".join(f"{c} (ops/s)" for c in cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for name in caches:
        print(f"| {name} | " + " | ".join(f"{best[name][c]:,.0f}" for c in cols) + " |")
    ours = best["ttlkv (periodic)"]
    print()
    print("ttlkv (periodic) / each, per operation:")
    for name in caches:
        if name.startswith("ttlkv"):
            continue
        print(f"- {name}: " + ", ".join(f"{c} {ours[c] / best[name][c]:.2f}x" for c in cols))
    print()
    print("## Targets")
    persistent = [name for name in caches if not name.startswith(("ttlkv", "LocMem"))]
    for op in ("get", "set"):
        worst = min(ours[op] / best[name][op] for name in persistent)
        print(f"- {'met    ' if worst >= 3 else 'NOT met'} {op} >= 3x every persistent backend (lowest {worst:.2f}x)")
        loc = ours[op] / best["LocMemCache"][op]
        print(f"- {'met    ' if loc >= 0.3 else 'NOT met'} {op} >= 0.3x LocMemCache ({loc:.2f}x)")

    if redis_proc is not None:
        redis_proc.kill()
    shutil.rmtree(BASE, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
