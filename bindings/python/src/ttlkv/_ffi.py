"""The loader: finds the native library, checks its ABI, and applies the prototypes to it.

The prototypes themselves are not written here: ``_abi.py`` is generated from
``include/ttlkv.h`` (``make python-abi``) and every function of its ``FUNCTIONS`` table is
declared on :data:`lib` at import. This module and ``_abi.py`` are the only ones that import
ctypes; the rest of the package gets the C types it builds values of from here.

The library is looked up, in order:

1. ``$TTLKV_LIBRARY`` — a development build, e.g. ``target/release/libttlkv.so``;
2. ``_libttlkv`` with an extension-module suffix (``_libttlkv.abi3.so``) next to this file,
   where the wheel puts the library it built from the repository.
"""

from __future__ import annotations

import ctypes
import importlib.machinery
import os
import sys
from ctypes import POINTER, byref, c_char, c_size_t, c_uint64, c_void_p, pointer, string_at
from typing import Any, List, Optional, Tuple

from . import _abi
from ._abi import ABI_VERSION, CONSTANTS, STATUS, ttlkv_buf, ttlkv_key_list, ttlkv_record, ttlkv_store

__all__ = [
    "ABI_VERSION",
    "Buf",
    "CONSTANTS",
    "KeyListPtr",
    "LIBRARY_PATH",
    "Record",
    "SIZES",
    "STATS",
    "STATUS",
    "StorePtr",
    "address",
    "byref",
    "char_buffer",
    "decode",
    "fast",
    "lib",
    "pointer",
    "records",
    "size_t",
    "string_at",
    "uint64_t",
]

#: Environment variable naming a development build of the library.
LIBRARY_ENV = "TTLKV_LIBRARY"
#: The file name of the bundled library, without its extension-module suffix.
LIBRARY_STEM = "_libttlkv"

OK = STATUS["TTLKV_OK"]
NOT_FOUND = STATUS["TTLKV_NOT_FOUND"]
BUFFER_TOO_SMALL = STATUS["TTLKV_BUFFER_TOO_SMALL"]
TTL_NEVER_MS = CONSTANTS["TTLKV_TTL_NEVER"]
DEADLINE_NEVER_MS = CONSTANTS["TTLKV_DEADLINE_NEVER"]
DURABILITY_SYNC = CONSTANTS["TTLKV_DURABILITY_SYNC"]
DURABILITY_PERIODIC = CONSTANTS["TTLKV_DURABILITY_PERIODIC"]

# The C types the rest of the package builds values of (lengths, out-parameters, buffers).
size_t = c_size_t
uint64_t = c_uint64
address = c_void_p
StorePtr = POINTER(ttlkv_store)
KeyListPtr = POINTER(ttlkv_key_list)
Buf = ttlkv_buf
Record = ttlkv_record


def char_buffer(buffer: bytearray) -> Any:
    """A ``c_char`` array over ``buffer`` (no copy): the ``uint8_t *`` a read fills."""
    return (c_char * len(buffer)).from_buffer(buffer)


def records(count: int) -> Any:
    """A new array of ``count`` ``ttlkv_record``."""
    return (ttlkv_record * count)()


def _supported_platform() -> None:
    if not (sys.platform.startswith(("linux", "freebsd")) or sys.platform == "darwin"):
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
    _supported_platform()
    here = os.path.dirname(os.path.abspath(__file__))
    # setuptools-rust installs the library where an extension module ttlkv._libttlkv would go.
    candidates = [os.path.join(here, LIBRARY_STEM + s) for s in importlib.machinery.EXTENSION_SUFFIXES]
    for candidate in candidates:
        if os.path.isfile(candidate):
            return candidate
    raise ImportError(
        f"ttlkv: the native library is missing: none of {candidates!r} exists. Install the "
        "package from a wheel (`make wheel`) or with `pip install ./bindings/python` (it builds "
        f"the library with cargo), or set ${LIBRARY_ENV} to a build of libttlkv.so"
    )


def _check_abi(library: ctypes.CDLL) -> None:
    try:
        abi_version = library.ttlkv_abi_version
    except AttributeError:
        raise ImportError(
            f"ttlkv: {LIBRARY_PATH!r} does not export ttlkv_abi_version: not a ttlkv library"
        ) from None
    abi_version.restype, abi_version.argtypes = _abi.FUNCTIONS["ttlkv_abi_version"]
    found = abi_version()
    if found != ABI_VERSION:
        raise ImportError(
            f"ttlkv: the library {LIBRARY_PATH!r} has C ABI version {found}, but this Python "
            f"package needs ABI version {ABI_VERSION}; rebuild one of them from the same "
            "source tree"
        )


def _declare(library: ctypes.CDLL) -> None:
    for name, (restype, argtypes) in _abi.FUNCTIONS.items():
        try:
            function = getattr(library, name)
        except AttributeError:
            raise ImportError(
                f"ttlkv: {LIBRARY_PATH!r} does not export {name}: not a ttlkv library of ABI "
                f"version {ABI_VERSION}"
            ) from None
        function.restype = restype
        function.argtypes = argtypes


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

#: The loaded library; every function of ``_abi.FUNCTIONS`` is declared on it.
lib: ctypes.CDLL = _load()

#: The hot functions once more, without ``argtypes``, for the binding's fast paths.
#:
#: ctypes runs a converter per declared argument, about 150-200 ns each: an 8-argument call
#: such as ``ttlkv_get_into`` costs ~2 us declared against ~0.9 us undeclared, more than LMDB
#: itself spends on a read. Without ``argtypes``, ctypes passes each argument by its own
#: type, so every caller of these must pass exactly the C type of the prototype in
#: ``_abi.FUNCTIONS``: ``bytes`` (or ``None``) for ``const uint8_t *``, and a ctypes instance —
#: :data:`size_t`, :data:`uint64_t`, a pointer, a ``c_char`` array — for everything else. Never
#: a bare Python ``int``: it would go out as a 32-bit C ``int``. :data:`SIZES` holds ready
#: ``size_t`` objects. Like ``lib``, these are ``CDLL`` functions: every call releases the GIL.
#: tests/test_fast_path.py checks every argument the package passes them against the
#: prototype, and that both paths agree.
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
            function.restype = _abi.FUNCTIONS[name][0]
            function.argtypes = None  # type: ignore[assignment]  # ctypes accepts None
            setattr(self, name, function)


fast = _Fast(lib)

#: ``size_t`` objects for the lengths 0..1024, shared read-only by the fast paths.
SIZES: Tuple[c_size_t, ...] = tuple(c_size_t(n) for n in range(1025))


def decode(text: Optional[bytes]) -> str:
    """Decodes a static or thread-local C string of the library."""
    return text.decode("utf-8", "replace") if text else ""


def _stat_names(library: ctypes.CDLL) -> Tuple[Tuple[str, int], ...]:
    names: List[Tuple[str, int]] = []
    for which in range(1 << 16):
        name = library.ttlkv_stat_name(which)
        if name is None:
            return tuple(names)
        names.append((decode(name), which))
    raise ImportError(f"ttlkv: {LIBRARY_PATH!r}: ttlkv_stat_name() never returned NULL")


#: Every counter of ``ttlkv_stat`` the loaded library has, as (name, number), from
#: ``ttlkv_stat_name()``: the keys of ``Store.stats()``.
STATS: Tuple[Tuple[str, int], ...] = _stat_names(lib)
