"""The build configuration (pyproject.toml, for setuptools-rust) agrees with Cargo.toml and with
the loader, and the installed package is the wheel's layout. (The wheel itself is smoke-tested
in a virtualenv without Rust by tests/wheel_smoke.py, `make test-python-wheel`.)"""

from __future__ import annotations

import os
import re
import sysconfig
from pathlib import Path
from typing import List

import ttlkv
from ttlkv import _ffi
from conftest import REPO_ROOT

PYPROJECT = REPO_ROOT / "bindings" / "python" / "pyproject.toml"
CARGO = REPO_ROOT / "Cargo.toml"


def _table(text: str, header: str) -> str:
    """The body of one TOML table (up to the next table header)."""
    match = re.search(rf"^{re.escape(header)}\s*$(.*?)(?=^\[|\Z)", text, flags=re.M | re.S)
    assert match, f"no {header} in the file"
    return match.group(1)


def _strings(array: str) -> List[str]:
    return re.findall(r'"([^"]*)"', array)


def test_the_wheel_asks_cargo_for_the_crate_types_of_cargo_toml() -> None:
    """So that `make wheel` reuses the release build instead of replacing the library."""
    lib = _table(CARGO.read_text(), "[lib]")
    crate_types = _strings(re.search(r"^crate-type\s*=\s*\[(.*?)\]", lib, flags=re.M | re.S).group(1))  # type: ignore[union-attr]
    extension = _table(PYPROJECT.read_text(), "[[tool.setuptools-rust.ext-modules]]")
    args = _strings(re.search(r"^args\s*=\s*\[(.*?)\]", extension, flags=re.M | re.S).group(1))  # type: ignore[union-attr]
    assert args[0::2] == ["--crate-type"] * len(crate_types)
    assert args[1::2] == crate_types and "cdylib" in crate_types


def test_the_extension_target_is_the_file_the_loader_looks_for() -> None:
    extension = _table(PYPROJECT.read_text(), "[[tool.setuptools-rust.ext-modules]]")
    assert re.search(r'^target\s*=\s*"ttlkv\.(\w+)"', extension, flags=re.M).group(1) == _ffi.LIBRARY_STEM  # type: ignore[union-attr]
    assert re.search(r'^binding\s*=\s*"NoBinding"', extension, flags=re.M)
    assert re.search(r'^path\s*=\s*"\.\./\.\./Cargo\.toml"', extension, flags=re.M)


def test_the_installed_package_has_the_wheels_layout() -> None:
    package = Path(ttlkv.__file__).parent
    libraries = sorted(p.name for p in package.glob(_ffi.LIBRARY_STEM + ".*"))
    assert libraries == [_ffi.LIBRARY_STEM + ".abi3.so"]  # the py-limited-api name
    assert Path(ttlkv.library_path()) == package / libraries[0]
    assert Path(sysconfig.get_paths()["platlib"]).resolve() in package.resolve().parents
    assert (package / "py.typed").is_file()


def test_the_installed_package_runs_the_compiled_binding_where_python_headers_exist() -> None:
    # The wheel builds ttlkv._speedups when Python's headers are there (pyproject.toml); the
    # package then runs get and put through it, else on ctypes alone. Never silently: which
    # one is the case must follow from the headers of the Python the wheel was built for.
    package = Path(ttlkv.__file__).parent
    built = sorted(p.name for p in package.glob("_speedups.*so"))
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if headers.is_file():
        assert built == ["_speedups.abi3.so"], built
        assert ttlkv.compiled_binding() is not (os.environ.get("TTLKV_PYTHON_BINDING") == "ctypes")
    else:
        assert built == [] and not ttlkv.compiled_binding()
