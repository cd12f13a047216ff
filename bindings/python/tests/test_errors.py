"""Every error path, and the exception classes built from the status codes."""

from __future__ import annotations

import datetime
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import ttlkv
from ttlkv import _abi, _errors, _ffi


# --- the classes ---------------------------------------------------------------------------


def test_one_class_per_failing_status_code() -> None:
    failing = {name: code for name, code in _abi.STATUS.items() if code >= 100}
    assert len(failing) >= 20
    for name, code in failing.items():
        cls = _errors.error_class(code)
        assert cls.code == code and cls.status == name
        assert issubclass(cls, ttlkv.Error) and cls.__module__ == "ttlkv"
        assert getattr(ttlkv, cls.__name__) is cls and cls.__name__ in ttlkv.__all__
    assert set(_errors.CLASSES) == {_errors.error_class(code).__name__ for code in failing.values()}


def test_ordinary_results_get_no_class() -> None:
    """Codes below 100 (not found, conflict) are results, never raised as such."""
    results = [code for code in _abi.STATUS.values() if code < 100]
    assert 0 in results and 1 in results
    for code in results:
        assert _errors.error_class(code) is ttlkv.Error


def test_families() -> None:
    for name, code in _abi.STATUS.items():
        if code < 100:
            continue
        cls = _errors.error_class(code)
        if 100 <= code < 200:
            assert issubclass(cls, ValueError), name
        if 200 <= code < 300:
            assert issubclass(cls, ttlkv.StorageError), name
            assert not issubclass(cls, ValueError), name
    assert issubclass(ttlkv.KeyTooLongError, ttlkv.InvalidArgumentError)
    assert issubclass(ttlkv.TTLInvalidError, ttlkv.InvalidArgumentError)
    assert issubclass(ttlkv.ClosedError, ValueError)
    assert not issubclass(ttlkv.ClosedError, ttlkv.InvalidArgumentError)
    assert issubclass(ttlkv.NoSpaceError, ttlkv.StorageError)
    assert not issubclass(ttlkv.PanicError, (ValueError, ttlkv.StorageError))


def test_no_class_shadows_a_builtin() -> None:
    import builtins

    assert not [name for name in _errors.CLASSES if hasattr(builtins, name)]
    assert ttlkv.PermissionDeniedError.status == "TTLKV_PERMISSION"


def test_unknown_code_maps_to_its_family() -> None:
    assert _errors.error_class(199) is ttlkv.InvalidArgumentError
    assert _errors.error_class(299) is ttlkv.StorageError
    assert _errors.error_class(12345) is ttlkv.Error
    assert _errors.status_name(12345) == "TTLKV_12345"


# --- closed store --------------------------------------------------------------------------


def test_close_is_idempotent_and_later_calls_raise_closed(store_dir: Path) -> None:
    store = ttlkv.Store(store_dir)
    ns = store.namespace("n", ttl=60)
    ns.put(b"k", b"v")
    store.close()
    store.close()
    assert store.closed
    calls = [
        lambda: ns.get(b"k"),
        lambda: ns.put(b"k", b"v"),
        lambda: ns.put(b"k", b"v", ttl=5),
        lambda: ns.delete(b"k"),
        lambda: ns.keys(),
        lambda: ns.deadline(b"k"),
        lambda: ns.put_many({b"a": b"b"}),
        lambda: ns[b"k"],
        lambda: b"k" in ns,
        lambda: store.get("n", b"k"),
        lambda: store.put("n", b"k", b"v", 60),
        lambda: store.delete("n", b"k"),
        lambda: store.keys("n"),
        lambda: store.deadline("n", b"k"),
        lambda: store.put_many([("n", b"k", b"v", 60)]),
        lambda: store.namespace("other", ttl=60),
    ]
    for call in calls:
        with pytest.raises(ttlkv.ClosedError) as info:
            call()
        assert "TTLKV_CLOSED" in str(info.value)


def test_cache_operations_on_a_closed_store_raise_closed(store_dir: Path, tmp_path: Path) -> None:
    store = ttlkv.Store(store_dir)
    ns = store.namespace("n", ttl=60)
    ns.put(b"k", b"v")
    store.close()
    calls = [
        lambda: ns.touch(b"k"),
        lambda: ns.add(b"k2", b"v"),
        lambda: ns.incr(b"c"),
        lambda: ns.decr(b"c", create=False),
        lambda: ns.take(b"k"),
        lambda: ns.get_versioned(b"k"),
        lambda: ns.put_if_version(b"k", b"v", None),
        lambda: ns.get_many([b"k"]),
        lambda: ns.get_many([]),
        lambda: ns.delete_many([b"k"]),
        lambda: ns.clear(),
        lambda: ns.count(),
        lambda: len(ns),
        lambda: bool(ns),
        lambda: list(ns),
        lambda: ns.scan(),
        lambda: list(ns.iter_prefix()),
        lambda: ns.pop(b"k"),
        lambda: ns.popitem(),
        lambda: ns.setdefault(b"k", b"v"),
        lambda: ns.update({b"k": b"v"}),
        lambda: ns.values(),
        lambda: store.touch("n", b"k", 5),
        lambda: store.add("n", b"k", b"v", 5),
        lambda: store.incr("n", b"k", create_ttl=5),
        lambda: store.take("n", b"k"),
        lambda: store.get_versioned("n", b"k"),
        lambda: store.put_if_version("n", b"k", b"v", None, 5),
        lambda: store.get_many("n", [b"k"]),
        lambda: store.delete_many("n", [b"k"]),
        lambda: store.clear("n"),
        lambda: store.count("n"),
        lambda: store.namespaces(),
        lambda: store.scan("n"),
        lambda: store.set_max_bytes(1 << 20),
        lambda: store.max_bytes(),
        lambda: store.backup(tmp_path / "backup"),
    ]
    for call in calls:
        with pytest.raises(ttlkv.ClosedError) as info:
            call()
        assert "TTLKV_CLOSED" in str(info.value)
    with ttlkv.Store(store_dir) as again:  # nothing reached the store
        assert again.entries("n") == [(b"k", b"v")] and again.max_bytes() == (None, "soonest_deadline")


def test_closed_store_in_with_block(store_dir: Path) -> None:
    with ttlkv.Store(store_dir) as store:
        store.close()
        with pytest.raises(ttlkv.ClosedError):
            store.get("n", b"k")


# --- bad types -----------------------------------------------------------------------------


@pytest.mark.parametrize("key", [1, 1.5, None, ["k"], bytearray(b"k"), object()])
def test_bad_key_types(ns: ttlkv.Namespace, key: object) -> None:
    with pytest.raises(TypeError, match="keys are bytes or str"):
        ns.put(key, b"v")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ns.get(key)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ns.delete(key)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        key in ns  # noqa: B015


@pytest.mark.parametrize("value", ["text", 1, None, 1.0, object()])
def test_bad_value_types(ns: ttlkv.Namespace, value: object) -> None:
    with pytest.raises(TypeError, match="bytes-like"):
        ns.put(b"k", value)
    assert ns.get(b"k") is None


@pytest.mark.parametrize("name", [1, None, ["n"]])
def test_bad_namespace_types(store: ttlkv.Store, name: object) -> None:
    with pytest.raises(TypeError, match="namespace names"):
        store.namespace(name, ttl=60)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="namespace names"):
        store.get(name, b"k")  # type: ignore[arg-type]


@pytest.mark.parametrize("ttl", ["60", b"60", True, [60]])
def test_bad_ttl_types(ns: ttlkv.Namespace, ttl: object) -> None:
    with pytest.raises(TypeError, match="ttl"):
        ns.put(b"k", b"v", ttl=ttl)  # type: ignore[arg-type]
    assert ns.get(b"k") is None


def test_bad_option_values(store_dir: Path) -> None:
    with pytest.raises(ttlkv.InvalidArgumentError, match="durability"):
        ttlkv.Store(store_dir, durability="always")
    # Both rules are the library's (one definition for every language), not this binding's.
    with pytest.raises(ttlkv.InvalidArgumentError, match="sync_interval applies to periodic"):
        ttlkv.Store(store_dir, durability="sync", sync_interval=1.0)
    with pytest.raises(ttlkv.InvalidArgumentError, match="write_map needs periodic"):
        ttlkv.Store(store_dir, durability="sync", write_map=True)
    with pytest.raises(ttlkv.InvalidArgumentError):
        ttlkv.Store(store_dir, durability="periodic", sync_interval=0)
    with pytest.raises(ttlkv.InvalidArgumentError):
        ttlkv.Store(store_dir, max_readers=-1)
    with pytest.raises(TypeError):
        ttlkv.Store(store_dir, map_size="big")  # type: ignore[arg-type]


# --- invalid values ------------------------------------------------------------------------


def test_over_long_key(ns: ttlkv.Namespace) -> None:
    with pytest.raises(ttlkv.KeyTooLongError) as info:
        ns.put(b"x" * 5000, b"v")
    error = info.value
    assert isinstance(error, ValueError)
    assert error.code == 102 and error.status == "TTLKV_KEY_TOO_LONG"
    assert error.detail, "the C detail (ttlkv_last_error) is part of the error"
    assert error.detail in str(error)
    assert "namespace 'test'" in str(error)
    # Reads and deletes of such a key are errors too, never a silent truncation.
    with pytest.raises(ttlkv.KeyTooLongError):
        ns.get(b"x" * 5000)
    assert ns.keys() == []


def test_longest_key_that_fits_round_trips(ns: ttlkv.Namespace) -> None:
    limit = ns.max_key_len()
    assert limit >= 400, "LMDB's default key size leaves room for real keys"
    ns.put(b"k" * limit, b"v")
    assert ns.get(b"k" * limit) == b"v"
    with pytest.raises(ttlkv.KeyTooLongError):
        ns.put(b"k" * (limit + 1), b"v")


def test_batch_over_the_record_limit(ns: ttlkv.Namespace) -> None:
    records = {b"%d" % i: b"" for i in range(ttlkv.MAX_BATCH_RECORDS + 1)}
    with pytest.raises(ttlkv.BatchTooLargeError) as info:
        ns.put_many(records)
    assert isinstance(info.value, ValueError)
    assert ns.keys() == []


@pytest.mark.parametrize(
    "ttl",
    [
        0,
        0.0,
        -0.0,
        -1,
        -0.5,
        -5e-10,
        -math.inf,
        math.nan,
        datetime.timedelta(0),
        datetime.timedelta(microseconds=-1),
    ],
)
def test_ttl_zero_negative_or_nan_is_rejected_and_nothing_written(
    ns: ttlkv.Namespace, store: ttlkv.Store, ttl: float
) -> None:
    with pytest.raises(ttlkv.TTLInvalidError) as info:
        ns.put(b"k", b"v", ttl=ttl)
    assert isinstance(info.value, ValueError)
    with pytest.raises(ttlkv.TTLInvalidError):
        store.put("test", b"k", b"v", ttl)
    with pytest.raises(ttlkv.TTLInvalidError):
        ns.put_many({b"k": b"v"}, ttl=ttl)
    with pytest.raises(ttlkv.TTLInvalidError):
        store.namespace("zero", ttl=ttl)
    assert ns.get(b"k") is None


def test_ttl_too_large_is_rejected(ns: ttlkv.Namespace) -> None:
    with pytest.raises(ttlkv.TTLInvalidError, match="None"):
        ns.put(b"k", b"v", ttl=2**64)


def test_ttl_zero_from_the_library(store: ttlkv.Store) -> None:
    """The library itself refuses ttl_ms 0 (the binding never sends one)."""
    code = _ffi.lib.ttlkv_put(store._h, b"n", 1, b"k", 1, b"v", 1, 0)
    assert code == _abi.STATUS["TTLKV_TTL_INVALID"]
    assert _ffi.decode(_ffi.lib.ttlkv_last_error())


@pytest.mark.parametrize("name", ["", b"", "n" * 256, "é" * 128])
def test_invalid_namespace_names(store: ttlkv.Store, name: object) -> None:
    with pytest.raises(ttlkv.NamespaceInvalidError):
        store.namespace(name, ttl=60)  # type: ignore[arg-type]
    with pytest.raises(ttlkv.NamespaceInvalidError) as info:
        store.put(name, b"k", b"v", 60)  # type: ignore[arg-type]
    assert info.value.detail  # from the library


def test_longest_namespace_name_works(store: ttlkv.Store) -> None:
    ns = store.namespace("n" * 255, ttl=60)
    ns.put(b"k", b"v")
    assert ns.get(b"k") == b"v"


def test_value_over_one_gib_is_rejected(ns: ttlkv.Namespace) -> None:
    big = bytes((1 << 30) + 1)
    with pytest.raises(ttlkv.ValueTooLargeError) as info:
        ns.put(b"k", big)
    del big
    assert isinstance(info.value, ValueError)
    assert ns.get(b"k") is None


def test_path_that_is_a_file(tmp_path: Path) -> None:
    file = tmp_path / "file"
    file.write_bytes(b"not a store")
    with pytest.raises(ttlkv.Error) as info:
        ttlkv.Store(file)
    assert info.value.code == _abi.STATUS["TTLKV_PATH_INVALID"]
    assert str(file) in str(info.value)


def test_path_with_nul_or_empty(tmp_path: Path) -> None:
    with pytest.raises(ttlkv.PathInvalidError):
        ttlkv.Store(str(tmp_path) + "/a\0b")
    with pytest.raises(ttlkv.PathInvalidError):
        ttlkv.Store("")


def test_not_a_store_directory(tmp_path: Path) -> None:
    directory = tmp_path / "other"
    directory.mkdir()
    (directory / "data.mdb").write_bytes(b"\x00" * 8192 * 4)
    with pytest.raises(ttlkv.StorageError):
        ttlkv.Store(directory)


def test_error_detail_is_per_thread(ns: ttlkv.Namespace) -> None:
    """The detail is read right after the failing call, on its own thread."""
    import threading

    details = []

    def fail() -> None:
        try:
            ns.put(b"x" * 5000, b"v")
        except ttlkv.KeyTooLongError as e:
            details.append(e.detail)

    threads = [threading.Thread(target=fail) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(details) == 8 and all(details)


# --- loading -------------------------------------------------------------------------------


def test_library_of_another_abi_is_refused(tmp_path: Path) -> None:
    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc, "a C compiler is needed (the C interop tests need one too)"
    source = tmp_path / "other_abi.c"
    source.write_text("unsigned int ttlkv_abi_version(void) { return 999; }\n")
    library = tmp_path / "libother.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    env = dict(os.environ, TTLKV_LIBRARY=str(library))
    proc = subprocess.run(
        [sys.executable, "-c", "import ttlkv"], capture_output=True, text=True, env=env
    )
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr
    assert "ABI version 999" in proc.stderr and "ABI version 1" in proc.stderr


def test_missing_override_is_an_import_error(tmp_path: Path) -> None:
    env = dict(os.environ, TTLKV_LIBRARY=str(tmp_path / "nope.so"))
    proc = subprocess.run(
        [sys.executable, "-c", "import ttlkv"], capture_output=True, text=True, env=env
    )
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr and "TTLKV_LIBRARY" in proc.stderr


def test_override_is_honoured(tmp_path: Path) -> None:
    copy = tmp_path / "libttlkv-copy.so"
    shutil.copy(ttlkv.library_path(), copy)
    env = dict(os.environ, TTLKV_LIBRARY=str(copy))
    proc = subprocess.run(
        [sys.executable, "-c", "import ttlkv; print(ttlkv.library_path())"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert proc.stdout.strip() == str(copy)


def test_installed_package_carries_its_library() -> None:
    """Without the override, the library is the one inside the package."""
    env = {k: v for k, v in os.environ.items() if k != "TTLKV_LIBRARY"}
    proc = subprocess.run(
        [sys.executable, "-c", "import os, ttlkv; print(ttlkv.library_path()); print(os.path.dirname(ttlkv.__file__))"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    library, package = proc.stdout.split()
    assert os.path.dirname(library) == package
    assert os.path.basename(library).startswith("_libttlkv.")
