"""``ttlkv.memoize``: results cached in a store, under keys every process computes alike."""

from __future__ import annotations

import hashlib
import json
import struct
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

import ttlkv
from conftest import run_python, wait_until
from ttlkv import _memoize


def test_hits_and_misses(ns: ttlkv.Namespace) -> None:
    calls: List[int] = []

    @ttlkv.memoize(ns)
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    assert square(3) == 9 and square(3) == 9 and square(4) == 16 and square(3) == 9
    assert calls == [3, 4]
    assert square.__wrapped__(5) == 25 and calls == [3, 4, 5]  # the function itself, uncached
    assert square.__name__ == "square" and square.ttl == 60
    assert square.key_for(3) in ns


def test_none_result_is_cached(ns: ttlkv.Namespace) -> None:
    calls: List[str] = []

    @ttlkv.memoize(ns)
    def nothing(x: str) -> None:
        calls.append(x)

    assert nothing("a") is None and nothing("a") is None
    assert calls == ["a"]
    assert ns.get(nothing.key_for("a"))[:1] == b"\x00"


def test_kwargs_order_does_not_matter(ns: ttlkv.Namespace) -> None:
    calls: List[Dict[str, Any]] = []

    @ttlkv.memoize(ns)
    def f(**kwargs: Any) -> str:
        calls.append(kwargs)
        return "r"

    f(a=1, b={"x": [1, 2], "y": {3, 4}})
    f(b={"y": {4, 3}, "x": [1, 2]}, a=1)
    assert len(calls) == 1
    assert f.key_for(a=1, b=2) == f.key_for(b=2, a=1)
    assert f.key_for(a=1) != f.key_for(a=2) != f.key_for(c=1)


def test_untyped_and_typed(store: ttlkv.Store) -> None:
    calls: List[Any] = []

    def g(x: Any) -> str:
        calls.append(x)
        return repr(x)

    untyped = ttlkv.memoize((store, "untyped"), ttl=60)(g)
    assert untyped(1) == "1" and untyped(1.0) == "1" and untyped(True) == "1"
    assert untyped.key_for({1}) == untyped.key_for(frozenset({1}))
    assert len(calls) == 1
    typed = ttlkv.memoize((store, "typed"), ttl=60, typed=True)(g)
    assert [typed(1), typed(1.0), typed(True), typed(1)] == ["1", "1.0", "True", "1"]
    assert typed.key_for({1}) != typed.key_for(frozenset({1}))
    assert typed.key_for((1,)) != typed.key_for([1])
    assert len(calls) == 4


def test_unsupported_argument_type_raises(ns: ttlkv.Namespace) -> None:
    class Thing:
        pass

    calls: List[Any] = []

    @ttlkv.memoize(ns)
    def f(x: Any) -> None:
        calls.append(x)

    with pytest.raises(TypeError, match="Thing"):
        f(Thing())
    with pytest.raises(TypeError, match="object"):
        f([1, {"nested": object()}])
    assert calls == []


def test_custom_key(ns: ttlkv.Namespace) -> None:
    class User:
        def __init__(self, uid: int) -> None:
            self.uid = uid

    calls: List[int] = []

    @ttlkv.memoize(ns, key=lambda user, **kw: f"user:{user.uid}")
    def profile(user: User, **kw: Any) -> Dict[str, int]:
        calls.append(user.uid)
        return {"uid": user.uid}

    assert profile(User(7)) == {"uid": 7} and profile(User(7), extra=1) == {"uid": 7}
    assert calls == [7]
    assert profile.key_for(User(7)) == profile.prefix + b"user:7"
    assert profile.invalidate(User(7)) and not profile.invalidate(User(7))

    bad = ttlkv.memoize(ns, key=lambda x: 42)(lambda x: x)  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="int"):
        bad(1)


def test_ttl_expiry(store: ttlkv.Store) -> None:
    calls: List[int] = []
    short = store.namespace("short", ttl=0.2)

    @ttlkv.memoize(short)
    def f(x: int) -> int:
        calls.append(x)
        return x

    f(1)
    f(1)
    assert calls == [1]
    deadline = short.deadline(f.key_for(1))
    assert deadline is not None and deadline - time.time() < 0.25
    wait_until(lambda: short.get(f.key_for(1)) is None, timeout=5)
    f(1)
    assert calls == [1, 1]

    @ttlkv.memoize((store, "short"), ttl=3600)  # an explicit ttl overrides the namespace's
    def g(x: int) -> int:
        return x

    g(1)
    assert store.deadline("short", g.key_for(1)) > time.time() + 3000  # type: ignore[operator]


def test_invalidate(ns: ttlkv.Namespace) -> None:
    calls: List[int] = []

    @ttlkv.memoize(ns)
    def f(x: int) -> int:
        calls.append(x)
        return x

    f(1)
    f(2)
    assert f.invalidate(1) is True and f.invalidate(1) is False
    f(1)
    f(2)
    assert calls == [1, 2, 1]


def test_invalidate_all_pages(ns: ttlkv.Namespace) -> None:
    assert _memoize._PAGE < 300  # more than one page of scan

    @ttlkv.memoize(ns)
    def f(x: int) -> int:
        return x

    @ttlkv.memoize(ns)
    def f2(x: int) -> int:  # its prefix starts like f's, up to the ":"
        return x

    for i in range(300):
        f(i)
    f2(1)
    ns.put(b"unrelated", b"v")
    assert f.invalidate_all() == 300
    assert f.invalidate_all() == 0
    assert ns.scan(f.prefix) == []
    assert ns.get(f2.key_for(1)) is not None and ns.get(b"unrelated") == b"v"


def test_two_functions_with_the_same_arguments_do_not_collide(ns: ttlkv.Namespace) -> None:
    @ttlkv.memoize(ns)
    def one(x: int) -> str:
        return "one"

    @ttlkv.memoize(ns)
    def two(x: int) -> str:
        return "two"

    assert one(1) == "one" and two(1) == "two" and one(1) == "one"
    assert one.key_for(1) != two.key_for(1)
    assert one.prefix == f"memo:{__name__}.{one.__qualname__}:".encode()


def test_key_schema_as_documented(ns: ttlkv.Namespace) -> None:
    @ttlkv.memoize(ns)
    def f(*args: Any, **kwargs: Any) -> None:
        pass

    def item(tag: bytes, payload: bytes) -> bytes:
        return tag + struct.pack(">Q", len(payload)) + payload

    # f(-5, "é", b"\x01", None, k=2.5): ENC((args, kwargs)) by hand, from the docstring's table.
    args = item(b"t", item(b"i", b"-5") + item(b"s", "é".encode()) + item(b"b", b"\x01") + item(b"N", b""))
    kwargs = item(b"d", item(b"s", b"k") + item(b"f", struct.pack(">d", 2.5)))
    digest = hashlib.blake2b(item(b"t", args + kwargs), digest_size=16).hexdigest()
    name = f"{f.__module__}.{f.__qualname__}"
    assert f.key_for(-5, "é", b"\x01", None, k=2.5) == f"memo:{name}:{digest}".encode()


def test_checks_at_decoration(store: ttlkv.Store, ns: ttlkv.Namespace) -> None:
    with pytest.raises(TypeError, match="ttl"):
        ttlkv.memoize((store, "n"))
    with pytest.raises(TypeError, match="Namespace"):
        ttlkv.memoize("n", ttl=1)  # type: ignore[arg-type]
    with pytest.raises(ttlkv.TTLInvalidError):
        ttlkv.memoize(ns, ttl=0)
    with pytest.raises(ttlkv.KeyTooLongError):
        ttlkv.memoize(ns)(_named("x" * 600))


def _named(name: str) -> Any:
    def f() -> None:
        pass

    f.__qualname__ = name
    return f


def test_json_serializer_and_foreign_entries(store: ttlkv.Store) -> None:
    calls: List[int] = []

    @ttlkv.memoize((store, "json"), ttl=None, serializer=ttlkv.JSONSerializer())
    def f(x: int) -> Optional[Dict[str, int]]:
        calls.append(x)
        return {"x": x} if x else None

    assert f(1) == {"x": 1} and f(0) is None and f(1) == {"x": 1} and f(0) is None
    assert store.get("json", f.key_for(1)) == b'\x00{"x":1}'
    store.put("json", f.key_for(1), b"\x01reserved", None)  # not a value: a miss, rewritten
    assert f(1) == {"x": 1} and calls == [1, 0, 1]


def test_a_child_process_reads_the_parent_result(store_dir: Path) -> None:
    calls: List[int] = []
    with ttlkv.Store(store_dir) as store:

        @ttlkv.memoize((store, "shared"), ttl=600)
        def compute(x: int, *, scale: float = 1.0) -> Dict[str, Any]:
            calls.append(x)
            return {"x": x, "scale": scale, "tags": ["a", "b"]}

        result = compute(21, scale={"k": (1, 2)})  # type: ignore[arg-type]
        key = compute.key_for(21, scale={"k": (1, 2)})
        proc = run_python(
            """
            import json, sys, ttlkv
            with ttlkv.Store(sys.argv[1]) as store:
                def compute(x, *, scale=1.0):
                    raise AssertionError("the child must read the parent's result")
                compute.__module__, compute.__qualname__ = sys.argv[2], sys.argv[3]
                compute = ttlkv.memoize((store, "shared"), ttl=600)(compute)
                key = compute.key_for(21, scale={"k": (1, 2)})
                print(json.dumps({"key": key.hex(), "result": compute(21, scale={"k": (1, 2)})}))
            """,
            str(store_dir),
            compute.__module__,
            compute.__qualname__,
        )
        seen = json.loads(proc.stdout)
        assert bytes.fromhex(seen["key"]) == key
        assert seen["result"] == {"x": 21, "scale": {"k": [1, 2]}, "tags": ["a", "b"]}
        assert result["scale"] == {"k": (1, 2)} and calls == [21]
