"""Smoke test of a built wheel, installed in a fresh virtualenv without a Rust toolchain.

    python -I tests/wheel_smoke.py target/wheels/ttlkv-*.whl      # `make test-python-wheel`

Run by the virtualenv's interpreter with a PATH that holds no cargo and no rustc: the wheel
must carry everything (the library inside the package, platform-tagged), and work — open a
store, put, get, expire, flush, stats. Not collected by pytest (it runs against the test
environment, not this one). Exits non-zero on the first failure.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path


def check(condition: object, what: str) -> None:
    if not condition:
        print(f"wheel smoke test: FAILED: {what}", file=sys.stderr)
        sys.exit(1)


def main() -> int:
    wheel = Path(sys.argv[1])
    # The environment proves nothing unless it is the one promised.
    check(shutil.which("cargo") is None and shutil.which("rustc") is None, "cargo or rustc on PATH")
    check("TTLKV_LIBRARY" not in os.environ, "TTLKV_LIBRARY is set")
    check(sys.prefix != sys.base_prefix, "not inside a virtualenv")

    # The wheel: platform-specific, and the library is in it.
    name, version, python_tag, abi_tag, platform_tag = wheel.name[: -len(".whl")].split("-")
    check(name == "ttlkv" and platform_tag != "any", f"{wheel.name} is not platform-tagged")
    with zipfile.ZipFile(wheel) as archive:
        libraries = [n for n in archive.namelist() if n.startswith("ttlkv/_libttlkv.")]
        info = archive.read(f"ttlkv-{version}.dist-info/WHEEL").decode()
    check(len(libraries) == 1, f"the wheel holds {libraries}, not one library")
    check("Root-Is-Purelib: false" in info, "the wheel claims to be pure Python")

    os.chdir(tempfile.mkdtemp(prefix="ttlkv-wheel-cwd-"))  # nothing importable by accident
    import ttlkv

    package = Path(ttlkv.__file__).resolve().parent
    check(Path(sys.prefix).resolve() in package.parents, f"ttlkv imported from {package}, not the venv")
    library = Path(ttlkv.library_path()).resolve()
    check(library.parent == package, f"the library {library} is not inside the package {package}")
    check(library.name == Path(libraries[0]).name, f"loaded {library.name}, the wheel has {libraries[0]}")

    directory = tempfile.mkdtemp(prefix="ttlkv-wheel-smoke-")
    with ttlkv.Store(os.path.join(directory, "store"), durability="periodic") as store:
        ns = store.namespace("smoke", ttl=60)
        ns.put(b"k", b"v")
        check(ns.get(b"k") == b"v" and store.get("smoke", "k") == b"v", "put then get")
        ns.put(b"brief", b"gone soon", ttl=0.05)
        started = time.monotonic()
        while ns.get(b"brief") is not None:
            check(time.monotonic() - started < 10, "an entry with a 50 ms TTL still readable after 10 s")
            time.sleep(0.01)
        store.flush()
        stats = store.stats()
        from ttlkv import _abi

        counters = {n[len("TTLKV_STAT_"):].lower() for n in _abi.CONSTANTS if n.startswith("TTLKV_STAT_")}
        check(set(stats) == counters, f"stats() has {sorted(stats)}, the header {sorted(counters)}")
        check(stats["map_size"] >= stats["used_bytes"] > 0, f"stats {stats}")
        check(stats["write_commits"] >= 1, f"stats {stats}")
    with ttlkv.Store(os.path.join(directory, "store")) as again:
        check(again.get("smoke", b"k") == b"v", "the value after a reopen")
    shutil.rmtree(directory)
    print(f"wheel smoke test: ok: {wheel.name} ({ttlkv.library_version()}) from {library}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
