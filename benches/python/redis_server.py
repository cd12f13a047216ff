"""The Redis peer of the Python benchmarks: a redis-server of its own, on a unix socket only."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from typing import Optional


def start(socket: str, *options: str) -> Optional["subprocess.Popen[bytes]"]:
    """A redis-server listening on the unix socket ``socket`` alone (no TCP port), started with
    ``options`` (e.g. ``"--appendonly", "yes"``); ``None`` when redis-server or the redis
    package is missing, or when the socket does not appear within 5 s."""
    server = shutil.which("redis-server")
    try:
        import redis  # noqa: F401
    except ImportError:
        return None
    if server is None:
        return None
    proc = subprocess.Popen(
        [server, "--port", "0", "--unixsocket", socket, *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(500):
        if os.path.exists(socket):
            return proc
        time.sleep(0.01)
    proc.kill()
    return None
