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
from array import array
from ctypes import POINTER, byref, c_char, c_char_p, c_int64, c_size_t, c_uint32, c_uint64, c_void_p, pointer
from ctypes import string_at
from itertools import accumulate
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import _abi
from ._abi import ABI_VERSION, CONSTANTS, STATUS, ttlkv_buf, ttlkv_key_list, ttlkv_record, ttlkv_slice, ttlkv_store

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
    "buf_fields",
    "bytes_at",
    "byref",
    "char_buffer",
    "decode",
    "fast",
    "held",
    "int64_t",
    "lib",
    "pointer",
    "records",
    "size_t",
    "slice_array",
    "string_at",
    "uint32_t",
    "uint64_t",
]

#: Environment variable naming a development build of the library.
LIBRARY_ENV = "TTLKV_LIBRARY"
#: The file name of the bundled library, without its extension-module suffix.
LIBRARY_STEM = "_libttlkv"

OK = STATUS["TTLKV_OK"]
NOT_FOUND = STATUS["TTLKV_NOT_FOUND"]
CONFLICT = STATUS["TTLKV_CONFLICT"]
BUFFER_TOO_SMALL = STATUS["TTLKV_BUFFER_TOO_SMALL"]
TTL_NEVER_MS = CONSTANTS["TTLKV_TTL_NEVER"]
DEADLINE_NEVER_MS = CONSTANTS["TTLKV_DEADLINE_NEVER"]
DURABILITY_SYNC = CONSTANTS["TTLKV_DURABILITY_SYNC"]
DURABILITY_PERIODIC = CONSTANTS["TTLKV_DURABILITY_PERIODIC"]

# The C types the rest of the package builds values of (lengths, out-parameters, buffers).
size_t = c_size_t
uint64_t = c_uint64
uint32_t = c_uint32
int64_t = c_int64
address = c_void_p
StorePtr = POINTER(ttlkv_store)
KeyListPtr = POINTER(ttlkv_key_list)
Buf = ttlkv_buf
Record = ttlkv_record


def buf_fields(buf: Any) -> Tuple[Any, Any]:
    """A ``c_void_p`` and a ``c_size_t`` that are ``buf.data`` and ``buf.len`` themselves (views
    of the struct's memory, no copy): what :data:`bytes_at` takes, kept with the buffer."""
    return c_void_p.from_buffer(buf, ttlkv_buf.data.offset), c_size_t.from_buffer(buf, ttlkv_buf.len.offset)


def char_buffer(buffer: bytearray) -> Any:
    """A ``c_char`` array over ``buffer`` (no copy): the ``uint8_t *`` a read fills."""
    return (c_char * len(buffer)).from_buffer(buffer)


def records(count: int) -> Any:
    """A new array of ``count`` ``ttlkv_record``."""
    return (ttlkv_record * count)()


#: ``ttlkv_slice * n`` array types already made, by ``n`` (making one costs more than filling it).
_SLICE_ARRAYS: Dict[int, Any] = {}
_SLICE_FIELDS = [field[0] for field in ttlkv_slice._fields_]


def slice_array(keys: Sequence[bytes]) -> Tuple[Any, Any]:
    """One ``ttlkv_slice`` array over ``keys``, for ``ttlkv_get_many`` / ``ttlkv_delete_many``.

    Filling a ctypes array element by element costs ~0.5 us a key (a Python object per element
    and per field). Instead the keys are joined into one ``bytes`` (one copy, no per-key
    object), and the ``(ptr, len)`` pairs are written into an ``array('Q')`` that the ctypes
    array is a view of: ~4x cheaper for 100 keys. Returns ``(array, keep)``: ``keep`` holds the
    joined bytes the pointers point into, and must stay referenced until the call returns.
    """
    n = len(keys)
    blob = b"".join(keys)
    holder = c_char_p(blob)  # points into `blob` itself (no copy) and keeps it referenced
    base = c_void_p.from_buffer(holder).value or 0
    lengths = array("Q", map(len, keys))
    pairs = array("Q", bytes(16 * n))
    if n:
        pairs[0::2] = array("Q", accumulate(lengths[:-1], initial=base))
        pairs[1::2] = lengths
    kind = _SLICE_ARRAYS.get(n)
    if kind is None:
        kind = ttlkv_slice * n
        if len(_SLICE_ARRAYS) < 256:
            _SLICE_ARRAYS[n] = kind
    return kind.from_buffer(pairs), (blob, holder)


# The layout slice_array writes: two 64-bit words per ttlkv_slice, the pointer first.
if not (
    ctypes.sizeof(ttlkv_slice) == 16
    and _SLICE_FIELDS == ["ptr", "len"]
    and ttlkv_slice.len.offset == 8
    and array("Q").itemsize == 8
):
    raise ImportError("ttlkv: struct ttlkv_slice is not two 64-bit words (ptr, len) on this platform")


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
FAST_FUNCTIONS = (
    "ttlkv_put",
    "ttlkv_get_into",
    "ttlkv_delete",
    "ttlkv_deadline",
    "ttlkv_touch",
    "ttlkv_add",
    "ttlkv_incr",
    "ttlkv_take",
)

#: The readers of a returned list and the release of a returned buffer, once more without
#: ``argtypes`` and through a ``PyDLL`` handle, which keeps the GIL: they only read or free
#: memory ttlkv gave the caller (no store lock, no I/O), so releasing and taking back the GIL
#: around them would cost more than they do. The readers run once per item of ``keys()``,
#: ``entries()``, ``scan()``, ``get_many()``, so they and :data:`bytes_at` are what a list
#: costs per item. The same typing rule as for :data:`FAST_FUNCTIONS` applies, and
#: tests/test_fast_path.py checks them alike.
HELD_FUNCTIONS = ("ttlkv_key_list_get", "ttlkv_key_list_value", "ttlkv_buf_free")


class _Fast:
    __slots__ = FAST_FUNCTIONS + HELD_FUNCTIONS
    ttlkv_put: Any
    ttlkv_get_into: Any
    ttlkv_delete: Any
    ttlkv_deadline: Any
    ttlkv_touch: Any
    ttlkv_add: Any
    ttlkv_incr: Any
    ttlkv_take: Any
    ttlkv_key_list_get: Any
    ttlkv_key_list_value: Any
    ttlkv_buf_free: Any

    def __init__(self, library: ctypes.CDLL, names: Sequence[str]) -> None:
        for name in names:
            function = library[name]  # a new function object: `lib.<name>` stays declared
            function.restype = _abi.FUNCTIONS[name][0]
            function.argtypes = None  # type: ignore[assignment]  # ctypes accepts None
            setattr(self, name, function)


fast = _Fast(lib, FAST_FUNCTIONS)
#: :data:`HELD_FUNCTIONS`, on a ``PyDLL`` of the same file (dlopen gives the same library).
held = _Fast(ctypes.PyDLL(LIBRARY_PATH), HELD_FUNCTIONS)


def _bytes_at() -> Any:
    # ctypes.string_at converts its two arguments through argtypes on every call and ends in
    # PyBytes_FromStringAndSize; this calls that directly, given ctypes objects (the c_void_p
    # and c_size_t out-parameters a list reader just filled) that pass as they are. Through
    # pythonapi (a PyDLL) it holds the GIL, as a C API call must.
    function = ctypes.pythonapi["PyBytes_FromStringAndSize"]
    function.restype = ctypes.py_object
    function.argtypes = None  # type: ignore[assignment]
    return function


#: ``bytes_at(address, length)``: a new ``bytes`` copied from ``length`` bytes at ``address``,
#: where ``address`` is a ``c_void_p`` object (never NULL: the lists never give NULL) and
#: ``length`` a ``c_size_t`` object — the out-parameters of a list reader, passed as they are.
bytes_at: Any = _bytes_at()

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


def _load_speedups() -> Any:
    """``ttlkv._speedups``, the compiled get and put (see ``_speedups.c``), bound to this
    library's functions; ``None`` when it was not built (no Python headers where the wheel was
    built) or ``TTLKV_PYTHON_BINDING=ctypes`` asks for the ctypes path. Both paths make the
    same C ABI calls and give the same results (tests/test_fast_path.py runs both)."""
    if os.environ.get("TTLKV_PYTHON_BINDING") == "ctypes":
        return None
    try:
        from . import _speedups
    except ImportError:
        return None
    address = ctypes.cast
    _speedups.bind(address(lib.ttlkv_get_into, c_void_p).value, address(lib.ttlkv_put, c_void_p).value)
    return _speedups


#: The compiled get and put, or ``None`` (then the ctypes fast path above runs).
speedups: Any = _load_speedups()


def handle_address(handle: Any) -> Optional[int]:
    """A store handle's address, as the compiled calls take it."""
    value: Optional[int] = ctypes.cast(handle, c_void_p).value
    return value
