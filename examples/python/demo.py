"""ttlkv from Python: the quick start of bindings/python/README.md, runnable.

    make demo-python            # or: python examples/python/demo.py

The store directory is $TTLKV_DEMO_DIR when set — the C and Elixir demos use the same one, so
each demo shows what the others left in the shared namespace "demo" — else a new temporary
directory. Exits non-zero if anything behaves unexpectedly.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import ttlkv


def main() -> int:
    path = os.environ.get("TTLKV_DEMO_DIR") or tempfile.mkdtemp(prefix="ttlkv-demo-")
    print(f"python demo: store {path}")
    print(f"python demo: {ttlkv.library_version()}")

    with ttlkv.Store(path, durability="sync") as store:
        # A namespace with a default TTL of 30 minutes, used like a dict of bytes.
        sessions = store.namespace("sessions", ttl=1800)
        sessions.put(b"token-python", b"user=42")
        sessions["token-python-2"] = b"user=43"
        assert sessions.get(b"token-python") == b"user=42"
        assert "token-python-2" in sessions
        expires_in = sessions.deadline(b"token-python") - time.time()
        print(f"python demo: sessions/token-python = {sessions[b'token-python']!r}, "
              f"expires in {expires_in:.0f} s")

        # A per-call TTL shorter than the namespace's: gone after 0.3 s, whatever the thread does.
        sessions.put(b"flash", b"saved!", ttl=0.3)
        started = time.monotonic()
        while sessions.get(b"flash") is not None:
            if time.monotonic() - started > 10:
                print("python demo: sessions/flash did not expire", file=sys.stderr)
                return 1
            time.sleep(0.02)
        print(f"python demo: sessions/flash expired after {time.monotonic() - started:.2f} s")

        # Several keys in one transaction, then a listing.
        sessions.put_many({b"a": b"1", b"b": b"2"})
        assert sessions.delete(b"a") is True and sessions.delete(b"a") is False
        print(f"python demo: sessions keys = {sorted(sessions.keys())}")
        print(f"python demo: sessions entries = {sessions.entries()}")  # one snapshot

        # Objects, with an explicit serializer (JSON here: readable from C and Elixir too).
        profiles = store.namespace("profiles", ttl=None, serializer=ttlkv.JSONSerializer())
        profiles["ada"] = {"name": "Ada", "langs": ["Python", "C", "Elixir"]}
        print(f"python demo: profiles/ada = {profiles['ada']}")

        # The cache operations: each one atomic call, across threads and processes too.
        hits = store.namespace("counters", ttl=60).incr(b"python-demo")  # created at 1, then counts
        locks = store.namespace("locks", ttl=5)
        first = locks.add(b"python-demo", b"held")  # only if absent
        assert locks.add(b"python-demo", b"again") is False
        assert locks.take(b"python-demo") == b"held"  # removed and returned: one caller gets it
        found = sessions.get_many([b"token-python", b"missing"])  # one snapshot
        assert found == {b"token-python": b"user=42"}
        value, version = sessions.get_versioned(b"token-python")
        assert sessions.put_if_version(b"token-python", b"user=44", version) is not None
        assert sessions.put_if_version(b"token-python", b"lost", version) is None  # a conflict
        print(f"python demo: incr -> {hits}, add -> {first}, get_many -> {found}, "
              f"{len(sessions)} live sessions")

        # Errors are exceptions built from the C status codes.
        try:
            sessions.put(b"k", b"v", ttl=0)
        except ttlkv.TTLInvalidError as error:
            print(f"python demo: ttl=0 refused: {error}")

        # The namespace every demo writes to: what C and Elixir left there is shown too.
        shared = store.namespace("demo", ttl=3600)
        shared["python"] = f"hello from Python {sys.version.split()[0]}".encode()
        for key in shared.keys():
            print(f"python demo: demo/{key.decode(errors='replace')} = {shared.get(key)!r}")

        # On disk now (a no-op cost in sync mode), and the counters of the background work.
        store.flush()
        stats = store.stats()
        print(f"python demo: {len(stats)} counters, e.g. write_commits={stats['write_commits']}, "
              f"write_calls={stats['write_calls']}, used_bytes={stats['used_bytes']}")

    print("python demo: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
