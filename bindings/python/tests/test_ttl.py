"""Expiry in real time: small TTLs, bounded polling (never a fixed sleep that hopes)."""

from __future__ import annotations

import time

import ttlkv
from conftest import wait_until


def test_entry_expires_after_its_ttl(store: ttlkv.Store) -> None:
    short = store.namespace("short", ttl=0.2)
    started = time.monotonic()
    short.put(b"k", b"v")
    assert short.get(b"k") == b"v"
    wait_until(lambda: short.get(b"k") is None, timeout=5)
    assert time.monotonic() - started >= 0.2 - 0.01  # not before its deadline
    assert b"k" not in short
    assert short.keys() == []
    assert short.deadline(b"k") is None
    assert short.delete(b"k") is False  # an expired entry is not a live one


def test_entry_is_live_until_its_deadline(store: ttlkv.Store) -> None:
    ns = store.namespace("live", ttl=1.0)
    ns.put(b"k", b"v")
    deadline = ns.deadline(b"k")
    # Every read that completed before the deadline found it (a read that a busy machine
    # delayed past the deadline proves nothing either way, and is not checked).
    checked = 0
    while True:
        value = ns.get(b"k")
        if time.time() >= deadline - 0.005:
            break
        assert value == b"v"
        checked += 1
        time.sleep(0.02)
    assert checked > 0
    wait_until(lambda: ns.get(b"k") is None, timeout=5)


def test_per_call_ttl_overrides_the_namespace_default(store: ttlkv.Store) -> None:
    ns = store.namespace("mixed", ttl=3600)
    ns.put(b"short", b"v", ttl=0.2)
    ns.put(b"long", b"v")
    ns.put(b"never", b"v", ttl=None)
    wait_until(lambda: ns.get(b"short") is None, timeout=5)
    assert ns.get(b"long") == b"v"
    assert ns.get(b"never") == b"v"
    assert ns.keys() == [b"long", b"never"]


def test_put_many_ttl_applies_to_every_record(store: ttlkv.Store) -> None:
    ns = store.namespace("batch", ttl=3600)
    ns.put_many({b"a": b"1", b"b": b"2"}, ttl=0.2)
    ns.put(b"c", b"3")
    wait_until(lambda: ns.keys() == [b"c"], timeout=5)


def test_expired_key_can_be_written_again(store: ttlkv.Store) -> None:
    ns = store.namespace("again", ttl=0.1)
    ns.put(b"k", b"old")
    wait_until(lambda: ns.get(b"k") is None, timeout=5)
    ns.put(b"k", b"new", ttl=60)
    assert ns.get(b"k") == b"new"


def test_overwrite_with_longer_ttl_keeps_the_entry(store: ttlkv.Store) -> None:
    ns = store.namespace("extend", ttl=0.3)
    ns.put(b"k", b"v")
    ns.put(b"k", b"v2", ttl=60)  # the old deadline's index entry must go with it
    time.sleep(0.6)  # past the first deadline; the expiry thread has had its chance
    assert ns.get(b"k") == b"v2"


def test_many_expiring_keys_all_go(store: ttlkv.Store) -> None:
    ns = store.namespace("bulk", ttl=0.3)
    ns.put_many({f"k{i}".encode(): b"v" for i in range(2000)})
    keep = store.namespace("keep", ttl=60)
    keep.put(b"k", b"v")
    wait_until(lambda: ns.keys() == [], timeout=10)
    assert keep.keys() == [b"k"]
