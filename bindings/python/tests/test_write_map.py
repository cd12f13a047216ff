"""The opt-in writable map of periodic mode."""

import os

import pytest

import ttlkv


def test_write_map_round_trips_and_survives_reopen(tmp_path):
    path = tmp_path / "wm"
    with ttlkv.Store(path, durability="periodic", write_map=True) as s:
        ns = s.namespace("ns", ttl=60)
        for i in range(1000):
            ns.put(b"k%d" % i, b"v%d" % i)
        assert ns.get(b"k999") == b"v999"
    # The map's size is reserved on disk: the file is at least the initial map (16 MiB).
    assert os.path.getsize(path / "data.mdb") >= 16 << 20
    with ttlkv.Store(path) as s:  # and a sync-mode store reads it
        assert s.get("ns", b"k0") == b"v0"
        assert len(s.keys("ns")) == 1000


def test_write_map_needs_periodic_durability(tmp_path):
    with pytest.raises(ttlkv.InvalidArgumentError):
        ttlkv.Store(tmp_path / "s", write_map=True)
    with pytest.raises(TypeError):
        ttlkv.Store(tmp_path / "s", durability="periodic", write_map=1)
    assert not (tmp_path / "s").exists()
