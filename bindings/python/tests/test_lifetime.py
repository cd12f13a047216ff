"""Lifetime: close, the finalizer of a forgotten store, interpreter exit (fork: test_fork.py)."""

from __future__ import annotations

import gc
import sys
import weakref
from pathlib import Path

import pytest

import ttlkv
from ttlkv import _lifetime
from conftest import run_python


def test_finalizer_releases_a_forgotten_store(store_dir: Path) -> None:
    store = ttlkv.Store(store_dir, durability="periodic")
    store.namespace("n", ttl=60).put(b"k", b"v")
    finalizer = store._finalizer
    ref = weakref.ref(store)
    handle = store._h
    assert any(h is handle for h in _lifetime._live.values())
    del store
    gc.collect()
    assert ref() is None
    assert not finalizer.alive
    assert not any(h is handle for h in _lifetime._live.values())
    # The directory is usable again, and the write survived.
    with ttlkv.Store(store_dir) as again:
        assert again.get("n", b"k") == b"v"


def test_namespace_keeps_its_store_alive(store_dir: Path) -> None:
    ns = ttlkv.Store(store_dir).namespace("n", ttl=60)
    gc.collect()
    ns.put(b"k", b"v")  # the store behind it was not finalized
    assert ns.get(b"k") == b"v"
    finalizer = ns.store._finalizer
    del ns
    gc.collect()
    assert not finalizer.alive


def test_finalizer_of_a_store_in_a_reference_cycle(store_dir: Path) -> None:
    class Holder:
        pass

    holder = Holder()
    holder.self = holder  # type: ignore[attr-defined]
    holder.store = ttlkv.Store(store_dir)  # type: ignore[attr-defined]
    finalizer = holder.store._finalizer  # type: ignore[attr-defined]
    del holder
    gc.collect()
    assert not finalizer.alive


def test_closed_then_finalized(store_dir: Path) -> None:
    store = ttlkv.Store(store_dir)
    store.close()
    finalizer = store._finalizer
    del store
    gc.collect()
    assert not finalizer.alive


def test_many_stores_opened_and_dropped(tmp_path: Path) -> None:
    for i in range(50):
        store = ttlkv.Store(tmp_path / "same", durability="periodic")
        store.put("n", str(i), b"v", 60)
        if i % 2:
            store.close()
        del store
    gc.collect()
    with ttlkv.Store(tmp_path / "same") as store:
        assert len(store.keys("n")) == 50


def test_same_directory_twice_in_one_process(store_dir: Path) -> None:
    with ttlkv.Store(store_dir) as a, ttlkv.Store(store_dir) as b:
        a.put("n", b"k", b"from a", 60)
        assert b.get("n", b"k") == b"from a"
        a.close()
        assert b.get("n", b"k") == b"from a"  # closing one handle leaves the other open


def test_forgotten_store_at_interpreter_exit(store_dir: Path) -> None:
    """No close, no del: exit must neither crash nor lose a periodic write."""
    proc = run_python(
        """
        import sys, ttlkv
        store = ttlkv.Store(sys.argv[1], durability="periodic", sync_interval=60)
        ns = store.namespace("n", ttl=None)
        ns.put(b"k", b"written before exit")
        holder = [store, ns]
        holder.append(holder)  # a cycle as well
        print("done")
        """,
        str(store_dir),
    )
    assert proc.stdout.strip() == "done" and proc.stderr == ""
    with ttlkv.Store(store_dir) as store:
        assert store.get("n", b"k") == b"written before exit"


def test_exit_while_daemon_threads_use_the_store(store_dir: Path) -> None:
    proc = run_python(
        """
        import sys, threading, time, ttlkv
        store = ttlkv.Store(sys.argv[1], durability="periodic")
        ns = store.namespace("n", ttl=60)
        started = threading.Barrier(5)

        def hammer(i):
            started.wait()
            n = 0
            while True:
                try:
                    ns.put(b"k%d" % i, b"v")
                    ns.get(b"k%d" % i)
                    n += 1
                except ttlkv.ClosedError:
                    return

        for i in range(4):
            threading.Thread(target=hammer, args=(i,), daemon=True).start()
        started.wait()
        time.sleep(0.2)
        print("exiting")
        """,
        str(store_dir),
    )
    assert proc.stdout.strip() == "exiting"
    assert "Traceback" not in proc.stderr and "Fatal" not in proc.stderr


def test_store_cannot_be_pickled(store: ttlkv.Store) -> None:
    import pickle

    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(store)


def test_repr(store_dir: Path) -> None:
    store = ttlkv.Store(store_dir)
    assert "sync" in repr(store) and str(store_dir) in repr(store)
    store.close()
    assert "closed" in repr(store)
    assert sys.getrefcount(store) >= 1
