"""crash_safe: in periodic mode, each flush keeps its snapshot reachable, and opening after a
crash of the machine returns the store to exactly that flush. A reboot is simulated by giving
the flush mark another boot id (the mark's format: README, "After a crash of the machine")."""

import os
import subprocess
import sys
import textwrap

import pytest

import ttlkv

_CHILD = textwrap.dedent(
    """
    import os, sys, ttlkv
    s = ttlkv.Store(sys.argv[1], durability="periodic", sync_interval=3600, crash_safe=True)
    ns = s.namespace("n", None)
    ns["a"] = b"flushed"
    ns["b"] = b"flushed too"
    s.flush()
    ns["a"] = b"after the flush"
    del ns["b"]
    for i in range(200):
        ns[f"fill{i}"] = b"x" * 300
    os._exit(0)  # no close: what was not flushed was never flushed
    """
)


def _fnv1a(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def _as_if_rebooted(path: str) -> None:
    """Rewrites the flush mark as if it had been written in another boot."""
    mark_path = os.path.join(path, "flush.mark")
    with open(mark_path) as f:
        fields = f.read().split()
    assert fields[:2] == ["ttlkv-flush", "2"] and len(fields[4]) == 272, fields
    fields[2] = "an-earlier-boot"
    body = " ".join(fields[:6])
    line = f"{body} {_fnv1a(body.encode()):016x}\n"
    with open(mark_path, "r+") as f:
        f.write(line.ljust(512))


def _run_child(path: str) -> None:
    subprocess.run([sys.executable, "-c", _CHILD, path], check=True, timeout=120)


def test_after_a_crash_of_the_machine_the_store_is_back_at_its_last_flush(tmp_path):
    path = str(tmp_path / "store")
    _run_child(path)
    _as_if_rebooted(path)
    with ttlkv.Store(path, durability="periodic", crash_safe=True) as s:
        stats = s.stats()
        assert (stats["rolled_back_at_open"], stats["verified_at_open"]) == (1, 1)
        ns = s.namespace("n", None)
        assert ns["a"] == b"flushed" and ns["b"] == b"flushed too"
        assert len(ns) == 2
        assert s.verify() == []


def test_a_process_crash_loses_nothing(tmp_path):
    path = str(tmp_path / "store")
    _run_child(path)
    with ttlkv.Store(path, durability="periodic", crash_safe=True) as s:
        assert s.stats()["rolled_back_at_open"] == 0
        ns = s.namespace("n", None)
        assert ns["a"] == b"after the flush" and "b" not in ns
        assert len(ns) == 201


def test_crash_safe_needs_periodic_and_a_bool(tmp_path):
    with pytest.raises(ttlkv.InvalidArgumentError, match="crash_safe"):
        ttlkv.Store(str(tmp_path / "s"), crash_safe=True)
    with pytest.raises(TypeError, match="crash_safe"):
        ttlkv.Store(str(tmp_path / "s"), durability="periodic", crash_safe=1)  # type: ignore[arg-type]
