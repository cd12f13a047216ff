"""Builds the native library with cargo and puts it inside the package.

``pip install ./bindings/python`` runs ``cargo build --release --lib`` at the root of the
ttlkv repository (two levels up from this file, or ``$TTLKV_SOURCE_DIR``) and copies
``target/release/libttlkv.so`` to ``ttlkv/_libttlkv.so`` in the wheel. The wheel is marked
platform-specific (it carries a native library) but not tied to a Python version (ctypes).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = Path(__file__).resolve().parent

if sys.platform == "darwin":
    CARGO_NAME, PACKAGE_NAME = "libttlkv.dylib", "_libttlkv.dylib"
else:
    CARGO_NAME, PACKAGE_NAME = "libttlkv.so", "_libttlkv.so"


def _source_root() -> Path:
    override = os.environ.get("TTLKV_SOURCE_DIR")
    root = Path(override).resolve() if override else HERE.parent.parent
    if not (root / "Cargo.toml").is_file():
        raise SystemExit(
            f"ttlkv: no Cargo.toml at {root}: build this package from a ttlkv source tree "
            "(pip install ./bindings/python), or set TTLKV_SOURCE_DIR to one"
        )
    return root


def _build_library() -> Path:
    root = _source_root()
    cargo = os.environ.get("CARGO", "cargo")
    if shutil.which(cargo) is None:
        raise SystemExit(
            "ttlkv: cargo was not found on PATH; the package builds its native library from "
            "source and needs a Rust toolchain (https://rustup.rs)"
        )
    env = dict(os.environ, LIBLMDB_NO_PKG_CONFIG="1")
    command = [cargo, "build", "--release", "--lib"]
    print(f"ttlkv: running {' '.join(command)} in {root}", flush=True)
    subprocess.run(command, cwd=root, env=env, check=True)
    target = Path(env.get("CARGO_TARGET_DIR", root / "target"))
    if not target.is_absolute():
        target = root / target
    library = target / "release" / CARGO_NAME
    if not library.is_file():
        raise SystemExit(f"ttlkv: cargo succeeded but {library} is missing")
    return library


class BuildPyWithLibrary(build_py):
    """``build_py`` that also builds the Rust library and copies it into the package."""

    def run(self) -> None:
        super().run()
        library = _build_library()
        if getattr(self, "editable_mode", False):  # pip install -e: next to the sources
            package_dir = HERE / "src" / "ttlkv"
        else:
            package_dir = Path(self.build_lib) / "ttlkv"
        package_dir.mkdir(parents=True, exist_ok=True)
        # A fresh copy every time (never "up to date" by mtime): cargo may have relinked.
        shutil.copy2(library, package_dir / PACKAGE_NAME)


class BinaryDistribution(Distribution):
    """The wheel carries a native library, so it is platform-specific."""

    def has_ext_modules(self) -> bool:
        return True


cmdclass = {"build_py": BuildPyWithLibrary}

try:  # a ctypes package works with any CPython: tag the wheel py3-none-<platform>
    try:
        from setuptools.command.bdist_wheel import bdist_wheel
    except ImportError:
        from wheel.bdist_wheel import bdist_wheel  # type: ignore[no-redef]

    class BdistWheelPy3(bdist_wheel):  # type: ignore[misc, valid-type]
        def get_tag(self):  # type: ignore[no-untyped-def]
            _, _, platform = super().get_tag()
            return "py3", "none", platform

    cmdclass["bdist_wheel"] = BdistWheelPy3
except ImportError:
    pass

setup(cmdclass=cmdclass, distclass=BinaryDistribution)
