"""on_corruption: a damaged store raises by default and is left as it was; with "reset" it
is moved aside, an empty store opens in its place, and a warning says where the old one went."""

import os
import warnings

import pytest

import ttlkv


def _damaged(tmp_path):
    path = str(tmp_path / "store")
    with ttlkv.Store(path) as s:
        ns = s.namespace("n", 60)
        for i in range(50):
            ns[f"k{i}"] = b"v" * 100
    os.truncate(os.path.join(path, "data.mdb"), 8192 + 17)
    return path


def test_a_damaged_store_raises_by_default_and_is_untouched(tmp_path):
    path = _damaged(tmp_path)
    before = open(os.path.join(path, "data.mdb"), "rb").read()
    with pytest.raises(ttlkv.CorruptedError) as e:
        ttlkv.Store(path)
    assert path in str(e.value)
    with pytest.raises(ttlkv.CorruptedError):
        ttlkv.Store(path, on_corruption="error")
    assert open(os.path.join(path, "data.mdb"), "rb").read() == before


def test_reset_moves_it_aside_and_opens_an_empty_store_with_a_warning(tmp_path):
    path = _damaged(tmp_path)
    before = open(os.path.join(path, "data.mdb"), "rb").read()
    with pytest.warns(ttlkv.CorruptionResetWarning, match="moved to"):
        s = ttlkv.Store(path, on_corruption="reset")
    try:
        aside = s.corruption_reset()
        assert aside is not None and os.path.basename(aside).startswith("store.corrupted-")
        assert open(os.path.join(aside, "data.mdb"), "rb").read() == before
        assert s.namespaces() == []
        assert s.stats()["corruption_resets"] == 1
        s.namespace("n", 60)["k"] = b"v"
        assert s.verify() == []
    finally:
        s.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a healthy store: no warning
        with ttlkv.Store(path, on_corruption="reset") as again:
            assert again.corruption_reset() is None
            assert again.namespace("n", 60)["k"] == b"v"


def test_a_bad_on_corruption_value_is_refused(tmp_path):
    with pytest.raises(ttlkv.InvalidArgumentError):
        ttlkv.Store(str(tmp_path / "s"), on_corruption="ignore")
    assert not os.path.exists(str(tmp_path / "s"))
