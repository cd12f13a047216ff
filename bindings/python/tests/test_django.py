"""ttlkv.django.TTLKVCache beyond Django's own BaseCacheTests (run by `make test-python` from
the Django sdist, tests/django_upstream/run.py): the stored format, counters shared with plain
ttlkv, atomic incr across processes, fork, the per-process store, the OPTIONS, and the key fast
path against Django's generic make_key/validate_key (same keys, same warnings)."""

from __future__ import annotations

import multiprocessing
import os
import pickle
from pathlib import Path
from typing import Any, Dict

import pytest

import django
from django.conf import settings

if not settings.configured:
    settings.configure(CACHES={}, USE_TZ=False)
    django.setup()

from django.core.cache.backends.base import (  # noqa: E402
    MEMCACHE_MAX_KEY_LENGTH,
    BaseCache,
    memcached_error_chars_re,
)
from django.core.exceptions import ImproperlyConfigured  # noqa: E402

import ttlkv  # noqa: E402
from ttlkv import django as tdj  # noqa: E402
from test_fork import in_child  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")


def make(path: Path, **params: Any) -> tdj.TTLKVCache:
    return tdj.TTLKVCache(str(path), {"TIMEOUT": 300, **params})


def raw(path: Path, namespace: str = "django") -> ttlkv.Namespace:
    return ttlkv.Store(str(path)).namespace(namespace, ttl=None)


def test_ints_are_stored_as_counters_and_everything_else_as_marked_pickles(tmp_path: Path) -> None:
    cache = make(tmp_path)
    cache.set("n", 42)
    cache.set("neg", -7)
    cache.set("flag", True)
    cache.set("big", 1 << 70)
    cache.set("text", "42")
    ns = raw(tmp_path)
    assert ns.get(cache.make_key("n")) == b"42"
    assert ns.get(cache.make_key("neg")) == b"-7"
    for key, value in (("flag", True), ("big", 1 << 70), ("text", "42")):
        stored = ns.get(cache.make_key(key))
        assert stored[:1] == tdj.PICKLE_MARKER
        assert pickle.loads(stored[1:]) == value
        assert type(cache.get(key)) is type(value)
    assert cache.get("flag") is True


def test_a_counter_of_plain_ttlkv_is_an_int_to_django_and_back(tmp_path: Path) -> None:
    cache = make(tmp_path)
    ns = raw(tmp_path)
    assert ns.incr(cache.make_key("hits"), 5) == 5
    assert cache.get("hits") == 5
    assert cache.incr("hits", 2) == 7
    assert ns.get(cache.make_key("hits")) == b"7"


def test_incr_keeps_the_deadline_and_refuses_a_missing_key_and_a_non_number(tmp_path: Path) -> None:
    cache = make(tmp_path)
    cache.set("n", 1, timeout=1000)
    before = raw(tmp_path).deadline(cache.make_key("n"))
    assert cache.incr("n") == 2
    assert raw(tmp_path).deadline(cache.make_key("n")) == before
    with pytest.raises(ValueError):
        cache.incr("missing")
    cache.set("s", "text")
    with pytest.raises(TypeError):
        cache.incr("s")
    assert cache.get("s") == "text"


def test_incr_past_64_bits_and_of_a_pickled_int_goes_on_atomically(tmp_path: Path) -> None:
    cache = make(tmp_path)
    cache.set("n", (1 << 63) - 1, timeout=None)
    assert cache.incr("n") == 1 << 63  # the library's overflow: compare-and-set instead
    assert cache.get("n") == 1 << 63
    assert cache.decr("n", 2) == (1 << 63) - 2  # a pickled int back in range, stored as a counter
    assert raw(tmp_path).get(cache.make_key("n")) == b"%d" % ((1 << 63) - 2)
    assert raw(tmp_path).deadline(cache.make_key("n")) == float("inf")


def _incr_many(path: str, n: int) -> None:
    cache = tdj.TTLKVCache(path, {})
    for _ in range(n):
        cache.incr("shared")


def test_incr_from_four_processes_loses_no_increment(tmp_path: Path) -> None:
    cache = make(tmp_path)
    cache.set("shared", 0, timeout=None)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_incr_many, args=(str(tmp_path), 500)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert cache.get("shared") == 2000


def _add_race(path: str, me: int, keys: int, queue: Any) -> None:
    cache = tdj.TTLKVCache(path, {})
    queue.put((me, [i for i in range(keys) if cache.add(f"slot-{i}", me, timeout=600)]))


def test_add_from_four_worker_processes_has_exactly_one_winner_per_key(tmp_path: Path) -> None:
    # gunicorn-style workers racing for the same keys: every key is added exactly once, and
    # the value stored is the winner's.
    make(tmp_path)  # the store exists before the workers open it
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_add_race, args=(str(tmp_path), me, 300, queue)) for me in range(4)]
    for p in procs:
        p.start()
    won = dict(queue.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    winners = [me for me, slots in won.items() for _ in slots]
    assert len(winners) == 300
    cache = make(tmp_path)
    for me, slots in won.items():
        for i in slots:
            assert cache.get(f"slot-{i}") == me


def test_a_forked_child_opens_its_own_store(tmp_path: Path) -> None:
    cache = make(tmp_path)
    cache.set("before", "parent")

    def child() -> None:
        assert cache.get("before") == "parent"  # not ClosedError: the child's own store
        cache.set("from_child", os.getpid())

    in_child(child)
    assert isinstance(cache.get("from_child"), int)
    assert cache.get("before") == "parent"


def test_a_forked_child_knows_its_own_process_id_without_asking_each_call(tmp_path: Path) -> None:
    # The per-call check compares with a process id kept by an os.register_at_fork hook.
    cache = make(tmp_path)
    cache.set("k", "v")
    parent, parent_ns = os.getpid(), cache._ns
    assert tdj._pid == parent and cache._ns_pid == parent

    def child() -> None:
        assert tdj._pid == os.getpid() != parent
        tdj._pid = parent  # as if a fork had run no hook: the library refuses the inherited store
        with pytest.raises(ttlkv.ClosedError):
            cache.get("k")
        tdj._pid = os.getpid()
        assert cache.get("k") == "v"  # reopened in the child
        assert cache._ns is not parent_ns and cache._ns_pid == os.getpid()

    in_child(child)
    assert cache.get("k") == "v" and cache._ns is parent_ns


def test_close_keeps_the_store_for_the_next_request(tmp_path: Path) -> None:
    cache = make(tmp_path)
    cache.set("k", "v")
    cache.close()
    assert cache.get("k") == "v"


def test_caches_of_one_location_share_one_store_and_namespaces_separate_them(tmp_path: Path) -> None:
    a = make(tmp_path)
    b = make(tmp_path, KEY_PREFIX="b")
    other = make(tmp_path, OPTIONS={"namespace": "other"})
    a.set("k", 1)
    b.set("k", 2)
    other.set("k", 3)
    assert a._ns.store is b._ns.store is other._ns.store
    assert (a.get("k"), b.get("k"), other.get("k")) == (1, 2, 3)
    a.clear()  # the whole namespace, both aliases
    assert (a.get("k"), b.get("k"), other.get("k")) == (None, None, 3)


def test_options_go_to_the_store_and_the_size_bound(tmp_path: Path) -> None:
    cache = make(tmp_path, OPTIONS={"durability": "periodic", "max_bytes": 1 << 20, "eviction": "none"})
    cache.set("k", "v")
    assert cache._ns.store.durability == "periodic"
    assert cache._ns.store.max_bytes() == (1 << 20, "none")


@pytest.mark.parametrize(
    "options",
    [{"MAX_ENTRIES": 30}, {"CULL_FREQUENCY": 0}, {"no_such_option": 1}, {"eviction": "none"}],
)
def test_options_it_cannot_honour_are_refused(tmp_path: Path, options: Dict[str, Any]) -> None:
    with pytest.raises(ImproperlyConfigured):
        make(tmp_path, OPTIONS=options)


def test_a_location_is_required() -> None:
    with pytest.raises(ImproperlyConfigured):
        tdj.TTLKVCache("", {})


def test_loads_refuses_bytes_it_did_not_write() -> None:
    with pytest.raises(ValueError):
        tdj.loads(b"\x80\x04K*.")
    assert tdj.loads(tdj.dumps({"a": [1]})) == {"a": [1]}


def test_importing_ttlkv_does_not_import_django() -> None:
    from conftest import run_python

    proc = run_python("import sys, ttlkv; assert 'django' not in sys.modules, 'django imported'")
    assert proc.returncode == 0


# -- the key fast path (TTLKVCache.make_and_validate_key) against Django's generic path ------

class _Str:
    """A key whose ``str`` and ``format`` differ: ``"%s"`` takes the ``str``."""

    def __str__(self) -> str:
        return "by str"

    def __format__(self, spec: str) -> str:
        return "by-format"


class _StrSubclass(str):
    def __str__(self) -> str:
        return "sub str"


_CONTROL = [chr(c) for c in range(0x21)] + ["\x7f"]
#: Keys on either side of every test of memcache_key_warnings, and of the formatting.
_KEYS: Any = [
    "plain",
    "",
    "with space",
    "清",
    "key with spaces and 清",
    "\u00a0nbsp",  # not printable, not a memcached error: validate_key runs and says nothing
    "zero\u200bwidth",
    "\u2028line",
    "\U0001f600",
    "\ud800",  # a lone surrogate: printable to neither, no memcached error
    *(f"c{c}c" for c in _CONTROL),
    *("a" * n for n in (240, 245, 246, 247, 248, 249, 250, 251, 300)),
    ("a" * 246) + " ",
    ("a" * 250) + "清",
    42,
    -1,
    0,
    3.5,
    True,
    None,
    b"bytes",
    ("a", "b"),
    ("a b",),
    ["x"],
    {"k": 1},
    _Str(),
    _StrSubclass("sub"),
]
_CONFIGS: Any = [
    {},
    {"KEY_PREFIX": "pre"},
    {"KEY_PREFIX": "with space"},
    {"KEY_PREFIX": "p" * 240},
    {"KEY_PREFIX": "清"},
    {"VERSION": 7},
    {"VERSION": "v"},
    {"KEY_PREFIX": "p", "VERSION": 12345},
]
_VERSIONS: Any = [None, 1, 2, 0, -3, 10**6, "s"]


def _recorded(call: Any, *args: Any, **kwargs: Any) -> Any:
    """``(result, warnings)`` of ``call(*args, **kwargs)``: every warning, with its category,
    text and line."""
    import warnings

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        result = call(*args, **kwargs)
    return result, [(w.category, str(w.message), w.filename, w.lineno) for w in seen]


def _generic(cache: Any, key: Any, version: Any = None) -> Any:
    """What Django's own path gives: BaseCache.make_and_validate_key (its make_key and
    validate_key), for the key and the warnings."""
    return _recorded(BaseCache.make_and_validate_key, cache, key, version=version)


@pytest.mark.parametrize("params", _CONFIGS, ids=repr)
def test_the_key_fast_path_gives_django_s_keys_and_warnings(tmp_path: Path, params: Dict[str, Any]) -> None:
    cache = make(tmp_path, **params)
    assert cache._plain_keys and cache._inline_keys
    warned = 0
    for key in _KEYS:
        for version in _VERSIONS:
            expected = _generic(cache, key, version)
            assert expected[0] == BaseCache.make_key(cache, key, version=version)
            assert _recorded(cache.make_and_validate_key, key, version=version) == expected, (key, version)
            assert _recorded(cache.make_and_validate_key, key, version) == expected, (key, version)
            assert type(_recorded(cache.make_and_validate_key, key, version)[0]) is str
            warned += bool(expected[1])
    assert warned  # some keys of every configuration draw warnings
    # the default version
    for key in _KEYS:
        assert _recorded(cache.make_and_validate_key, key) == _generic(cache, key)


def _outcome(call: Any, *args: Any) -> Any:
    """``_recorded`` of ``call(*args)``, with an exception as its type and text."""

    def caught() -> Any:
        try:
            return call(*args)
        except Exception as e:  # noqa: BLE001
            return type(e), str(e)

    return _recorded(caught)


def test_every_key_draws_the_warnings_django_gives_it_from_every_operation(tmp_path: Path) -> None:
    import types

    fast = make(tmp_path / "fast", KEY_PREFIX="p")
    slow = make(tmp_path / "slow", KEY_PREFIX="p")
    slow.validate_key = types.MethodType(BaseCache.validate_key, slow)  # Django's path, every call
    assert fast._inline_keys and not slow._plain_keys and not slow._inline_keys
    operations: Any = [
        ("add", lambda c, k: c.add(k, 1)),
        ("get", lambda c, k: c.get(k)),
        ("get with version", lambda c, k: c.get(k, version=3)),
        ("get with a default", lambda c, k: c.get(k, "default", 8)),
        ("set", lambda c, k: c.set(k, 1)),
        ("incr", lambda c, k: c.incr(k)),
        ("decr", lambda c, k: c.decr(k, 5, version=1)),
        ("touch", lambda c, k: c.touch(k)),
        ("has_key", lambda c, k: c.has_key(k)),
        ("in", lambda c, k: k in c),
        ("delete", lambda c, k: c.delete(k)),
        ("get_many", lambda c, k: c.get_many([k, "other"])),
        ("set_many", lambda c, k: c.set_many({k: 1, "other": 2})),
        ("get_many again", lambda c, k: c.get_many([k, "other"], version=1)),
        ("incr_version", lambda c, k: c.incr_version(k)),
        ("delete_many", lambda c, k: c.delete_many([k], version=2)),
        ("get_or_set", lambda c, k: c.get_or_set(k, 2)),
        ("set, expired", lambda c, k: c.set(k, 1, timeout=0)),
        ("add, expired", lambda c, k: c.add(k, 1, timeout=-1)),
    ]
    for key in _KEYS:
        if key == "\ud800":
            continue  # a store key is UTF-8: a lone surrogate is refused (Django made the key)
        for name, operation in operations:
            expected = _outcome(operation, slow, key)
            assert _outcome(operation, fast, key) == expected, (name, key)
            if name in ("get", "set", "touch", "delete", "has_key"):  # one key made: its warnings
                assert expected[1] == _generic(fast, key)[1], (name, key)


@pytest.mark.filterwarnings("ignore::django.core.cache.backends.base.CacheKeyWarning")
def test_the_fast_path_writes_and_reads_the_keys_of_django_s_make_key(tmp_path: Path) -> None:
    cache = make(tmp_path, KEY_PREFIX="pre", VERSION=4)
    ns = raw(tmp_path)
    for i, key in enumerate(k for k in _KEYS if k != "\ud800"):
        cache.set(key, i)
        assert ns.get(BaseCache.make_key(cache, key)) == b"%d" % i, key
        assert cache.get(key) == i
        ns.put(BaseCache.make_key(cache, key, version=9), b"%d" % (i + 1000))
        assert cache.get(key, version=9) == i + 1000
        if isinstance(key, (list, dict)):
            continue  # get_many keys its answer by the keys given
        assert cache.get_many([key], version=9) == {key: i + 1000}


def test_django_s_memcached_characters_are_spaces_or_unprintable() -> None:
    # The fast path skips validate_key for a key without spaces that str.isprintable takes:
    # sound only if no such character matches Django's regex. Every code point, checked.
    search = memcached_error_chars_re.search
    for c in map(chr, range(0x110000)):
        if search(c):
            assert c == " " or not c.isprintable(), hex(ord(c))
    assert MEMCACHE_MAX_KEY_LENGTH == 250


def test_random_keys_against_the_generic_path(tmp_path: Path) -> None:
    import random

    rng = random.Random(20251201)
    alphabet = "ab:-_清\u00a0\u200b" + "".join(_CONTROL)
    cache = make(tmp_path, KEY_PREFIX="r")
    for _ in range(3000):
        n = rng.choice([rng.randrange(0, 20), rng.randrange(240, 260)])
        key = "".join(rng.choice(alphabet) if rng.random() < 0.05 else "a" for _ in range(n))
        version = rng.choice([None, 1, 22, 333])
        assert _recorded(cache.make_and_validate_key, key, version) == _generic(cache, key, version)


def test_key_prefix_version_and_key_func_are_read_at_every_call(tmp_path: Path) -> None:
    cache = make(tmp_path)
    cache.set("k", "v1")
    cache.key_prefix = "other"
    assert cache.make_and_validate_key("k") == "other:1:k"
    assert cache.get("k") is None
    cache.set("k", "v2")
    cache.version = 5
    assert cache.make_and_validate_key("k") == "other:5:k"
    assert cache.get("k") is None
    assert cache.get("k", version=1) == "v2"
    cache.key_func = lambda key, prefix, version: f"custom|{key}"
    assert cache.make_and_validate_key("k") == "custom|k"
    cache.set("k", "v3")
    assert raw(tmp_path).get("custom|k") is not None
    cache.key_func = lambda key, prefix, version: key  # the upstream tests' way to draw warnings
    assert _recorded(cache.get, "a b")[1] == _generic(cache, "a b")[1] != []
    cache.key_prefix, cache.version = "", 1
    cache.key_func = tdj.default_key_func
    assert cache.get("k") == "v1"


def _custom_key(key: Any, key_prefix: str, version: Any) -> str:
    return f"CUSTOM-{key_prefix}-{version}-{key}"


@pytest.mark.parametrize("key_function", [_custom_key, "test_django._custom_key"])
def test_a_key_function_is_honoured(tmp_path: Path, key_function: Any) -> None:
    cache = make(tmp_path, KEY_PREFIX="p", KEY_FUNCTION=key_function)
    assert cache.make_and_validate_key("k") == "CUSTOM-p-1-k"
    assert cache.make_and_validate_key("k", 3) == "CUSTOM-p-3-k"
    cache.set("k", "v")
    assert raw(tmp_path).get("CUSTOM-p-1-k") is not None
    assert cache.get("k") == "v"
    assert cache.get_many(["k"]) == {"k": "v"}
    # it makes the key Django validates: this one has a space
    expected = _generic(cache, "x y")[1]
    assert expected and _recorded(cache.get, "x y")[1] == expected
    assert "CUSTOM-p-1-x y" in str(expected)


class _SubMakeKey(tdj.TTLKVCache):  # type: ignore[misc]
    def make_key(self, key: Any, version: Any = None) -> str:
        return f"sub:{key}:{version}"


class _SubValidateKey(tdj.TTLKVCache):  # type: ignore[misc]
    seen: Any = None

    def validate_key(self, key: Any) -> None:
        if self.seen is not None:
            self.seen.append(key)


class _SubMakeAndValidateKey(tdj.TTLKVCache):  # type: ignore[misc]
    def make_and_validate_key(self, key: Any, version: Any = None) -> Any:
        return "mav:" + super().make_and_validate_key(key, version)


def test_a_subclass_s_make_key_is_honoured(tmp_path: Path) -> None:
    cache = _SubMakeKey(str(tmp_path), {})
    assert not cache._plain_keys and not cache._inline_keys
    assert cache.make_and_validate_key("k") == "sub:k:None"
    cache.set("k", "v")
    assert raw(tmp_path).get("sub:k:None") is not None
    assert cache.get("k") == "v"
    assert cache.get_many(["k"]) == {"k": "v"}


def test_a_subclass_s_validate_key_is_honoured(tmp_path: Path) -> None:
    cache = _SubValidateKey(str(tmp_path), {})
    cache.seen = []
    cache.set("k", "v")
    assert cache.get("k") == "v"
    assert cache.get("k", version=2) is None
    cache.get_many(["k", "l"])
    assert cache.seen == [":1:k", ":1:k", ":2:k", ":1:k", ":1:l"]
    cache.seen = None
    assert _recorded(cache.get, "a b" * 90)[1] == []  # Django's warnings replaced


def test_a_subclass_s_make_and_validate_key_is_honoured(tmp_path: Path) -> None:
    cache = _SubMakeAndValidateKey(str(tmp_path), {})
    assert cache._plain_keys and not cache._inline_keys  # super() still takes the fast path
    assert cache.make_and_validate_key("k") == "mav::1:k"
    cache.set("k", "v")
    assert raw(tmp_path).get("mav::1:k") is not None
    assert cache.get("k") == "v"
    assert _recorded(cache.get, "a b")[1] == _generic(cache, "a b")[1] != []


@pytest.mark.parametrize("method", ["make_key", "validate_key", "make_and_validate_key"])
def test_a_key_method_set_on_the_cache_is_honoured_and_its_removal_seen(tmp_path: Path, method: str) -> None:
    from unittest import mock

    cache = make(tmp_path)
    cache.set("k", "v")
    original = getattr(cache, method)
    with mock.patch.object(cache, method, wraps=original) as spy:
        assert not cache._inline_keys
        assert cache.get("k") == "v"
        assert cache.get_many(["k"]) == {"k": "v"}
        assert spy.call_count == 2  # the get and the get_many each made their key through it
    assert cache._plain_keys and cache._inline_keys  # the fast path again
    assert cache.get("k") == "v"

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(method)

    setattr(cache, method, refuse)  # a plain assignment, no mock
    with pytest.raises(RuntimeError, match=method):
        cache.get("k")
    delattr(cache, method)
    assert cache.get("k") == "v"


def test_namespace_keys_of_every_accepted_form_reach_one_entry(tmp_path: Path) -> None:
    # Namespace.get and put take str and bytes keys inline; subclasses go through to_key.
    class S(str):
        pass

    class B(bytes):
        pass

    ns = raw(tmp_path, "keys")
    for i, key in enumerate(["k清", b"k\xe6\xb8\x85", S("k清"), B(b"k\xe6\xb8\x85")]):
        ns.put(key, b"%d" % i)
        for other in ("k清", b"k\xe6\xb8\x85", S("k清"), B(b"k\xe6\xb8\x85")):
            assert ns.get(other) == b"%d" % i
    with pytest.raises(UnicodeEncodeError):
        ns.get("\ud800")
    with pytest.raises(UnicodeEncodeError):
        ns.put("\ud800", b"v")
    for bad in (1, bytearray(b"k"), None):
        with pytest.raises(TypeError):
            ns.get(bad)
        with pytest.raises(TypeError):
            ns.put(bad, b"v")


def test_loads_reads_counters_and_marked_pickles_and_refuses_the_rest() -> None:
    for value in (0, -5, 1 << 62, "s", b"b", None, 1 << 80, [1, "x"]):
        assert tdj.loads(tdj.dumps(value)) == value
    assert tdj.loads(b"-0") == 0
    for data in (b"", b"\x02", b"x1", b" 1", b"\x80\x04K*."):
        with pytest.raises(ValueError):
            tdj.loads(data)


def test_options_crash_safe_and_on_corruption_reach_the_store(tmp_path: Path) -> None:
    cache = make(tmp_path / "safe", OPTIONS={"durability": "periodic", "crash_safe": True, "on_corruption": "reset"})
    cache.set("k", "v")
    assert cache.get("k") == "v"
    store = ttlkv.Store(str(tmp_path / "safe"))  # the same environment: the first open decided
    store.flush()
    mark = (tmp_path / "safe" / "flush.mark").read_text().split()
    assert len(mark[4]) == 272, mark  # a flush of a crash_safe store keeps its meta page
    with pytest.raises(ttlkv.InvalidArgumentError, match="crash_safe"):
        make(tmp_path / "sync", OPTIONS={"crash_safe": True}).get("k")
