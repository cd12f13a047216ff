"""C and Python on one store: a C program (interop.c, compiled here against
include/ttlkv.h and the very library this package loaded) and Python read each other's keys."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import ttlkv
from conftest import HEADER, wait_until

N = 200


@pytest.fixture(scope="module")
def interop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc, "a C compiler (cc) is needed for the C interop tests"
    assert HEADER.is_file(), f"the header {HEADER} is missing"
    # Link the very file this package loaded, under the names a C linker and loader look
    # for: libttlkv.so, and its soname libttlkv.so.<ABI version>.
    directory = tmp_path_factory.mktemp("interop")
    library = Path(ttlkv.library_path())
    for name in ("libttlkv.so", f"libttlkv.so.{ttlkv.ABI_VERSION}"):
        (directory / name).symlink_to(library)
    binary = directory / "interop"
    source = Path(__file__).with_name("interop.c")
    subprocess.run(
        [
            cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-O1",
            f"-I{HEADER.parent}", "-o", str(binary), str(source),
            f"-L{directory}", "-lttlkv", f"-Wl,-rpath,{directory}",
        ],
        check=True,
    )
    return binary


def run_c(binary: Path, *args: str) -> str:
    proc = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"interop {args} exited {proc.returncode}: {proc.stderr}"
    return proc.stdout


def test_c_writes_python_reads(interop: Path, store_dir: Path) -> None:
    run_c(interop, str(store_dir), "write", str(N))
    with ttlkv.Store(store_dir) as store:
        ns = store.namespace("interop", ttl=60)
        for i in range(N):
            assert ns.get(f"from-c-{i}") == f"c value {i}".encode()
        assert ns.get(b"c-forever") == b"forever"
        assert ns.deadline(b"c-forever") == math.inf
        assert ns.get(b"\x00\x01\x02\xff") == b"\xff\x00\xfe"
        assert len(ns.keys()) == N + 2


def test_python_writes_c_reads(interop: Path, store_dir: Path) -> None:
    with ttlkv.Store(store_dir) as store:
        ns = store.namespace("interop", ttl=3600)
        ns.put_many({f"from-py-{i}": f"py value {i}".encode() for i in range(N // 2)})
        for i in range(N // 2, N):
            ns[f"from-py-{i}"] = f"py value {i}".encode()
        ns.put(b"py-forever", b"v", ttl=None)
        ns.put("clé", b"utf-8 key")
    out = run_c(interop, str(store_dir), "read", str(N))
    assert f"the namespace has {N + 2} keys" in out


def test_c_and_python_with_the_store_open_at_once(interop: Path, store_dir: Path) -> None:
    with ttlkv.Store(store_dir) as store:
        ns = store.namespace("interop", ttl=60)
        child = subprocess.Popen(
            [str(interop), str(store_dir), "echo"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        payload = os.urandom(100)
        ns.put(b"ping", payload)

        def answered() -> object:
            if child.poll() is not None and ns.get(b"pong") is None:
                pytest.fail(f"interop echo exited {child.returncode}: {child.communicate()[1]}")
            return ns.get(b"pong")

        assert wait_until(answered, timeout=30) == payload
        out, err = child.communicate(timeout=30)
        assert child.returncode == 0, err
        assert out.strip() == "c answered"
