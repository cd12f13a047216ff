"""The installed package type-checks under mypy --strict, as a user's code would see it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import ttlkv


def test_package_passes_mypy_strict(tmp_path: Path) -> None:
    package = Path(ttlkv.__file__).parent
    assert (package / "py.typed").is_file()
    proc = subprocess.run(  # the installed package, by name, as a user's mypy finds it
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "-p", "ttlkv"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_user_code_sees_the_api_types(tmp_path: Path) -> None:
    user = tmp_path / "user.py"
    user.write_text(
        textwrap.dedent(
            """
            import datetime
            from typing import Any, Dict, Iterator, List, MutableMapping, Optional, Tuple
            import ttlkv

            def cached(path: str) -> Optional[bytes]:
                with ttlkv.Store(path, durability="periodic", sync_interval=0.5) as store:
                    ns = store.namespace("sessions", ttl=datetime.timedelta(minutes=30))
                    try:
                        ns.put("token", b"payload", ttl=1.5)
                    except ttlkv.KeyTooLongError as e:
                        print(e.code, e.detail)
                    except ttlkv.StorageError:
                        raise
                    value: Optional[bytes] = ns.get(b"token")
                    deadline: Optional[float] = ns.deadline("token")
                    keys: list[bytes] = ns.keys()
                    print(deadline, keys, store.stats()["map_size"] + 1)
                    hits: int = ns.incr("hits") + store.incr("sessions", "hits", 2, create_ttl=None)
                    added: bool = ns.add("token", b"other") or ns.touch("token")
                    many: Dict[Any, Any] = ns.get_many(["token", b"hits"])
                    versioned: Optional[Tuple[Any, int]] = ns.get_versioned("token")
                    cas: Optional[int] = ns.put_if_version("token", b"new", None)
                    page: List[Tuple[bytes, Any]] = ns.scan(b"t", None, 10)
                    lazy: Iterator[Tuple[bytes, bytes]] = store.iter_prefix("sessions", b"t")
                    bound: Tuple[Optional[int], str] = store.max_bytes()
                    mapping: MutableMapping[Any, Any] = ns
                    print(hits, added, many, versioned, cas, page, lazy, bound, len(mapping))
                    return value
            """
        )
    )
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(user)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
