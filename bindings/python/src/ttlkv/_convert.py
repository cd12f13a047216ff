"""Conversions of the caller's arguments to what the C ABI takes: keys, values, namespace
names and TTLs. Pure Python: nothing here calls the library."""

from __future__ import annotations

import datetime
import math
import os
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

from ._abi import CONSTANTS, STATUS
from ._errors import binding_error

__all__ = [
    "TTL",
    "TTL_NEVER",
    "BytesLike",
    "Key",
    "ReplicaRecord",
    "checked_namespace",
    "context",
    "namespace_bytes",
    "path_bytes",
    "seconds_to_ms",
    "to_key",
    "to_keys",
    "to_limit",
    "to_replica_key",
    "to_replica_record",
    "to_u32",
    "to_u64",
    "to_value",
    "to_version",
    "ttl_to_ms",
]

#: Pass as ``ttl`` for an entry that never expires. It *is* ``None``: ``ttl=None`` and
#: ``ttl=TTL_NEVER`` mean the same. (``math.inf`` is accepted too.)
TTL_NEVER = None

Key = Union[bytes, str]
"""A key or a namespace name: ``bytes``, or ``str`` stored as its UTF-8 bytes."""
BytesLike = Union[bytes, bytearray, memoryview]
"""A value: any object with the buffer protocol (``bytes``, ``bytearray``, ``memoryview``…)."""
TTL = Union[int, float, datetime.timedelta, None]
"""A time-to-live in seconds (``int`` or ``float``) or a ``timedelta``; ``None`` never expires."""

TTL_NEVER_MS = CONSTANTS["TTLKV_TTL_NEVER"]
_MAX_NAMESPACE_LEN = CONSTANTS["TTLKV_MAX_NAMESPACE_LEN"]
_MAX_KEYS_PER_CALL = CONSTANTS["TTLKV_MAX_KEYS_PER_CALL"]
_VERSION_ABSENT = CONSTANTS["TTLKV_VERSION_ABSENT"]
_TTL_INVALID = STATUS["TTLKV_TTL_INVALID"]
_INVALID_ARGUMENT = STATUS["TTLKV_INVALID_ARGUMENT"]
_PATH_INVALID = STATUS["TTLKV_PATH_INVALID"]
_U64_MAX = (1 << 64) - 1
_U32_MAX = (1 << 32) - 1
_REPLICA_TOMBSTONE = CONSTANTS["TTLKV_REPLICA_TOMBSTONE"]


@dataclass(frozen=True)
class ReplicaRecord:
    """One record of a store with its order, as :meth:`Store.records` and
    :meth:`Store.versions` give it and :meth:`Store.merge` takes it (``struct
    ttlkv_replica_record``): an entry, or the tombstone a delete leaves on a replicating store.

    Between stores the newer record by ``(version, origin)`` wins (last writer wins). The
    numbers are the library's own, passed on unchanged: ``deadline`` is in milliseconds since
    the Unix epoch (:data:`ttlkv.DEADLINE_NEVER` for never), unlike the seconds of
    :meth:`Store.deadline`.
    """

    #: Its namespace.
    namespace: bytes
    #: Its key.
    key: bytes
    #: Its value: empty for a tombstone, and in the lists of :meth:`Store.versions`.
    value: bytes
    #: Its deadline in milliseconds since the Unix epoch (:data:`ttlkv.DEADLINE_NEVER`: never).
    deadline: int
    #: Its version: a hybrid logical clock (wall-clock milliseconds in the high bits).
    version: int
    #: The store that wrote it (that store's :meth:`Store.origin`): the tie-break.
    origin: int
    #: A delete on a replicating store: reads as absent everywhere.
    tombstone: bool = False


def to_u64(value: Any, name: str) -> int:
    """An ``int`` (not a ``bool``) from 0 to 2**64-1, checked here: ctypes would wrap one out
    of range into it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} is an int, not {type(value).__name__}")
    if not 0 <= value <= _U64_MAX:
        raise binding_error(_INVALID_ARGUMENT, f"{name} is 0 to 2**64-1, got {value}")
    return int(value)


def to_u32(value: Any, name: str) -> int:
    """:func:`to_u64` for a ``uint32_t``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} is an int, not {type(value).__name__}")
    if not 0 <= value <= _U32_MAX:
        raise binding_error(_INVALID_ARGUMENT, f"{name} is 0 to 2**32-1, got {value}")
    return int(value)


def to_replica_key(pair: Any) -> Tuple[bytes, bytes]:
    """One ``(namespace, key)`` of :meth:`Store.records` as bytes. A single ``str`` or
    ``bytes`` is refused rather than unpacked into its characters."""
    if isinstance(pair, (str, bytes, bytearray, memoryview)):
        raise TypeError(f"records takes (namespace, key) pairs, not a single {type(pair).__name__}")
    try:
        ns, key = pair
    except (TypeError, ValueError):
        raise TypeError(f"records takes (namespace, key) pairs, not {pair!r}") from None
    return namespace_bytes(ns), key if type(key) is bytes else to_key(key)


def to_replica_record(record: Any) -> Tuple[bytes, bytes, bytes, int, int, int, int]:
    """A :class:`ReplicaRecord` of :meth:`Store.merge` as the fields of ``struct
    ttlkv_replica_record``: ``(ns, key, value, deadline, version, origin, flags)``. Types and
    ranges ctypes would not see are checked here; the library checks the rest (lengths, a
    tombstone's empty value)."""
    if not isinstance(record, ReplicaRecord):
        raise TypeError(f"merge takes ReplicaRecord objects, not {type(record).__name__}")
    if not isinstance(record.tombstone, bool):
        raise TypeError(f"ReplicaRecord.tombstone is a bool, not {type(record.tombstone).__name__}")
    key, value = record.key, record.value
    return (
        namespace_bytes(record.namespace),
        key if type(key) is bytes else to_key(key),
        value if type(value) is bytes else to_value(value),
        to_u64(record.deadline, "ReplicaRecord.deadline"),
        to_u64(record.version, "ReplicaRecord.version"),
        to_u64(record.origin, "ReplicaRecord.origin"),
        _REPLICA_TOMBSTONE if record.tombstone else 0,
    )


def to_key(key: Any) -> bytes:
    if isinstance(key, bytes):
        return bytes(key)
    if isinstance(key, str):
        return key.encode("utf-8")
    raise TypeError(f"ttlkv keys are bytes or str, not {type(key).__name__}")


def to_value(value: Any) -> bytes:
    if isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, str):
        raise TypeError(
            "ttlkv values are bytes-like, not str: encode it, or open the namespace with a "
            "serializer"
        )
    try:
        view = memoryview(value)
    except TypeError:
        raise TypeError(
            f"ttlkv values are bytes-like objects, not {type(value).__name__} "
            "(open the namespace with a serializer to store objects)"
        ) from None
    with view:
        return view.tobytes()


def to_keys(keys: Iterable[Any]) -> Tuple[List[Any], List[bytes]]:
    """The keys of a many-keys call, as given (a list) and as bytes. A single key (``str``,
    ``bytes``) is refused rather than taken as a sequence of one-character keys."""
    if isinstance(keys, (str, bytes, bytearray, memoryview)):
        raise TypeError(f"keys is an iterable of keys, not a single {type(keys).__name__}")
    given = list(keys)
    return given, [k if type(k) is bytes else to_key(k) for k in given]


def to_limit(limit: Any, name: str = "limit") -> int:
    """A page size: an int from 1 to TTLKV_MAX_KEYS_PER_CALL (checked here: ctypes would wrap
    one past 64 bits into range)."""
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError(f"{name} is an int, not {type(limit).__name__}")
    if not 1 <= limit <= _MAX_KEYS_PER_CALL:
        raise binding_error(
            _INVALID_ARGUMENT, f"{name} is 1 to {_MAX_KEYS_PER_CALL} (TTLKV_MAX_KEYS_PER_CALL), got {limit}"
        )
    return limit


def to_version(expected: Optional[int]) -> int:
    """The ``expected`` of ``put_if_version``: ``None`` (no live entry) or a version."""
    if expected is None:
        return _VERSION_ABSENT
    if isinstance(expected, bool) or not isinstance(expected, int):
        raise TypeError(f"expected is a version (int) or None, not {type(expected).__name__}")
    if expected == _VERSION_ABSENT or not 0 < expected <= _U64_MAX:
        raise binding_error(
            _INVALID_ARGUMENT,
            f"expected is a version from get_versioned (1 to 2**64-1), or None for no live "
            f"entry; got {expected}",
        )
    return expected


def path_bytes(path: Any, what: str = "path") -> Tuple[str, bytes]:
    """A file-system path (``str``, ``bytes``, ``os.PathLike``) as text for messages and as the
    UTF-8 bytes of the C ABI's NUL-terminated path."""
    fspath = os.fspath(path)
    text = os.fsdecode(fspath)
    if isinstance(fspath, str):
        try:
            encoded = fspath.encode("utf-8")
        except UnicodeEncodeError:
            raise binding_error(_PATH_INVALID, f"{what} {fspath!r} is not valid UTF-8") from None
    else:
        encoded = fspath
    if b"\0" in encoded:
        raise binding_error(_PATH_INVALID, f"{what} contains a NUL byte")
    return text, encoded


def namespace_bytes(name: Any) -> bytes:
    """A namespace name as bytes. Store-level calls leave the length check to the library
    (TTLKV_NAMESPACE_INVALID)."""
    if type(name) is bytes:
        return name
    if isinstance(name, str):
        return name.encode("utf-8")
    if isinstance(name, bytes):
        return bytes(name)
    raise TypeError(f"ttlkv namespace names are bytes or str, not {type(name).__name__}")


def checked_namespace(name: Any) -> bytes:
    """A namespace name as bytes, its length checked (a Namespace checks it once, when made)."""
    encoded = namespace_bytes(name)
    if not 1 <= len(encoded) <= _MAX_NAMESPACE_LEN:
        raise binding_error(
            STATUS["TTLKV_NAMESPACE_INVALID"],
            f"a namespace name is 1 to {_MAX_NAMESPACE_LEN} bytes, got {len(encoded)}",
        )
    return encoded


def context(operation: str, ns: bytes) -> str:
    """What an error message says was being done. Keys are left out on purpose: they are
    often session tokens."""
    return f"{operation} in namespace {ns.decode('utf-8', 'backslashreplace')!r}"


#: ``seconds_to_ms`` of the non-integral floats seen so far (programs use few distinct TTLs);
#: bounded.
_MS_CACHE: Dict[float, int] = {}


def seconds_to_ms(seconds: Union[int, float]) -> int:
    """Positive, finite seconds to whole milliseconds, rounding up, so that a positive duration
    never becomes 0: ``5e-10`` -> 1, ``0.0015`` -> 2.

    A float is only the nearest binary value to the number that was meant: ``0.3`` is a hair
    below 3/10 and ``0.001`` a hair above 1/1000 (and ``0.3 * 1000`` in floats a hair above
    300). So the float's exact value is used (no float multiplication), and counts as a
    whole number of milliseconds when one lies within one unit in the last place of the
    float: ``0.3`` -> 300, ``0.001`` -> 1, ``1.1`` -> 1100. Otherwise it rounds up.
    """
    if isinstance(seconds, int) or seconds.is_integer():
        return int(seconds) * 1000
    cached = _MS_CACHE.get(seconds)
    if cached is not None:
        return cached
    # seconds == num / den exactly, den == 2**j; so ms == whole + rem / den, 0 < rem < den.
    num, den = seconds.as_integer_ratio()
    whole, rem = divmod(num * 1000, den)
    # One ulp of `seconds` is 2**k, and 2**-j is a multiple of it (j <= -k). Within the
    # tolerance of 1000 * 2**k ms <=> (rem / den) <= 1000 * 2**k <=> rem << -(k + j) <= 1000.
    k = max(math.frexp(seconds)[1] - 53, -1074)
    shift = -(k + den.bit_length() - 1)
    if (rem << shift) <= 1000:
        ms = whole  # a hair above a whole number of milliseconds: the float's own error
    else:
        ms = whole + 1  # a hair below one, or truly above `whole`: round up
    ms = max(ms, 1)
    if len(_MS_CACHE) < 1024:
        _MS_CACHE[seconds] = ms
    return ms


def _timedelta_ms(delta: datetime.timedelta) -> int:
    """A timedelta to whole milliseconds, rounding up, exactly (in integer microseconds)."""
    micros = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    return -(-micros // 1000)


def ttl_to_ms(ttl: TTL) -> int:
    """Converts a TTL in seconds to the C ABI's milliseconds (``TTLKV_TTL_NEVER`` for never).

    A positive TTL is rounded up to whole milliseconds and never becomes 0 (``5e-10`` -> 1,
    ``0.0015`` -> 2); an exact one stays exact (``0.3`` -> 300, ``1.5`` -> 1500).

    Raises:
        TTLInvalidError: for 0, a negative or NaN TTL, or one too large to represent.
        TypeError: for anything but a number, a ``timedelta`` or ``None``.
    """
    if ttl is None:
        return TTL_NEVER_MS
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float, datetime.timedelta)):
        raise TypeError(
            f"ttl is a number of seconds, a timedelta or None, not {type(ttl).__name__}"
        )
    if isinstance(ttl, datetime.timedelta):
        if ttl <= datetime.timedelta(0):
            raise binding_error(_TTL_INVALID, f"ttl must be positive, or None for never; got {ttl!r}")
        ms = _timedelta_ms(ttl)
    else:
        if isinstance(ttl, float):
            if math.isnan(ttl):
                raise binding_error(_TTL_INVALID, "ttl is NaN")
            if ttl == math.inf:
                return TTL_NEVER_MS
        if ttl <= 0:
            raise binding_error(
                _TTL_INVALID, f"ttl must be positive seconds, or None for never; got {ttl!r}"
            )
        ms = seconds_to_ms(ttl)
    if ms >= TTL_NEVER_MS:
        raise binding_error(
            _TTL_INVALID, f"ttl {ttl!r} is too large; use None for an entry that never expires"
        )
    return ms
