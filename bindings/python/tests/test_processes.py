"""Several processes: persistence across a reopen elsewhere, two writers at once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import ttlkv
from conftest import run_python, start_python, wait_until


def test_persistence_across_reopen_in_a_separate_process(store_dir: Path) -> None:
    with ttlkv.Store(store_dir) as store:
        ns = store.namespace("persist", ttl=3600)
        ns.put(b"bytes-key", b"\x00\x01 value")
        ns.put("str-key", b"str value")
        ns.put(b"forever", b"v", ttl=None)
        ns.put(b"short", b"v", ttl=0.2)
        deadline = ns.deadline(b"bytes-key")
    wait_until(lambda: time.time() > deadline - 3600 + 0.3, timeout=5)
    proc = run_python(
        """
        import json, sys, ttlkv
        with ttlkv.Store(sys.argv[1]) as store:
            ns = store.namespace("persist", ttl=3600)
            print(json.dumps({
                "keys": [k.decode() for k in ns.keys()],
                "bytes": ns.get(b"bytes-key").hex(),
                "str": ns.get("str-key").decode(),
                "deadline": ns.deadline(b"bytes-key"),
                "short": ns.get(b"short"),
            }))
            ns.put(b"from-child", b"child value")
        """,
        str(store_dir),
    )
    seen = json.loads(proc.stdout)
    assert seen["keys"] == ["bytes-key", "forever", "str-key"]  # "short" expired meanwhile
    assert bytes.fromhex(seen["bytes"]) == b"\x00\x01 value"
    assert seen["str"] == "str value"
    assert abs(seen["deadline"] - deadline) < 0.002
    assert seen["short"] is None
    with ttlkv.Store(store_dir) as store:
        assert store.get("persist", b"from-child") == b"child value"


def test_expired_while_closed_is_gone_after_reopen(store_dir: Path) -> None:
    with ttlkv.Store(store_dir) as store:
        store.put("n", b"short", b"v", 0.1)
        store.put("n", b"long", b"v", 3600)
    time.sleep(0.3)  # the deadline passes while no process has the store open
    proc = run_python(
        """
        import sys, ttlkv
        with ttlkv.Store(sys.argv[1]) as store:
            print(sorted(store.keys("n")))
        """,
        str(store_dir),
    )
    assert proc.stdout.strip() == "[b'long']"


WRITER = """
import sys, time, ttlkv
path, me, other, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
with ttlkv.Store(path, durability=sys.argv[5]) as store:
    ns = store.namespace("shared", ttl=600)
    for i in range(count):
        ns.put(f"{me}-{i}", f"{me} wrote {i}".encode())
        if i % 50 == 0:
            ns.get(f"{other}-{i}")  # read the other's keys while it writes
    # Then wait (bounded) until every key of the other process is visible.
    deadline = time.monotonic() + 60
    while True:
        missing = [i for i in range(count) if ns.get(f"{other}-{i}") != f"{other} wrote {i}".encode()]
        if not missing:
            break
        if time.monotonic() > deadline:
            sys.exit(f"{me}: {len(missing)} keys of {other} never appeared")
        time.sleep(0.01)
    print(f"{me} ok")
"""


def test_two_processes_write_and_read_one_store_at_once(store_dir: Path) -> None:
    ttlkv.Store(store_dir).close()  # created once, so neither child races the creation
    count = "1000"
    a = start_python(WRITER, str(store_dir), "a", "b", count, "sync")
    b = start_python(WRITER, str(store_dir), "b", "a", count, "periodic")
    out_a, err_a = a.communicate(timeout=120)
    out_b, err_b = b.communicate(timeout=120)
    assert a.returncode == 0, err_a
    assert b.returncode == 0, err_b
    assert out_a.strip() == "a ok" and out_b.strip() == "b ok"
    with ttlkv.Store(store_dir) as store:
        assert len(store.keys("shared")) == 2000


def test_two_processes_create_the_same_store_at_once(tmp_path: Path) -> None:
    store_dir = tmp_path / "fresh"
    procs = [
        start_python(WRITER, str(store_dir), me, other, "100", "periodic")
        for me, other in (("a", "b"), ("b", "a"))
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err


def test_this_process_and_a_child_share_the_store_while_both_are_open(store_dir: Path) -> None:
    with ttlkv.Store(store_dir) as store:
        ns = store.namespace("live", ttl=600)
        ns.put(b"parent", b"hello child")
        child = start_python(
            """
            import sys, time, ttlkv
            with ttlkv.Store(sys.argv[1]) as store:
                ns = store.namespace("live", ttl=600)
                assert ns.get(b"parent") == b"hello child"
                ns.put(b"child", b"hello parent")
                deadline = time.monotonic() + 30
                while ns.get(b"reply") != b"seen":
                    assert time.monotonic() < deadline, "the parent's reply never came"
                    time.sleep(0.01)
                ns.delete(b"parent")
            """,
            str(store_dir),
        )
        wait_until(lambda: ns.get(b"child") == b"hello parent", timeout=30)
        ns.put(b"reply", b"seen")
        _, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        assert ns.get(b"parent") is None
