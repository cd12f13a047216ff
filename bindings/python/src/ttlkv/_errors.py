"""Exceptions, built from the status codes of the C ABI.

Every failing status becomes an instance of one class per code, named after it
(``TTLKV_KEY_TOO_LONG`` -> :class:`KeyTooLongError`). The classes are made from
:data:`ttlkv._ffi.STATUS` when the package is imported, so a code added to the header needs
no hand-written Python. Their bases follow the code's family::

    Error
    ├── InvalidArgumentError (also ValueError)   100 and every caller error 101..199
    │   ├── NamespaceInvalidError, KeyTooLongError, ValueTooLargeError, TTLInvalidError,
    │   └── BatchTooLargeError, PathInvalidError, BufferTooSmallError
    ├── ClosedError (also ValueError, like I/O on a closed Python file)        105
    ├── StorageError                             207 and every storage/I/O error 200..299
    │   └── IoError, FullError, CorruptedError, IncompatibleError, NoSpaceError,
    │       PermissionDeniedError, ReadersFullError
    └── PanicError                               900: a bug inside ttlkv, caught at the boundary
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Optional, Tuple, Type

from . import _ffi

__all__ = ["Error", "error_class", "make_error"]


class Error(Exception):
    """Base class of every error ttlkv raises for a failing status code.

    Attributes:
        code: the numeric ``ttlkv_status`` (``None`` for an error found in Python alone).
        status: its name in the header, e.g. ``"TTLKV_KEY_TOO_LONG"``.
        detail: the library's detail text for this failure (``ttlkv_last_error()``), or the
            binding's own explanation.
    """

    code: Optional[int] = None
    status: str = ""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


_BY_CODE: Dict[int, Type[Error]] = {}


def _class_name(status: str) -> str:
    words = status[len("TTLKV_") :].lower().split("_")
    name = "".join(w.upper() if w == "ttl" else w.capitalize() for w in words)
    return name + "Error"


# Family roots, made first so that the other codes of their range can derive from them.
_FAMILY_ROOTS = {
    "TTLKV_INVALID_ARGUMENT": (Error, ValueError),
    "TTLKV_CLOSED": (Error, ValueError),
    "TTLKV_STORAGE": (Error,),
    "TTLKV_PANIC": (Error,),
}

# Python names that would shadow a builtin get a trailing underscore.
_RENAMED = {"PermissionError": "PermissionDeniedError"}


def _bases_for(code: int) -> Tuple[type, ...]:
    if 100 <= code < 200:
        return (_BY_CODE[_ffi.STATUS["TTLKV_INVALID_ARGUMENT"]],)
    if 200 <= code < 300:
        return (_BY_CODE[_ffi.STATUS["TTLKV_STORAGE"]],)
    return (Error,)


def _make_class(status: str, code: int, bases: Tuple[type, ...]) -> Type[Error]:
    name = _class_name(status)
    name = _RENAMED.get(name, name)
    doc = f"Raised for ``{status}`` ({code})."
    cls = type(name, bases, {"__doc__": doc, "code": code, "status": status, "__module__": "ttlkv"})
    _BY_CODE[code] = cls
    return cls


for _status, _bases in _FAMILY_ROOTS.items():
    _make_class(_status, _ffi.STATUS[_status], _bases)
for _status, _code in sorted(_ffi.STATUS.items(), key=lambda item: item[1]):
    if _code in (_ffi.OK, _ffi.NOT_FOUND) or _code in _BY_CODE:
        continue
    _make_class(_status, _code, _bases_for(_code))

#: Every exception class, by its Python name.
CLASSES: Dict[str, Type[Error]] = {cls.__name__: cls for cls in _BY_CODE.values()}


def error_class(code: int) -> Type[Error]:
    """The exception class of a status code (:class:`Error` for an unknown code)."""
    cls = _BY_CODE.get(code)
    if cls is not None:
        return cls
    return _bases_for(code)[0] if 100 <= code < 300 else Error


def status_name(code: int) -> str:
    """The header's name of a status code, or ``"TTLKV_<code>"`` for an unknown one."""
    for name, value in _ffi.STATUS.items():
        if value == code:
            return name
    return f"TTLKV_{code}"


def make_error(code: int, context: str = "") -> Error:
    """Builds the exception of a failing call.

    Must run on the thread that made the failing call, right after it: the library keeps its
    detail text per thread (``ttlkv_last_error``).
    """
    detail = _ffi.decode(_ffi.lib.ttlkv_last_error())
    text = _ffi.decode(_ffi.lib.ttlkv_status_str(code))
    message = f"{status_name(code)} ({code}): {text}"
    if detail:
        message += f": {detail}"
    if context:
        message += f" [{context}]"
    error = error_class(code)(message, detail)
    if error.code is None or error.code != code:
        error.code = code
        error.status = status_name(code)
    return error


if TYPE_CHECKING:
    # The classes made above, spelled out for type checkers and IDEs. At run time the loop
    # above is the truth; tests/test_errors.py fails when this list drifts from it.

    class InvalidArgumentError(Error, ValueError): ...

    class ClosedError(Error, ValueError): ...

    class StorageError(Error): ...

    class PanicError(Error): ...

    class NamespaceInvalidError(InvalidArgumentError): ...

    class KeyTooLongError(InvalidArgumentError): ...

    class ValueTooLargeError(InvalidArgumentError): ...

    class TTLInvalidError(InvalidArgumentError): ...

    class BatchTooLargeError(InvalidArgumentError): ...

    class BufferTooSmallError(InvalidArgumentError): ...

    class PathInvalidError(InvalidArgumentError): ...

    class IoError(StorageError): ...

    class FullError(StorageError): ...

    class CorruptedError(StorageError): ...

    class IncompatibleError(StorageError): ...

    class NoSpaceError(StorageError): ...

    class PermissionDeniedError(StorageError): ...

    class ReadersFullError(StorageError): ...

else:
    globals().update(CLASSES)
