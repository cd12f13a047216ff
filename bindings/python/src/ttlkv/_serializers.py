"""Opt-in serializers: a namespace that stores Python objects instead of bytes."""

from __future__ import annotations

import json
import pickle
import re
from typing import Any, Protocol

__all__ = ["JSONSerializer", "PickleSerializer", "Serializer"]

#: A counter of ``incr`` as stored: ASCII decimal, an optional ``-`` (the library's format).
_COUNTER = re.compile(rb"-?[0-9]{1,20}")


class Serializer(Protocol):
    """What ``Store.namespace(..., serializer=...)`` accepts: any object with these methods."""

    def dumps(self, obj: Any) -> bytes:
        """Turns an object into the bytes stored."""
        ...

    def loads(self, data: bytes) -> Any:
        """Turns stored bytes back into an object."""
        ...


class PickleSerializer:
    """Stores any picklable object with :mod:`pickle`.

    .. warning::
       Unpickling runs code chosen by whoever wrote the bytes. A ttlkv store is a file that
       other processes — C programs, the BEAM, any Python program of the same user — can
       write. Use this serializer only for a store that nothing untrusted can write (the
       store directory is created 0700, so that is every other *user*, but not every other
       program of yours). Prefer :class:`JSONSerializer` for data shared across languages.
    """

    def __init__(self, protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
        self.protocol = protocol

    def dumps(self, obj: Any) -> bytes:
        """``pickle.dumps(obj, protocol)``."""
        return pickle.dumps(obj, protocol=self.protocol)

    def loads(self, data: bytes) -> Any:
        """``pickle.loads(data)`` — see the class warning. A counter written by ``incr``
        (ASCII decimal, ``b"42"``) loads as its ``int``: no pickle has that form (every pickle
        ends with the STOP opcode ``.``), so nothing else changes meaning."""
        try:
            return pickle.loads(data)
        except Exception:
            if _COUNTER.fullmatch(data):
                return int(data)
            raise

    def __repr__(self) -> str:
        return f"PickleSerializer(protocol={self.protocol})"


class JSONSerializer:
    """Stores JSON-compatible objects as compact UTF-8 JSON: safe to load, readable from C
    and Elixir."""

    def dumps(self, obj: Any) -> bytes:
        """Compact UTF-8 JSON of ``obj``."""
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def loads(self, data: bytes) -> Any:
        """The object of a JSON document."""
        return json.loads(data)

    def __repr__(self) -> str:
        return "JSONSerializer()"
