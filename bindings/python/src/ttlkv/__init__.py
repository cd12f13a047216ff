"""ttlkv — a persistent key-value cache with a time-to-live on every key.

A thin ctypes binding of the ttlkv C library (a Rust core over LMDB). The same store can be
open at once in Python, C and Elixir programs, and in several processes::

    import ttlkv

    with ttlkv.Store("/var/cache/app") as store:
        sessions = store.namespace("sessions", ttl=1800)
        sessions[b"token"] = b"payload"
        sessions.get(b"token")            # b"payload", or None once expired

TTLs are seconds (``int``, ``float`` or ``timedelta``), rounded up to whole milliseconds;
``None`` (= :data:`TTL_NEVER`) never expires. Errors derive from :class:`Error`, one class
per failing status code of the C ABI (see :mod:`ttlkv._errors` for the tree).
"""

from __future__ import annotations

from . import _abi, _errors, _ffi
from ._convert import TTL_NEVER, ReplicaRecord, ttl_to_ms
from ._errors import *  # noqa: F403  one exception class per failing status code (_errors.__all__)
from ._memoize import memoize
from ._namespace import Namespace
from ._serializers import JSONSerializer, PickleSerializer, Serializer
from ._store import CorruptionResetWarning, Store

__version__ = "0.1.0"

#: The C ABI version this package speaks; a library of another version is refused at import.
ABI_VERSION: int = _abi.ABI_VERSION
#: The longest namespace name, in bytes.
MAX_NAMESPACE_LEN: int = _abi.CONSTANTS["TTLKV_MAX_NAMESPACE_LEN"]
#: The largest value, in bytes (1 GiB).
MAX_VALUE_LEN: int = _abi.CONSTANTS["TTLKV_MAX_VALUE_LEN"]
#: The most records one ``put_many`` takes.
MAX_BATCH_RECORDS: int = _abi.CONSTANTS["TTLKV_MAX_BATCH_RECORDS"]
#: The most bytes of keys and values one ``put_many`` takes.
MAX_BATCH_BYTES: int = _abi.CONSTANTS["TTLKV_MAX_BATCH_BYTES"]
#: The most keys one ``get_many`` or ``delete_many`` takes, and the largest ``scan`` limit.
MAX_KEYS_PER_CALL: int = _abi.CONSTANTS["TTLKV_MAX_KEYS_PER_CALL"]
#: The smallest size bound ``set_max_bytes`` takes (64 KiB).
MIN_MAX_BYTES: int = _abi.CONSTANTS["TTLKV_MIN_MAX_BYTES"]
#: The most buckets ``Store.digest`` and ``Store.versions`` take.
MAX_DIGEST_BUCKETS: int = _abi.CONSTANTS["TTLKV_MAX_DIGEST_BUCKETS"]
#: The ``deadline`` of a :class:`ReplicaRecord` that never expires (2**64-1 milliseconds).
DEADLINE_NEVER: int = _abi.CONSTANTS["TTLKV_DEADLINE_NEVER"]


def library_version() -> str:
    """The loaded library's version text, e.g. ``"ttlkv 0.1.0 (LMDB 0.9.24: ...)"``."""
    return _ffi.decode(_ffi.lib.ttlkv_version())


def library_path() -> str:
    """The file the native library was loaded from."""
    return _ffi.LIBRARY_PATH


def compiled_binding() -> bool:
    """Whether get and put run through the compiled module ``ttlkv._speedups`` (built into the
    wheel when Python's headers are there) rather than ctypes; ``TTLKV_PYTHON_BINDING=ctypes``
    in the environment turns it off."""
    return _ffi.speedups is not None


__all__ = [
    "ABI_VERSION",
    "DEADLINE_NEVER",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_RECORDS",
    "MAX_DIGEST_BUCKETS",
    "MAX_KEYS_PER_CALL",
    "MAX_NAMESPACE_LEN",
    "MAX_VALUE_LEN",
    "MIN_MAX_BYTES",
    "CorruptionResetWarning",
    "JSONSerializer",
    "Namespace",
    "PickleSerializer",
    "ReplicaRecord",
    "Serializer",
    "Store",
    "TTL_NEVER",
    "library_path",
    "compiled_binding",
    "library_version",
    "memoize",
    "ttl_to_ms",
]
__all__ += _errors.__all__
