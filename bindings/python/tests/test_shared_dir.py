"""The directory checks of the core, through ``Store(..., allow_shared_dir=...)``.

By default an existing directory that other users could tamper with (owned by another user,
or writable by its group or by others) is refused with PermissionDeniedError; the option
accepts it. Store files that are links, hard-linked or not regular files are refused with
PathInvalidError whatever the option, and the file they point at is left untouched.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Callable, Dict

import pytest

import ttlkv
from ttlkv import _abi

VICTIM_BYTES = b"precious data of the victim\n" * 100


def make_store(directory: Path) -> None:
    with ttlkv.Store(directory) as store:
        store.put("n", b"k", b"before", None)


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o707, 0o720, 0o702])
def test_directory_writable_by_others_is_refused_by_default(store_dir: Path, mode: int) -> None:
    make_store(store_dir)
    os.chmod(store_dir, mode)
    with pytest.raises(ttlkv.PermissionDeniedError) as info:
        ttlkv.Store(store_dir)
    error = info.value
    assert isinstance(error, ttlkv.StorageError)
    assert error.code == _abi.STATUS["TTLKV_PERMISSION"] == 205
    assert "allow_shared_dir" in str(error)
    assert str(store_dir) in str(error)
    with pytest.raises(ttlkv.PermissionDeniedError, match="allow_shared_dir"):
        ttlkv.Store(store_dir, allow_shared_dir=False)

    with ttlkv.Store(store_dir, allow_shared_dir=True) as store:
        assert store.get("n", b"k") == b"before"
        store.put("n", b"k", b"after", None)
    with ttlkv.Store(store_dir, durability="periodic", allow_shared_dir=True) as store:
        assert store.get("n", b"k") == b"after"
    assert stat.S_IMODE(os.stat(store_dir).st_mode) == mode  # the core changed nothing


def test_empty_directory_writable_by_others(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    with pytest.raises(ttlkv.PermissionDeniedError, match="allow_shared_dir"):
        ttlkv.Store(shared)
    assert sorted(os.listdir(shared)) == []  # refused untouched
    with ttlkv.Store(shared, allow_shared_dir=True) as store:
        store.put("n", b"k", b"v", 60)
        assert store.get("n", b"k") == b"v"


def test_private_directory_opens_by_default(store_dir: Path) -> None:
    make_store(store_dir)
    os.chmod(store_dir, 0o755)  # readable by others, writable by no one else: accepted
    with ttlkv.Store(store_dir) as store:
        assert store.get("n", b"k") == b"before"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_directory_owned_by_another_user(store_dir: Path) -> None:
    make_store(store_dir)
    os.chmod(store_dir, 0o700)
    os.chown(store_dir, 65534, 65534)  # nobody
    with pytest.raises(ttlkv.PermissionDeniedError, match="allow_shared_dir"):
        ttlkv.Store(store_dir)
    with ttlkv.Store(store_dir, allow_shared_dir=True) as store:
        assert store.get("n", b"k") == b"before"


def test_allow_shared_dir_is_a_bool(store_dir: Path) -> None:
    for value in (1, "yes", None):
        with pytest.raises(TypeError, match="allow_shared_dir"):
            ttlkv.Store(store_dir, allow_shared_dir=value)  # type: ignore[arg-type]
    assert not store_dir.exists()


# --- links and odd files in place of the store's files -------------------------------------


def _symlink(target: Path, link: Path) -> None:
    link.symlink_to(target)


def _hard_link(target: Path, link: Path) -> None:
    os.link(target, link)


PLANTS: Dict[str, Callable[[Path, Path], None]] = {"symlink": _symlink, "hard link": _hard_link}


def _snapshot(path: Path) -> tuple:  # type: ignore[type-arg]
    st = os.stat(path)
    return (path.read_bytes(), st.st_size, st.st_mtime_ns, stat.S_IMODE(st.st_mode))


@pytest.mark.parametrize("allow_shared_dir", [False, True])
@pytest.mark.parametrize("how", sorted(PLANTS))
@pytest.mark.parametrize("name", ["lock.mdb", "data.mdb"])
def test_store_file_linked_to_a_victim_is_refused_and_the_victim_unchanged(
    tmp_path: Path, name: str, how: str, allow_shared_dir: bool
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_bytes(VICTIM_BYTES)
    os.chmod(victim, 0o600)
    before = _snapshot(victim)
    directory = tmp_path / "store"
    directory.mkdir(mode=0o700)
    PLANTS[how](victim, directory / name)

    with pytest.raises(ttlkv.PathInvalidError) as info:
        ttlkv.Store(directory, allow_shared_dir=allow_shared_dir)
    error = info.value
    assert isinstance(error, ttlkv.InvalidArgumentError)
    assert error.code == _abi.STATUS["TTLKV_PATH_INVALID"] == 108
    assert error.detail
    assert _snapshot(victim) == before
    assert sorted(os.listdir(directory)) == [name]  # nothing created beside it


@pytest.mark.parametrize("allow_shared_dir", [False, True])
def test_lock_file_symlink_in_an_existing_store(tmp_path: Path, allow_shared_dir: bool) -> None:
    """A store that worked, whose lock.mdb someone swapped for a link to a file of yours."""
    victim = tmp_path / "victim.txt"
    victim.write_bytes(VICTIM_BYTES)
    before = _snapshot(victim)
    directory = tmp_path / "store"
    make_store(directory)
    (directory / "lock.mdb").unlink()
    (directory / "lock.mdb").symlink_to(victim)
    with pytest.raises(ttlkv.PathInvalidError):
        ttlkv.Store(directory, allow_shared_dir=allow_shared_dir)
    assert _snapshot(victim) == before
    assert os.path.islink(directory / "lock.mdb")


@pytest.mark.parametrize("allow_shared_dir", [False, True])
@pytest.mark.parametrize("name", ["lock.mdb", "data.mdb"])
def test_store_file_that_is_not_a_regular_file(
    tmp_path: Path, name: str, allow_shared_dir: bool
) -> None:
    directory = tmp_path / "store"
    directory.mkdir(mode=0o700)
    (directory / name).mkdir()
    with pytest.raises(ttlkv.PathInvalidError):
        ttlkv.Store(directory, allow_shared_dir=allow_shared_dir)
    if hasattr(os, "mkfifo"):
        (directory / name).rmdir()
        os.mkfifo(directory / name)
        with pytest.raises(ttlkv.PathInvalidError):  # and it must not block opening a FIFO
            ttlkv.Store(directory, allow_shared_dir=allow_shared_dir)
