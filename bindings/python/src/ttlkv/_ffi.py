"""Every ctypes declaration of the ttlkv C ABI, and the loading of the shared library.

This is the only module that knows the C ABI. Its tables spell each C type the way
``include/ttlkv.h`` does, and ``tests/test_header.py`` parses the header and fails when any
function, struct field, status code or constant here drifts from it. To follow a change of the
header, edit the tables below; nothing else in the package spells a C type.

The library is looked up, in order:

1. ``$TTLKV_LIBRARY`` — a development build, e.g. ``target/release/libttlkv.so``;
2. ``_libttlkv.so`` (``.dylib`` on macOS) next to this file, where ``pip install`` puts the
   library it built from the repository.
"""

from __future__ import annotations

import ctypes
import os
import sys
from ctypes import (
    POINTER,
    Structure,
    c_char,
    c_char_p,
    c_int32,
    c_size_t,
    c_uint32,
    c_uint64,
    c_void_p,
)
from typing import Any, Dict, List, Optional, Tuple

__all__ = [
    "ABI_VERSION",
    "CONSTANTS",
    "LIBRARY_PATH",
    "STATUS",
    "lib",
    "ttlkv_buf",
    "ttlkv_record",
]

#: The ABI version this package was written for (``TTLKV_ABI_VERSION`` in the header).
ABI_VERSION = 1

#: Environment variable naming a development build of the library.
LIBRARY_ENV = "TTLKV_LIBRARY"

#: Every ``ttlkv_status`` code of the header, by name. Numbers are never reused.
STATUS: Dict[str, int] = {
    "TTLKV_OK": 0,
    "TTLKV_NOT_FOUND": 1,
    "TTLKV_INVALID_ARGUMENT": 100,
    "TTLKV_NAMESPACE_INVALID": 101,
    "TTLKV_KEY_TOO_LONG": 102,
    "TTLKV_VALUE_TOO_LARGE": 103,
    "TTLKV_TTL_INVALID": 104,
    "TTLKV_CLOSED": 105,
    "TTLKV_BATCH_TOO_LARGE": 106,
    "TTLKV_BUFFER_TOO_SMALL": 107,
    "TTLKV_PATH_INVALID": 108,
    "TTLKV_IO": 200,
    "TTLKV_FULL": 201,
    "TTLKV_CORRUPTED": 202,
    "TTLKV_INCOMPATIBLE": 203,
    "TTLKV_NO_SPACE": 204,
    "TTLKV_PERMISSION": 205,
    "TTLKV_READERS_FULL": 206,
    "TTLKV_STORAGE": 207,
    "TTLKV_PANIC": 900,
}

#: Every other integer constant of the header, by name.
CONSTANTS: Dict[str, int] = {
    "TTLKV_ABI_VERSION": ABI_VERSION,
    "TTLKV_TTL_NEVER": 2**64 - 1,
    "TTLKV_DEADLINE_NEVER": 2**64 - 1,
    "TTLKV_DURABILITY_SYNC": 0,
    "TTLKV_DURABILITY_PERIODIC": 1,
    "TTLKV_MAX_NAMESPACE_LEN": 255,
    "TTLKV_MAX_VALUE_LEN": 1 << 30,
    "TTLKV_MAX_BATCH_RECORDS": 100_000,
    "TTLKV_MAX_BATCH_BYTES": 1 << 30,
    "TTLKV_STAT_EXPIRED_REMOVED": 0,
    "TTLKV_STAT_EXPIRY_BATCHES": 1,
    "TTLKV_STAT_EXPIRY_PANICS": 2,
    "TTLKV_STAT_EXPIRY_ERRORS": 3,
    "TTLKV_STAT_READERS_RECLAIMED": 4,
    "TTLKV_STAT_MAP_SIZE": 5,
    "TTLKV_STAT_USED_BYTES": 6,
}

#: The counters of ``ttlkv_stat``, by their name in ``Store.stats()`` (``expired_removed``…).
STATS: Dict[str, int] = {
    name[len("TTLKV_STAT_") :].lower(): value
    for name, value in CONSTANTS.items()
    if name.startswith("TTLKV_STAT_")
}

OK = STATUS["TTLKV_OK"]
NOT_FOUND = STATUS["TTLKV_NOT_FOUND"]
BUFFER_TOO_SMALL = STATUS["TTLKV_BUFFER_TOO_SMALL"]
TTL_NEVER_MS = CONSTANTS["TTLKV_TTL_NEVER"]
DEADLINE_NEVER_MS = CONSTANTS["TTLKV_DEADLINE_NEVER"]
DURABILITY_SYNC = CONSTANTS["TTLKV_DURABILITY_SYNC"]
DURABILITY_PERIODIC = CONSTANTS["TTLKV_DURABILITY_PERIODIC"]


class ttlkv_store(Structure):
    """Opaque ``ttlkv_store``; only pointers to it exist."""


class ttlkv_options(Structure):
    """Opaque ``ttlkv_options``; only pointers to it exist."""


class ttlkv_key_list(Structure):
    """Opaque ``ttlkv_key_list``; only pointers to it exist."""


class ttlkv_buf(Structure):
    """``ttlkv_buf``: a value owned by the library, released with ``ttlkv_buf_free``."""


class ttlkv_record(Structure):
    """``ttlkv_record``: one record of ``ttlkv_put_many``, borrowed for the call."""


#: How each C type spelled in the tables below is declared to ctypes. A ``const uint8_t *``
#: is an input (``bytes`` are passed without a copy); a ``uint8_t *`` is a buffer the library
#: writes into; ``const uint8_t **`` receives an address the library owns.
CTYPES: Dict[str, Any] = {
    "void": None,
    "int32_t": c_int32,
    "uint32_t": c_uint32,
    "uint64_t": c_uint64,
    "size_t": c_size_t,
    "ttlkv_status": c_uint32,
    "const char *": c_char_p,
    "const uint8_t *": c_char_p,
    "uint8_t *": POINTER(c_char),
    "const uint8_t **": POINTER(c_void_p),
    "size_t *": POINTER(c_size_t),
    "uint64_t *": POINTER(c_uint64),
    "ttlkv_store *": POINTER(ttlkv_store),
    "ttlkv_store **": POINTER(POINTER(ttlkv_store)),
    "ttlkv_options *": POINTER(ttlkv_options),
    "const ttlkv_options *": POINTER(ttlkv_options),
    "ttlkv_key_list **": POINTER(POINTER(ttlkv_key_list)),
    "const ttlkv_key_list *": POINTER(ttlkv_key_list),
    "ttlkv_key_list *": POINTER(ttlkv_key_list),
    "ttlkv_buf *": POINTER(ttlkv_buf),
    "const ttlkv_record *": POINTER(ttlkv_record),
}

#: The fields of each struct of the header: (name, C type).
STRUCTS: Dict[str, List[Tuple[str, str]]] = {
    "ttlkv_buf": [("data", "uint8_t *"), ("len", "size_t")],
    "ttlkv_record": [
        ("ns", "const uint8_t *"),
        ("ns_len", "size_t"),
        ("key", "const uint8_t *"),
        ("key_len", "size_t"),
        ("value", "const uint8_t *"),
        ("value_len", "size_t"),
        ("ttl_ms", "uint64_t"),
    ],
}

#: The struct fields' ctypes: a field the library writes holds an address we read ourselves.
_FIELD_CTYPES: Dict[str, Any] = {"uint8_t *": c_void_p}

ttlkv_buf._fields_ = [(n, _FIELD_CTYPES.get(t, CTYPES[t])) for n, t in STRUCTS["ttlkv_buf"]]
ttlkv_record._fields_ = [
    (n, _FIELD_CTYPES.get(t, CTYPES[t])) for n, t in STRUCTS["ttlkv_record"]
]

#: Every function of the header: name -> (return type, [(parameter, C type)]).
FUNCTIONS: Dict[str, Tuple[str, List[Tuple[str, str]]]] = {
    "ttlkv_abi_version": ("uint32_t", []),
    "ttlkv_version_number": ("uint32_t", []),
    "ttlkv_version": ("const char *", []),
    "ttlkv_status_str": ("const char *", [("code", "uint32_t")]),
    "ttlkv_status_name": ("const char *", [("code", "uint32_t")]),
    "ttlkv_last_error": ("const char *", []),
    "ttlkv_options_new": ("ttlkv_options *", []),
    "ttlkv_options_set_map_size": (
        "ttlkv_status",
        [("o", "ttlkv_options *"), ("bytes", "uint64_t")],
    ),
    "ttlkv_options_set_max_map_size": (
        "ttlkv_status",
        [("o", "ttlkv_options *"), ("bytes", "uint64_t")],
    ),
    "ttlkv_options_set_durability": (
        "ttlkv_status",
        [("o", "ttlkv_options *"), ("durability", "uint32_t")],
    ),
    "ttlkv_options_set_sync_interval_ms": (
        "ttlkv_status",
        [("o", "ttlkv_options *"), ("ms", "uint64_t")],
    ),
    "ttlkv_options_set_max_readers": (
        "ttlkv_status",
        [("o", "ttlkv_options *"), ("n", "uint32_t")],
    ),
    "ttlkv_options_set_expiry_batch": (
        "ttlkv_status",
        [("o", "ttlkv_options *"), ("n", "uint64_t")],
    ),
    "ttlkv_options_set_write_map": (
        "ttlkv_status",
        [("o", "ttlkv_options *"), ("enabled", "int32_t")],
    ),
    "ttlkv_options_set_allow_shared_dir": (
        "ttlkv_status",
        [("o", "ttlkv_options *"), ("enabled", "int32_t")],
    ),
    "ttlkv_options_free": ("void", [("o", "ttlkv_options *")]),
    "ttlkv_open": (
        "ttlkv_status",
        [("path", "const char *"), ("opts", "const ttlkv_options *"), ("out", "ttlkv_store **")],
    ),
    "ttlkv_close": ("ttlkv_status", [("s", "ttlkv_store *")]),
    "ttlkv_free": ("void", [("s", "ttlkv_store *")]),
    "ttlkv_put": (
        "ttlkv_status",
        [
            ("s", "ttlkv_store *"),
            ("ns", "const uint8_t *"),
            ("ns_len", "size_t"),
            ("key", "const uint8_t *"),
            ("key_len", "size_t"),
            ("value", "const uint8_t *"),
            ("value_len", "size_t"),
            ("ttl_ms", "uint64_t"),
        ],
    ),
    "ttlkv_put_many": (
        "ttlkv_status",
        [("s", "ttlkv_store *"), ("records", "const ttlkv_record *"), ("count", "size_t")],
    ),
    "ttlkv_get": (
        "ttlkv_status",
        [
            ("s", "ttlkv_store *"),
            ("ns", "const uint8_t *"),
            ("ns_len", "size_t"),
            ("key", "const uint8_t *"),
            ("key_len", "size_t"),
            ("out", "ttlkv_buf *"),
        ],
    ),
    "ttlkv_get_into": (
        "ttlkv_status",
        [
            ("s", "ttlkv_store *"),
            ("ns", "const uint8_t *"),
            ("ns_len", "size_t"),
            ("key", "const uint8_t *"),
            ("key_len", "size_t"),
            ("buf", "uint8_t *"),
            ("cap", "size_t"),
            ("len", "size_t *"),
        ],
    ),
    "ttlkv_buf_free": ("void", [("buf", "ttlkv_buf *")]),
    "ttlkv_delete": (
        "ttlkv_status",
        [
            ("s", "ttlkv_store *"),
            ("ns", "const uint8_t *"),
            ("ns_len", "size_t"),
            ("key", "const uint8_t *"),
            ("key_len", "size_t"),
        ],
    ),
    "ttlkv_deadline": (
        "ttlkv_status",
        [
            ("s", "ttlkv_store *"),
            ("ns", "const uint8_t *"),
            ("ns_len", "size_t"),
            ("key", "const uint8_t *"),
            ("key_len", "size_t"),
            ("deadline_ms", "uint64_t *"),
        ],
    ),
    "ttlkv_keys": (
        "ttlkv_status",
        [
            ("s", "ttlkv_store *"),
            ("ns", "const uint8_t *"),
            ("ns_len", "size_t"),
            ("out", "ttlkv_key_list **"),
        ],
    ),
    "ttlkv_entries": (
        "ttlkv_status",
        [
            ("s", "ttlkv_store *"),
            ("ns", "const uint8_t *"),
            ("ns_len", "size_t"),
            ("out", "ttlkv_key_list **"),
        ],
    ),
    "ttlkv_purge_expired": ("ttlkv_status", [("s", "ttlkv_store *"), ("removed", "uint64_t *")]),
    "ttlkv_verify": ("ttlkv_status", [("s", "ttlkv_store *"), ("problems", "uint64_t *")]),
    "ttlkv_sync": ("ttlkv_status", [("s", "ttlkv_store *")]),
    "ttlkv_max_key_len": (
        "ttlkv_status",
        [("s", "ttlkv_store *"), ("ns", "const uint8_t *"), ("ns_len", "size_t"), ("out", "size_t *")],
    ),
    "ttlkv_stat": (
        "ttlkv_status",
        [("s", "ttlkv_store *"), ("which", "uint32_t"), ("out", "uint64_t *")],
    ),
    "ttlkv_key_list_len": ("size_t", [("l", "const ttlkv_key_list *")]),
    "ttlkv_key_list_get": (
        "ttlkv_status",
        [
            ("l", "const ttlkv_key_list *"),
            ("i", "size_t"),
            ("key", "const uint8_t **"),
            ("len", "size_t *"),
        ],
    ),
    "ttlkv_key_list_value": (
        "ttlkv_status",
        [
            ("l", "const ttlkv_key_list *"),
            ("i", "size_t"),
            ("value", "const uint8_t **"),
            ("len", "size_t *"),
        ],
    ),
    "ttlkv_key_list_free": ("void", [("l", "ttlkv_key_list *")]),
}


def _library_file_name() -> str:
    if sys.platform.startswith("linux") or sys.platform.startswith("freebsd"):
        return "_libttlkv.so"
    if sys.platform == "darwin":
        return "_libttlkv.dylib"
    raise ImportError(
        f"ttlkv: unsupported platform {sys.platform!r} (the binding ships Linux and macOS builds)"
    )


def _find_library() -> str:
    override = os.environ.get(LIBRARY_ENV)
    if override:
        if not os.path.isfile(override):
            raise ImportError(
                f"ttlkv: ${LIBRARY_ENV} names {override!r}, which is not a file "
                "(point it at target/release/libttlkv.so, or unset it)"
            )
        return os.path.abspath(override)
    bundled = os.path.join(os.path.dirname(os.path.abspath(__file__)), _library_file_name())
    if not os.path.isfile(bundled):
        raise ImportError(
            f"ttlkv: the native library is missing at {bundled!r}. Install the package with "
            "`pip install ./bindings/python` (it builds the library with cargo), or set "
            f"${LIBRARY_ENV} to a build of libttlkv.so"
        )
    return bundled


def _declare(library: ctypes.CDLL) -> None:
    for name, (restype, params) in FUNCTIONS.items():
        try:
            function = getattr(library, name)
        except AttributeError:
            raise ImportError(
                f"ttlkv: {LIBRARY_PATH!r} does not export {name}: not a ttlkv library of ABI "
                f"version {ABI_VERSION}"
            ) from None
        function.restype = CTYPES[restype]
        function.argtypes = [CTYPES[ctype] for _, ctype in params]


def _check_abi(library: ctypes.CDLL) -> None:
    try:
        abi_version = library.ttlkv_abi_version
    except AttributeError:
        raise ImportError(
            f"ttlkv: {LIBRARY_PATH!r} does not export ttlkv_abi_version: not a ttlkv library"
        ) from None
    abi_version.restype = c_uint32
    abi_version.argtypes = []
    found = abi_version()
    if found != ABI_VERSION:
        raise ImportError(
            f"ttlkv: the library {LIBRARY_PATH!r} has C ABI version {found}, but this Python "
            f"package needs ABI version {ABI_VERSION}; rebuild one of them from the same "
            "source tree"
        )


def _load() -> ctypes.CDLL:
    if ctypes.sizeof(c_void_p) != 8:
        raise ImportError("ttlkv: only 64-bit platforms are supported")
    try:
        library = ctypes.CDLL(LIBRARY_PATH)
    except OSError as e:
        raise ImportError(f"ttlkv: cannot load {LIBRARY_PATH!r}: {e}") from e
    _check_abi(library)
    _declare(library)
    return library


#: The file the library was loaded from.
LIBRARY_PATH: str = _find_library()

#: The loaded library; every function of ``FUNCTIONS`` is declared on it.
lib: ctypes.CDLL = _load()

#: The hot functions once more, without ``argtypes``, for the binding's fast paths.
#:
#: ctypes runs a converter per declared argument, about 150-200 ns each: an 8-argument call
#: such as ``ttlkv_get_into`` costs ~2 us declared against ~0.9 us undeclared, more than LMDB
#: itself spends on a read. Without ``argtypes``, ctypes passes each argument by its own
#: type, so every caller of these must pass exactly the C type of the prototype above:
#: ``bytes`` (or ``None``) for ``const uint8_t *``, and a ctypes instance — ``c_size_t``,
#: ``c_uint64``, a pointer, a ``c_char`` array — for everything else. Never a bare Python
#: ``int``: it would go out as a 32-bit C ``int``. ``SIZES`` holds ready ``c_size_t`` objects.
#: tests/test_header.py checks that each of these is a function of the header returning
#: ``ttlkv_status``, and tests/test_fast_path.py that both paths agree.
FAST_FUNCTIONS = ("ttlkv_put", "ttlkv_get_into", "ttlkv_delete", "ttlkv_deadline")


class _Fast:
    __slots__ = FAST_FUNCTIONS
    ttlkv_put: Any
    ttlkv_get_into: Any
    ttlkv_delete: Any
    ttlkv_deadline: Any

    def __init__(self, library: ctypes.CDLL) -> None:
        for name in FAST_FUNCTIONS:
            function = library[name]  # a new function object: `lib.<name>` stays declared
            function.restype = CTYPES[FUNCTIONS[name][0]]
            function.argtypes = None  # type: ignore[assignment]  # ctypes accepts None
            setattr(self, name, function)


fast = _Fast(lib)

#: ``c_size_t`` objects for the lengths 0..1024, shared read-only by the fast paths.
SIZES: Tuple[c_size_t, ...] = tuple(c_size_t(n) for n in range(1025))


def decode(text: Optional[bytes]) -> str:
    """Decodes a static or thread-local C string of the library."""
    return text.decode("utf-8", "replace") if text else ""
