"""Namespace as a collections.abc.MutableMapping: every method of the protocol, the atomic
spellings (pop = take, setdefault = add, update = put_many, clear = the store's clear), and a
randomized run against a dict."""

from __future__ import annotations

import collections.abc
import random
import threading
import time
from typing import Any, Dict, List

import pytest

import ttlkv
from conftest import wait_until


def test_namespace_is_a_mutable_mapping(ns: ttlkv.Namespace) -> None:
    assert isinstance(ns, collections.abc.MutableMapping)
    assert isinstance(ns, collections.abc.Mapping) and isinstance(ns, collections.abc.Sized)
    assert issubclass(ttlkv.Namespace, collections.abc.MutableMapping)
    assert not hasattr(ns, "__dict__")  # still slotted


def test_len_bool_and_iteration(ns: ttlkv.Namespace) -> None:
    assert len(ns) == 0 and not ns and list(ns) == []
    ns[b"b"] = b"2"
    ns["a"] = b"1"
    assert len(ns) == 2 and ns and bool(ns) is True
    assert list(ns) == [b"a", b"b"] and sorted(ns) == list(ns)
    for key in ns:  # a snapshot: deleting while iterating is fine
        del ns[key]
    assert not ns


def test_an_expired_only_namespace_is_empty(ns: ttlkv.Namespace) -> None:
    ns.put(b"k", b"v", ttl=0.05)
    wait_until(lambda: not ns)
    assert len(ns) == 0 and b"k" not in ns


def test_pop(ns: ttlkv.Namespace) -> None:
    ns[b"k"] = b"v"
    assert ns.pop(b"k") == b"v"
    with pytest.raises(KeyError):
        ns.pop(b"k")
    assert ns.pop(b"k", None) is None and ns.pop("k", b"d") == b"d"
    assert b"k" not in ns


def test_popitem_takes_the_smallest_key(ns: ttlkv.Namespace) -> None:
    ns.update({b"b": b"2", b"": b"0", b"a": b"1"})
    assert ns.popitem() == (b"", b"0")
    assert ns.popitem() == (b"a", b"1")
    assert ns.popitem() == (b"b", b"2")
    with pytest.raises(KeyError, match="empty"):
        ns.popitem()


def test_popitem_from_threads_gives_each_entry_once(store: ttlkv.Store) -> None:
    ns = store.namespace("pops", ttl=60)
    ns.update({b"%03d" % i: b"%d" % i for i in range(200)})
    got: List[List[Any]] = [[] for _ in range(4)]

    def work(me: int) -> None:
        while True:
            try:
                got[me].append(ns.popitem())
            except KeyError:
                return

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    items = sorted(item for part in got for item in part)
    assert items == [(b"%03d" % i, b"%d" % i) for i in range(200)]


def test_setdefault_is_atomic_via_add(store: ttlkv.Store) -> None:
    ns = store.namespace("sd", ttl=60)
    assert ns.setdefault(b"k", b"first") == b"first"
    assert ns.setdefault(b"k", b"second") == b"first"
    assert ns[b"k"] == b"first"
    with pytest.raises(TypeError):
        ns.setdefault(b"absent")  # None is no bytes value
    assert ns.setdefault(b"k") == b"first"  # present: the default is not looked at
    objects = store.namespace("sd-json", ttl=60, serializer=ttlkv.JSONSerializer())
    assert objects.setdefault("k") is None and objects["k"] is None

    results: List[bytes] = []
    barrier = threading.Barrier(8)

    def race(i: int) -> None:
        barrier.wait()
        results.append(ns.setdefault(b"raced", b"%d" % i))

    threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(set(results)) == 1 and results[0] == ns[b"raced"]  # one winner, seen by all


def test_update_is_one_transaction(ns: ttlkv.Namespace) -> None:
    ns.update({b"a": b"1"}, b=b"2")
    ns.update([(b"c", b"3"), ("d", bytearray(b"4"))])

    class KeysOnly:
        def keys(self) -> List[bytes]:
            return [b"e"]

        def __getitem__(self, key: bytes) -> bytes:
            return b"5"

    ns.update(KeysOnly())
    ns.update()
    assert dict(ns.items()) == {b"a": b"1", b"b": b"2", b"c": b"3", b"d": b"4", b"e": b"5"}
    with pytest.raises(ttlkv.KeyTooLongError):
        ns.update({b"f": b"6", b"x" * 5000: b"7"})
    with pytest.raises(TypeError):
        ns.update({b"g": b"6", b"h": "text"})
    assert b"f" not in ns and b"g" not in ns
    assert time.time() + 59 < ns.deadline(b"a") <= time.time() + 60.1  # the namespace's TTL


def test_clear_returns_how_many_went(store: ttlkv.Store) -> None:
    ns = store.namespace("clr", ttl=60)
    other = store.namespace("other", ttl=60)
    ns.update({b"a": b"1", b"b": b"2"})
    other[b"a"] = b"kept"
    assert ns.clear() == 2 and ns.clear() == 0
    assert not ns and other[b"a"] == b"kept"


def test_keys_items_values_get_contains(ns: ttlkv.Namespace) -> None:
    ns.update({b"a": b"1", b"b": b"2"})
    assert ns.keys() == [b"a", b"b"]
    assert ns.items() == [(b"a", b"1"), (b"b", b"2")]
    assert ns.values() == [b"1", b"2"]
    assert ns.get(b"a") == b"1" and ns.get(b"z") is None and ns.get(b"z", 0) == 0
    assert b"a" in ns and "a" in ns and b"z" not in ns
    assert dict(ns) == {b"a": b"1", b"b": b"2"}  # dict() of a mapping: keys, then ns[key]
    assert collections.abc.Mapping.get(ns, b"a") == b"1"  # the protocol's own methods agree


def test_equality_and_hash_are_identity(store: ttlkv.Store) -> None:
    """A namespace is a view of a store, not a value: comparing two would read both."""
    a = store.namespace("same", ttl=60)
    b = store.namespace("same", ttl=60)
    assert a == a and a != b and hash(a) != hash(b)
    assert {a: 1}[a] == 1
    assert a != {}
    a[b"k"] = b"v"
    assert dict(a.items()) == dict(b.items()) == {b"k": b"v"}


def test_mapping_with_a_serializer(store: ttlkv.Store) -> None:
    objects = store.namespace("objs", ttl=60, serializer=ttlkv.PickleSerializer())
    objects.update({"a": {1, 2}, "b": [3]})
    assert objects.pop("a") == {1, 2}
    assert objects.popitem() == (b"b", [3])
    assert objects.setdefault("c", (4,)) == (4,) and objects.setdefault("c", None) == (4,)
    assert len(objects) == 1 and objects.values() == [(4,)]


def test_mapping_agrees_with_a_dict(store: ttlkv.Store) -> None:
    """Random mapping operations (and the ttlkv spellings of them) on a namespace and on a dict,
    compared after every step."""
    rng = random.Random(20240601)
    ns = store.namespace("model", ttl=600)
    model: Dict[bytes, bytes] = {}
    keys = [b"", b"a", b"b", b"ab", b"\x00", b"\xff", b"key", b"k2"]

    def key() -> bytes:
        return rng.choice(keys)

    def value() -> bytes:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))

    for step in range(1500):
        op = rng.randrange(16)
        k, v = key(), value()
        if op == 0:
            ns[k] = v
            model[k] = v
        elif op == 1:
            if k in model:
                del ns[k]
                del model[k]
            else:
                with pytest.raises(KeyError):
                    del ns[k]
        elif op == 2:
            assert ns.get(k) == model.get(k)
        elif op == 3:
            if k in model:
                assert ns[k] == model[k]
            else:
                with pytest.raises(KeyError):
                    ns[k]
        elif op == 4:
            assert ns.pop(k, None) == model.pop(k, None)
        elif op == 5:
            if model:
                smallest = min(model)
                assert ns.popitem() == (smallest, model.pop(smallest))
            else:
                with pytest.raises(KeyError):
                    ns.popitem()
        elif op == 6:
            assert ns.setdefault(k, v) == model.setdefault(k, v)
        elif op == 7:
            batch = {key(): value() for _ in range(rng.randrange(4))}
            ns.update(batch)
            model.update(batch)
        elif op == 8:
            assert (k in ns) == (k in model)
        elif op == 9:
            assert len(ns) == len(model) and bool(ns) == bool(model)
        elif op == 10 and rng.random() < 0.1:
            assert ns.clear() == len(model)
            model.clear()
        elif op == 11:
            assert ns.add(k, v) == (k not in model)
            model.setdefault(k, v)
        elif op == 12:
            assert ns.take(k) == model.pop(k, None)
        elif op == 13:
            wanted = [key() for _ in range(rng.randrange(5))]
            assert ns.get_many(wanted) == {w: model[w] for w in wanted if w in model}
        elif op == 14:
            gone = {key() for _ in range(rng.randrange(4))}
            assert ns.delete_many(gone) == len(gone & set(model))
            for g in gone:
                model.pop(g, None)
        elif op == 15:
            prefix = rng.choice([b"", b"a", b"k", b"\xff"])
            expected = sorted((mk, mv) for mk, mv in model.items() if mk.startswith(prefix))
            assert list(ns.iter_prefix(prefix, page_size=rng.randrange(1, 4))) == expected
        assert ns.keys() == sorted(model), step
    assert dict(ns.items()) == model
