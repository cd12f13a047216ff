"""Shared fixtures: a fresh store per test, bounded polling, and child Python processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import pytest

import ttlkv

#: The repository root (bindings/python/tests -> ../../..).
REPO_ROOT = Path(__file__).resolve().parents[3]
#: The header the ctypes declarations are checked against.
HEADER = Path(os.environ.get("TTLKV_HEADER", REPO_ROOT / "include" / "ttlkv.h"))

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.01) -> T:
    """Polls ``predicate`` until it returns something truthy; fails after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {predicate}")
        time.sleep(interval)


def run_python(code: str, *args: str, timeout: float = 60.0, check: bool = True) -> subprocess.CompletedProcess:
    """Runs ``code`` in a new interpreter of this environment (same ttlkv, same library)."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"child exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
    return proc


def start_python(code: str, *args: str) -> subprocess.Popen:
    """Starts ``code`` in a new interpreter without waiting for it."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def replace_everywhere(monkeypatch: pytest.MonkeyPatch, original: Any, replacement: Any) -> int:
    """Replaces ``original`` (a native function, say) wherever a module of the package bound it
    to a name, for the test; returns how many names were replaced (the hot paths bind the
    functions they call to module globals once)."""
    replaced = 0
    for name, module in list(sys.modules.items()):
        if name != "ttlkv" and not name.startswith("ttlkv."):
            continue
        for attribute, value in list(vars(module).items()):
            if value is original:
                monkeypatch.setattr(module, attribute, replacement)
                replaced += 1
    assert replaced, f"nothing in the package refers to {original!r}"
    return replaced


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def store(store_dir: Path) -> Iterator[ttlkv.Store]:
    with ttlkv.Store(store_dir, durability="periodic") as s:
        yield s


@pytest.fixture
def ns(store: ttlkv.Store) -> ttlkv.Namespace:
    return store.namespace("test", ttl=60)


def pytest_report_header(config: pytest.Config) -> str:
    return f"ttlkv {ttlkv.__version__}: {ttlkv.library_version()} from {ttlkv.library_path()}"
