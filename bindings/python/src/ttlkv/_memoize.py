"""``memoize``: a decorator that caches a function's results in a store, shared by processes.

The key of one call is computed from the function's name and a canonical encoding of its
arguments that does not depend on the process (no ``hash()``, no pickle), so every process —
and a program in another language that follows the schema below — finds the same entry.
"""

from __future__ import annotations

import functools
import hashlib
import math
import struct
import types
from typing import Any, Callable, Generic, Optional, Tuple, TypeVar, Union

from ._abi import STATUS
from ._convert import TTL, Key, namespace_bytes, ttl_to_ms
from ._errors import binding_error
from ._namespace import Namespace
from ._serializers import PickleSerializer, Serializer
from ._store import Store

__all__ = ["Memoized", "canonical_encode", "memoize"]

R = TypeVar("R")

#: The first bytes of every key ``memoize`` writes.
KEY_PREFIX = b"memo:"
#: The tag byte before a serialized result (``b"\x00" + payload``); other first bytes are
#: reserved, and an entry that starts with one reads as a miss.
_VALUE_TAG = b"\x00"
#: Keys per ``scan`` page (and per ``delete_many``) of ``invalidate_all``.
_PAGE = 256
_DIGEST_SIZE = 16
_INVALID_ARGUMENT = STATUS["TTLKV_INVALID_ARGUMENT"]
_KEY_TOO_LONG = STATUS["TTLKV_KEY_TOO_LONG"]
_CANONICAL_NAN = struct.pack(">d", math.nan)


class _NotGiven:
    """The default of ``memoize(ttl=...)``: the namespace's TTL (required for a pair target)."""

    def __repr__(self) -> str:
        return "<the namespace's ttl>"


_NOT_GIVEN: Any = _NotGiven()


# -- the canonical encoding ----------------------------------------------------------------


def _item(tag: bytes, payload: bytes) -> bytes:
    """One encoded item: a tag byte, the payload's length (8 bytes, big-endian), the payload."""
    return tag + struct.pack(">Q", len(payload)) + payload


def _typename(t: type) -> bytes:
    return f"{t.__module__}.{t.__qualname__}".encode("utf-8", "surrogatepass")


def _encode(obj: Any, typed: bool) -> bytes:
    # bool before int (a bool is an int), and each check is isinstance: a subclass (an IntEnum,
    # a namedtuple) encodes as its base type's value, as it compares equal to it.
    if obj is None:
        body = _item(b"N", b"")
    elif isinstance(obj, bool):
        body = _item(b"i", b"1" if obj else b"0")
    elif isinstance(obj, int):
        body = _item(b"i", str(int(obj)).encode("ascii"))
    elif isinstance(obj, float):
        f = float(obj)
        if not typed and math.isfinite(f) and f.is_integer():
            body = _item(b"i", str(int(f)).encode("ascii"))  # 1.0 == 1: one entry untyped
        elif math.isnan(f):
            body = _item(b"f", _CANONICAL_NAN)
        else:
            body = _item(b"f", struct.pack(">d", f))
    elif isinstance(obj, str):
        body = _item(b"s", str(obj).encode("utf-8", "surrogatepass"))
    elif isinstance(obj, (bytes, bytearray)):
        body = _item(b"b", bytes(obj))
    elif isinstance(obj, tuple):
        body = _item(b"t", b"".join(_encode(x, typed) for x in obj))
    elif isinstance(obj, list):
        body = _item(b"l", b"".join(_encode(x, typed) for x in obj))
    elif isinstance(obj, (set, frozenset)):
        body = _item(b"S", b"".join(sorted(_encode(x, typed) for x in obj)))
    elif isinstance(obj, dict):
        pairs = sorted((_encode(k, typed), _encode(v, typed)) for k, v in obj.items())
        body = _item(b"d", b"".join(k + v for k, v in pairs))
    else:
        t = type(obj)
        raise TypeError(
            f"memoize cannot make a key of an argument of type {t.__module__}.{t.__qualname__}; "
            "arguments are None, bool, int, float, str, bytes and tuples, lists, sets and dicts "
            "of them (pass key= to make the key yourself)"
        )
    if typed:
        return _item(b"y", _typename(type(obj))) + body
    return body


def canonical_encode(args: Tuple[Any, ...], kwargs: Any, typed: bool = False) -> bytes:
    """The canonical bytes of one call's arguments, whose BLAKE2b digest names the call (the
    schema is in :func:`memoize`). Raises :class:`TypeError` naming the type of an argument
    it cannot encode."""
    return _encode((tuple(args), dict(kwargs)), typed)


# -- the decorator -------------------------------------------------------------------------


class Memoized(Generic[R]):
    """A function wrapped by :func:`memoize`: call it as the function. ``__wrapped__`` is the
    function itself, and :meth:`key_for`, :meth:`invalidate` and :meth:`invalidate_all` work
    on its entries."""

    def __init__(
        self,
        func: Callable[..., R],
        store: Store,
        ns: bytes,
        ttl: TTL,
        key: Optional[Callable[..., Union[bytes, str]]],
        serializer: Serializer,
        typed: bool,
    ) -> None:
        self.__wrapped__ = func
        functools.update_wrapper(self, func)
        self.store: Store = store
        self.namespace: bytes = ns
        self.ttl: TTL = ttl
        self.serializer: Serializer = serializer
        self.typed: bool = typed
        self._key = key
        name = getattr(func, "__qualname__", None) or getattr(func, "__name__", None)
        if not isinstance(name, str):
            raise TypeError(f"memoize needs a function with a __qualname__, not {type(func).__name__}")
        module = getattr(func, "__module__", None)
        #: The function's name in its keys: ``module.qualname``.
        self.name: str = f"{module}.{name}" if module else name
        if ":" in self.name:
            raise binding_error(
                _INVALID_ARGUMENT, f"memoize: a function name with ':' would mix keys: {self.name!r}"
            )
        #: Every key of this function starts with these bytes: ``b"memo:<module.qualname>:"``.
        self.prefix: bytes = KEY_PREFIX + self.name.encode("utf-8", "surrogatepass") + b":"
        if key is None:
            longest, limit = len(self.prefix) + 2 * _DIGEST_SIZE, store.max_key_len(ns)
            if longest > limit:
                raise binding_error(
                    _KEY_TOO_LONG,
                    f"memoize: the keys of {self.name!r} would be {longest} bytes; the namespace "
                    f"takes at most {limit}",
                )

    def __repr__(self) -> str:
        return f"<ttlkv.memoize of {self.name} in namespace {self.namespace!r} ttl={self.ttl!r}>"

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        # On a method the instance is an argument like the others (see memoize).
        return self if obj is None else types.MethodType(self, obj)

    def key_for(self, *args: Any, **kwargs: Any) -> bytes:
        """The store key of the call ``func(*args, **kwargs)`` (see :func:`memoize`)."""
        if self._key is not None:
            part = self._key(*args, **kwargs)
            if isinstance(part, str):
                return self.prefix + part.encode("utf-8")
            if isinstance(part, bytes):
                return self.prefix + part
            raise TypeError(f"a memoize key= function returns bytes or str, not {type(part).__name__}")
        digest = hashlib.blake2b(canonical_encode(args, kwargs, self.typed), digest_size=_DIGEST_SIZE)
        return self.prefix + digest.hexdigest().encode("ascii")

    def __call__(self, *args: Any, **kwargs: Any) -> R:
        k = self.key_for(*args, **kwargs)
        data = self.store.get(self.namespace, k)
        if data and data[:1] == _VALUE_TAG:
            result: R = self.serializer.loads(data[1:])
            return result
        result = self.__wrapped__(*args, **kwargs)
        self.store.put(self.namespace, k, _VALUE_TAG + self.serializer.dumps(result), self.ttl)
        return result

    def invalidate(self, *args: Any, **kwargs: Any) -> bool:
        """Removes the entry of the call ``func(*args, **kwargs)``; ``True`` if there was one."""
        return self.store.delete(self.namespace, self.key_for(*args, **kwargs))

    def invalidate_all(self) -> int:
        """Removes every entry of this function (every key under :attr:`prefix`, whichever
        process wrote it), a page of keys at a time; returns how many live entries went.
        Entries written meanwhile may stay."""
        removed = 0
        after: Optional[bytes] = None
        while True:
            page = self.store.scan(self.namespace, self.prefix, after, _PAGE)
            if page:
                removed += self.store.delete_many(self.namespace, [k for k, _ in page])
            if len(page) < _PAGE:
                return removed
            after = page[-1][0]


def memoize(
    target: Union[Namespace, Tuple[Store, Key]],
    ttl: TTL = _NOT_GIVEN,
    *,
    key: Optional[Callable[..., Union[bytes, str]]] = None,
    serializer: Optional[Serializer] = None,
    typed: bool = False,
) -> Callable[[Callable[..., R]], Memoized[R]]:
    """Caches a function's results in a store, for every process that opens it::

        @ttlkv.memoize(store.namespace("memo", ttl=300))
        def price(sku: str, *, currency: str = "EUR") -> float: ...

        price("A-1")                # computed, stored for 300 s
        price("A-1")                # read from the store (in any process)
        price.invalidate("A-1")     # True: that call's entry removed
        price.invalidate_all()      # every entry of price, in every process

    Args:
        target: a :class:`Namespace` (``ttl`` defaults to its TTL; its serializer is not
            used) or a pair ``(store, namespace_name)`` (``ttl`` is then required).
        ttl: the entries' time-to-live in seconds; ``None`` never expires.
        key: ``key(*args, **kwargs) -> bytes | str`` makes the argument part of the key
            instead of the digest below (a ``str`` is UTF-8 encoded): for arguments the
            canonical encoding does not take, or for readable keys. ``typed`` is then unused.
        serializer: turns results into bytes and back (default :class:`PickleSerializer`:
            see its warning; :class:`JSONSerializer` for results other languages read).
        typed: tell apart arguments of different types that compare equal (``1``, ``1.0``
            and ``True``; a ``set`` and a ``frozenset``; an ``IntEnum`` and its int).

    The key schema (the same in every process; another language can compute it)::

        key  = b"memo:" + NAME + b":" + hex(blake2b(ENC((args, kwargs)), digest_size=16))
        NAME = UTF-8 of f"{func.__module__}.{func.__qualname__}"

    ``hex`` is 32 lower-case hex digits. ``args`` is the tuple of positional arguments and
    ``kwargs`` the dict of keyword arguments, as passed: ``f(1)`` and ``f(x=1)`` are two
    entries, and defaults are not filled in. ``ENC`` encodes each value as one item
    ``tag (1 byte) + len(payload) (8 bytes, unsigned big-endian) + payload``:

    ============================ ====== ===================================================
    value                        tag    payload
    ============================ ====== ===================================================
    ``None``                     ``N``  empty
    ``int``, ``bool``            ``i``  ASCII decimal, ``-`` for negatives (``True`` = ``1``)
    ``float``                    ``f``  IEEE-754 binary64, big-endian; NaN as
                                        ``7ff8000000000000``. Untyped, a finite integral
                                        float is the ``int`` item of its value (``1.0`` = ``1``)
    ``str``                      ``s``  UTF-8 (lone surrogates as with ``surrogatepass``)
    ``bytes``, ``bytearray``     ``b``  the bytes
    ``tuple``                    ``t``  the items of its elements, in order
    ``list``                     ``l``  the items of its elements, in order
    ``set``, ``frozenset``       ``S``  the items of its elements, sorted bytewise
    ``dict``                     ``d``  ``item(k) + item(v)`` per entry, sorted bytewise by
                                        ``item(k)`` (keyword order does not matter)
    ============================ ====== ===================================================

    A subclass encodes as its base type. With ``typed=True`` every item (nested ones too) is
    preceded by the item ``y`` whose payload is the UTF-8 ``module.qualname`` of the value's
    exact type (``builtins.int``), and floats are never folded into ints. Any other argument
    type raises :class:`TypeError` naming the type (pass ``key=``). A method's ``self`` is an
    argument too, so a memoized method needs ``key=``; its ``invalidate`` and ``key_for``
    then take the instance first (``Class.method.invalidate(obj, x)``).

    The value of an entry is ``b"\\x00" + serializer.dumps(result)``, so a ``None`` result is
    cached (and told from a miss); an entry with another first byte reads as a miss.
    :meth:`Memoized.invalidate_all` removes the keys starting with ``b"memo:" + NAME + b":"``.
    Two lambdas, or two functions of one name, of a module share their entries.

    No lock is taken: two processes (or threads) that miss the same call at once both compute
    it, and the last write wins. Errors of the function are not cached.

    Raises:
        TypeError: a bad ``target``, or a pair ``target`` without ``ttl``.
        TTLInvalidError: a bad ``ttl`` (at decoration).
        KeyTooLongError: the function's keys would not fit the namespace (at decoration).
    """
    if isinstance(target, Namespace):
        store, ns = target.store, namespace_bytes(target.name)
        if ttl is _NOT_GIVEN:
            ttl = target.ttl
    elif isinstance(target, tuple) and len(target) == 2 and isinstance(target[0], Store):
        store, ns = target[0], namespace_bytes(target[1])
        if ttl is _NOT_GIVEN:
            raise TypeError("memoize((store, namespace), ttl): the ttl is required with a (store, name) pair")
    else:
        raise TypeError(
            f"memoize takes a ttlkv.Namespace or a (ttlkv.Store, namespace) pair, not {type(target).__name__}"
        )
    ttl_to_ms(ttl)  # checked now, not at the first miss
    if key is not None and not callable(key):
        raise TypeError(f"memoize key= is a callable, not {type(key).__name__}")
    if not isinstance(typed, bool):
        raise TypeError("typed is a bool")
    if serializer is None:
        serializer = PickleSerializer()
    elif not (callable(getattr(serializer, "dumps", None)) and callable(getattr(serializer, "loads", None))):
        raise TypeError("a serializer has dumps(obj) -> bytes and loads(bytes) methods")
    chosen: Serializer = serializer

    def decorate(func: Callable[..., R]) -> Memoized[R]:
        if not callable(func):
            raise TypeError(f"memoize decorates a function, not {type(func).__name__}")
        return Memoized(func, store, ns, ttl, key, chosen, typed)

    return decorate
