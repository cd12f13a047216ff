"""fork(): a store belongs to the process that opened it.

The rule lives in the library (the binding has no fork hook of its own): in a child made by
fork(), every call on a handle inherited from the parent returns TTLKV_CLOSED (ClosedError,
with a message that names fork), and closing or freeing it there releases only memory. The
child opens the directory itself; the parent's store is unaffected.

Each child runs a function, reports through its exit code (0: passed; 1: an assertion failed;
2: another exception; the text goes through a pipe) and leaves with os._exit, so that none of
pytest's own cleanup runs twice. A child that hangs is killed after a bounded wait.
"""

from __future__ import annotations

import gc
import os
import signal
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable, List

import pytest

import ttlkv
from ttlkv import _lifetime
from conftest import run_python

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() on this platform"),
    # Python 3.12+ warns about fork() in a process with threads (the library's own threads).
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning"),
]

CHILD_TIMEOUT = 30.0


def in_child(body: Callable[[], None], timeout: float = CHILD_TIMEOUT) -> None:
    """Runs ``body`` in a forked child and fails the test if it failed, crashed or hung."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 2
        try:
            os.close(read)
            signal.alarm(int(timeout) + 5)  # a hang kills the child even if the parent dies
            body()
            code = 0
        except AssertionError:
            code = 1
            os.write(write, traceback.format_exc().encode())
        except BaseException:  # noqa: BLE001
            os.write(write, traceback.format_exc().encode())
        finally:
            os._exit(code)
    os.close(write)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(read)
            pytest.fail(f"the forked child hung for {timeout} s")
        time.sleep(0.01)
    with os.fdopen(read, "rb") as pipe:
        report = pipe.read().decode(errors="replace")
    if os.WIFSIGNALED(status):
        pytest.fail(f"the forked child died of signal {os.WTERMSIG(status)}\n{report}")
    code = os.WEXITSTATUS(status)
    assert code == 0, f"the forked child exited {code}:\n{report}"


def assert_closed_by_fork(call: Callable[[], Any]) -> None:
    try:
        call()
    except ttlkv.ClosedError as e:
        assert e.code == 105 and e.status == "TTLKV_CLOSED", e
        assert "fork" in str(e), f"the message does not mention fork: {e}"
        assert "fork" in e.detail  # the library's own detail, not the binding's
    else:
        raise AssertionError(f"{call} did not raise ClosedError in the child")


def every_call(store: ttlkv.Store, ns: ttlkv.Namespace) -> List[Callable[[], Any]]:
    return [
        lambda: store.get("n", b"k"),
        lambda: store.put("n", b"k", b"child", 60),
        lambda: store.delete("n", b"k"),
        lambda: store.keys("n"),
        lambda: store.entries("n"),
        lambda: store.deadline("n", b"k"),
        lambda: store.put_many([("n", b"k", b"child", 60)]),
        lambda: store.max_key_len("n"),
        lambda: store.flush(),
        lambda: store.purge_expired(),
        lambda: store.stats(),
        lambda: store.verify(),
        lambda: ns.get(b"k"),
        lambda: ns[b"k"],
        lambda: ns.put(b"k", b"child"),
        lambda: ns.__setitem__(b"k", b"child"),
        lambda: ns.put_many({b"k": b"child"}),
        lambda: ns.delete(b"k"),
        lambda: b"k" in ns,
        lambda: ns.keys(),
        lambda: list(ns),
        lambda: ns.entries(),
        lambda: ns.items(),
        lambda: ns.deadline(b"k"),
        lambda: ns.max_key_len(),
        lambda: store.namespace("other", ttl=60).get(b"k"),
        lambda: ns.touch(b"k"),
        lambda: ns.add(b"new", b"child"),
        lambda: ns.incr(b"counter"),
        lambda: ns.take(b"k"),
        lambda: ns.get_versioned(b"k"),
        lambda: ns.put_if_version(b"k", b"child", None),
        lambda: ns.get_many([b"k", b"big"]),
        lambda: ns.delete_many([b"k"]),
        lambda: ns.clear(),
        lambda: len(ns),
        lambda: bool(ns),
        lambda: ns.scan(),
        lambda: list(ns.iter_prefix()),
        lambda: ns.pop(b"k"),
        lambda: ns.popitem(),
        lambda: ns.setdefault(b"new", b"child"),
        lambda: ns.update({b"k": b"child"}),
        lambda: store.namespaces(),
        lambda: store.set_max_bytes(1 << 20),
        lambda: store.max_bytes(),
        lambda: store.backup(store.path + "-child-backup"),
    ]


def test_inherited_store_is_closed_in_the_child(store_dir: Path) -> None:
    store = ttlkv.Store(store_dir)
    ns = store.namespace("n", ttl=60)
    ns.put(b"k", b"parent")
    ns.put(b"big", b"x" * 100_000)

    def child() -> None:
        for call in every_call(store, ns):
            assert_closed_by_fork(call)
        # Nothing the child tried reached the store: the parent's entries are intact.
        with ttlkv.Store(store_dir) as own:
            assert own.get("n", b"k") == b"parent"
            assert own.get("n", b"big") == b"x" * 100_000
            assert own.keys("n") == [b"big", b"k"]

    in_child(child)
    # The parent's store is untouched and fully working.
    assert ns.get(b"k") == b"parent"
    assert store.keys("n") == [b"big", b"k"]
    ns.put(b"k2", b"parent again")
    assert ns.get(b"k2") == b"parent again"
    assert store.verify() == []
    store.close()


def test_child_closes_and_drops_the_inherited_store(store_dir: Path) -> None:
    """close() and the finalizer in the child release only the child's memory: no hang, no
    crash, nothing done to the parent's environment (its reader slots, its lock file)."""
    store = ttlkv.Store(store_dir, durability="periodic")
    ns = store.namespace("n", ttl=60)
    ns.put(b"k", b"parent")
    other = ttlkv.Store(store_dir)  # a second handle on the same environment
    handle, other_handle = store._h, other._h

    def child() -> None:
        nonlocal store, other, ns
        store.close()  # returns at once: nothing to wait for in the child
        store.close()  # idempotent
        assert store.closed
        try:
            store.get("n", b"k")
        except ttlkv.ClosedError:
            pass
        else:
            raise AssertionError("a closed store answered")
        # The other handle is dropped without close(): its finalizer runs ttlkv_free.
        finalizer = other._finalizer
        assert any(h is other_handle for h in _lifetime._live.values())
        del other
        gc.collect()
        assert not finalizer.alive
        assert not any(h is other_handle for h in _lifetime._live.values())
        del store, ns
        gc.collect()
        assert not any(h is handle for h in _lifetime._live.values())
        # Then the child opens the directory itself and writes.
        with ttlkv.Store(store_dir) as own:
            assert own.get("n", b"k") == b"parent"
            own.put("n", b"from-child", b"child", 60)

    in_child(child)
    # The parent still reads and writes through both handles, and sees the child's write.
    assert ns.get(b"from-child") == b"child"
    assert other.get("n", b"k") == b"parent"
    ns.put(b"k", b"parent 2")
    other.put("n", b"k3", b"other", 60)
    assert store.get("n", b"k") == b"parent 2" and ns.get(b"k3") == b"other"
    store.flush()
    assert store.verify() == []
    other.close()
    store.close()
    with ttlkv.Store(store_dir) as again:
        assert again.keys("n") == [b"from-child", b"k", b"k3"]


def test_child_works_with_its_own_store_and_the_parent_sees_it(store_dir: Path) -> None:
    """The child's own store, including the binding's per-process state it inherited: the
    pool of read buffers (small values, values past the buffer, past the pool's limit), the
    table of live handles (finalizer and reopen), and namespaces with cached TTLs."""
    store = ttlkv.Store(store_dir, durability="periodic")
    ns = store.namespace("n", ttl=60)
    sizes = [0, 1, 4095, 4096, 4097, 100_000, (1 << 20) + 1, 3 << 20]
    for n in sizes:
        ns.put(b"parent-%d" % n, bytes([n % 251]) * n)
    for n in sizes:  # fill the parent's pool with grown buffers before the fork
        assert ns.get(b"parent-%d" % n) == bytes([n % 251]) * n

    def child() -> None:
        own = ttlkv.Store(store_dir)
        mine = own.namespace("n", ttl=60)
        for n in sizes:
            assert mine.get(b"parent-%d" % n) == bytes([n % 251]) * n
            assert own.get("n", b"parent-%d" % n) == bytes([n % 251]) * n
            mine.put(b"child-%d" % n, bytes([(n + 1) % 251]) * n)
        for n in sizes:
            assert mine[b"child-%d" % n] == bytes([(n + 1) % 251]) * n
        mine.put_many({b"batch-%d" % i: b"b%d" % i for i in range(100)}, ttl=0.0015)
        assert own.max_key_len("n") > 400
        assert own.stats()["map_size"] > 0
        assert own.verify() == []
        own.flush()
        # A store dropped and opened again in the child.
        finalizer = own._finalizer
        del own, mine
        gc.collect()
        assert not finalizer.alive
        with ttlkv.Store(store_dir) as again:
            again.put("n", b"child-done", b"yes", None)
        # The inherited store still refuses, after all that.
        assert_closed_by_fork(lambda: ns.get(b"parent-1"))

    in_child(child)
    for n in sizes:
        assert ns.get(b"child-%d" % n) == bytes([(n + 1) % 251]) * n
        assert ns.get(b"parent-%d" % n) == bytes([n % 251]) * n
    assert ns.get(b"child-done") == b"yes"
    ns.put(b"after", b"fork")
    assert ns.get(b"after") == b"fork"
    store.close()


def test_fork_while_parent_threads_use_the_store(store_dir: Path) -> None:
    """Threads of the parent are inside native calls (holding read buffers of the pool and
    the library's locks) when the fork happens: the child, which has none of those threads,
    must neither hang nor share their buffers."""
    store = ttlkv.Store(store_dir, durability="periodic")
    ns = store.namespace("n", ttl=60)
    ns.put(b"shared", b"s" * 10_000)
    stop = threading.Event()
    errors: List[BaseException] = []
    counts = [0] * 4

    def hammer(i: int) -> None:
        try:
            while not stop.is_set():
                ns.put(b"t%d" % i, b"%d" % counts[i])
                assert ns.get(b"shared") == b"s" * 10_000
                store.keys("n")
                counts[i] += 1
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    try:
        for _ in range(5):

            def child() -> None:
                assert_closed_by_fork(lambda: ns.get(b"shared"))
                assert_closed_by_fork(lambda: ns.put(b"c", b"v"))
                store.close()
                with ttlkv.Store(store_dir) as own:
                    assert own.get("n", b"shared") == b"s" * 10_000
                    own.put("n", b"child", b"was here", 60)
                    for _ in range(50):
                        assert own.get("n", b"shared") == b"s" * 10_000

            in_child(child)
            time.sleep(0.01)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors
    assert all(counts), counts
    assert ns.get(b"child") == b"was here"
    store.close()


def test_multiprocessing_fork_context(store_dir: Path) -> None:
    import multiprocessing

    store = ttlkv.Store(store_dir)
    store.put("n", b"k", b"parent", 60)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_multiprocessing_child, args=(store, str(store_dir), queue))
    proc.start()
    result = queue.get(timeout=CHILD_TIMEOUT)
    proc.join(CHILD_TIMEOUT)
    assert proc.exitcode == 0
    assert result == ("closed", "fork", b"parent")
    assert store.get("n", b"mp") == b"child"
    store.close()


def _multiprocessing_child(store: ttlkv.Store, path: str, queue: Any) -> None:
    mentions = ""
    try:
        store.get("n", b"k")
        seen = "no error"
    except ttlkv.ClosedError as e:
        seen = "closed"
        mentions = "fork" if "fork" in str(e) else str(e)
    with ttlkv.Store(path) as own:
        own.put("n", b"mp", b"child", 60)
        queue.put((seen, mentions, own.get("n", b"k")))


def test_child_that_exits_normally(store_dir: Path) -> None:
    """A child that leaves through interpreter exit (atexit closes every handle the binding
    knows, the inherited ones included; finalizers run) neither hangs nor disturbs the
    parent. Run in a separate interpreter, whose forked child may exit normally."""
    proc = run_python(
        """
        import os, sys, ttlkv
        store = ttlkv.Store(sys.argv[1], durability="periodic")
        ns = store.namespace("n", ttl=None)
        ns.put(b"k", b"parent")
        pid = os.fork()
        if pid == 0:
            try:
                ns.get(b"k")
                sys.exit(3)
            except ttlkv.ClosedError:
                pass
            own = ttlkv.Store(sys.argv[1], durability="periodic")
            own.put("n", b"child", b"exit", None)
            forgotten = [store, ns, own]
            forgotten.append(forgotten)
            sys.exit(0)  # atexit: ttlkv_close on the inherited handle and on `own`
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
        assert ns.get(b"child") == b"exit"
        ns.put(b"k", b"parent after")
        assert ns.get(b"k") == b"parent after"
        print("parent ok")
        """,
        str(store_dir),
        timeout=CHILD_TIMEOUT,
    )
    assert proc.stdout.strip() == "parent ok"
    assert "Traceback" not in proc.stderr and "Fatal" not in proc.stderr
    with ttlkv.Store(store_dir) as store:
        assert store.get("n", b"k") == b"parent after"
        assert store.get("n", b"child") == b"exit"
