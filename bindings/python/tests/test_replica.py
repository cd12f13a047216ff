"""Replication: origins, records with their order, merge (last writer wins on (version,
origin)), tombstones, and the digests of anti-entropy — two stores kept equal by a small
anti-entropy exchange written here, bad input refused whole, clock skew through the
``clock_offset_ms`` test hook, and a tombstone made by another process."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Dict, Iterator, List, Tuple, Union

import pytest

import ttlkv
from ttlkv import ReplicaRecord
from conftest import run_python

Pair = Tuple[bytes, bytes]
#: Versions are wall-clock milliseconds shifted left by this much (src/engine/mod.rs).
VERSION_SHIFT = 22


def version_ms(record: ReplicaRecord) -> int:
    return record.version >> VERSION_SHIFT


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Tuple[ttlkv.Store, ttlkv.Store]]:
    with ttlkv.Store(tmp_path / "a", durability="periodic") as a, ttlkv.Store(
        tmp_path / "b", durability="periodic"
    ) as b:
        yield a, b


def sync(x: ttlkv.Store, y: ttlkv.Store, buckets: int = 16, cutoff: int = 0) -> int:
    """One anti-entropy round between two stores: the digests, the differing buckets, their
    versions, then the records each side has newer, merged into the other. Returns how many
    records the two merges wrote."""
    dx, dy = x.digest(buckets, cutoff), y.digest(buckets, cutoff)
    assert len(dx) == len(dy) == buckets
    differing = [i for i in range(buckets) if dx[i] != dy[i]]
    if not differing:
        return 0
    vx = {(r.namespace, r.key): r for r in x.versions(buckets, differing, cutoff)}
    vy = {(r.namespace, r.key): r for r in y.versions(buckets, differing, cutoff)}
    assert all(r.value == b"" for r in list(vx.values()) + list(vy.values()))

    def newer(mine: Dict[Pair, ReplicaRecord], theirs: Dict[Pair, ReplicaRecord]) -> List[Pair]:
        return [
            k
            for k, r in mine.items()
            if k not in theirs or (r.version, r.origin) > (theirs[k].version, theirs[k].origin)
        ]

    to_y, to_x = x.records(newer(vx, vy)), y.records(newer(vy, vx))
    return y.merge(to_y) + x.merge(to_x)


# --- origin and the switch ------------------------------------------------------------------


def test_origin_is_per_store_and_stable(tmp_path: Path, pair: Tuple[ttlkv.Store, ttlkv.Store]) -> None:
    a, b = pair
    assert isinstance(a.origin(), int) and 0 <= a.origin() < 2**64
    assert a.origin() != b.origin()
    with ttlkv.Store(tmp_path / "a") as again:  # the same directory: the same store
        assert again.origin() == a.origin()


def test_set_replicated_persists(tmp_path: Path) -> None:
    with ttlkv.Store(tmp_path / "s") as s:
        assert s.replicated() is False
        s.set_replicated(True)
        assert s.replicated() is True
        with pytest.raises(TypeError):
            s.set_replicated(1)  # type: ignore[arg-type]
    with ttlkv.Store(tmp_path / "s") as s:
        assert s.replicated() is True
        s.set_replicated(False)
        assert s.replicated() is False


# --- records and merge ----------------------------------------------------------------------


def test_records_merge_round_trip(pair: Tuple[ttlkv.Store, ttlkv.Store]) -> None:
    a, b = pair
    a.put("n", b"bin\x00key", b"\x00\x01\xff value", 60)
    a.put("n", "text", b"", 60)  # an empty value
    a.put(b"other", b"forever", b"v", None)
    before = now_ms()
    asked: List[Tuple[Union[str, bytes], Union[str, bytes]]] = [
        ("n", b"bin\x00key"), ("n", b"missing"), (b"other", "forever"), ("n", "text")
    ]
    got = a.records(asked)
    assert [(r.namespace, r.key) for r in got] == [(b"n", b"bin\x00key"), (b"other", b"forever"), (b"n", b"text")]
    first, forever, text = got
    assert first.value == b"\x00\x01\xff value" and text.value == b""
    assert all(r.origin == a.origin() and not r.tombstone and r.version > 0 for r in got)
    assert abs(first.deadline - (before + 60_000)) < 5_000
    assert forever.deadline == ttlkv.DEADLINE_NEVER
    assert isinstance(first, ReplicaRecord) and dataclasses.is_dataclass(first)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.value = b"x"  # type: ignore[misc]

    assert b.merge(got) == 3
    assert b.get("n", b"bin\x00key") == b"\x00\x01\xff value"
    assert b.get("n", "text") == b""
    assert b.get("other", b"forever") == b"v" and b.deadline("other", b"forever") == float("inf")
    assert b.records(asked) == got  # the same order, deadline and origin (A's, not B's)
    assert b.merge(got) == 0  # the same (version, origin): nothing to write
    assert b.merge([]) == 0
    assert a.records([]) == []


def test_last_writer_wins_on_version_then_origin(pair: Tuple[ttlkv.Store, ttlkv.Store]) -> None:
    a, b = pair
    a.put("n", "k", b"base", 60)
    (base,) = a.records([("n", "k")])
    newer = dataclasses.replace(base, version=base.version + 1, value=b"newer")
    older = dataclasses.replace(base, version=base.version - 1, value=b"older")
    assert b.merge([base]) == 1
    assert b.merge([newer]) == 1
    assert b.get("n", "k") == b"newer"
    assert b.merge([older]) == 0 and b.merge([base]) == 0
    assert b.merge([dataclasses.replace(newer, value=b"same order")]) == 0  # equal: refused
    assert b.get("n", "k") == b"newer"
    # A tie on the version: the higher origin wins, a lower one does not.
    higher = dataclasses.replace(newer, origin=newer.origin + 1, value=b"higher origin")
    lower = dataclasses.replace(newer, origin=newer.origin - 1, value=b"lower origin")
    assert b.merge([lower]) == 0
    assert b.merge([higher]) == 1
    assert b.get("n", "k") == b"higher origin"
    assert b.records([("n", "k")]) == [higher]
    # In one batch, each record is ordered against what the batch wrote before it.
    later = dataclasses.replace(higher, version=higher.version + 10, value=b"later")
    assert b.merge([later, dataclasses.replace(later, version=later.version - 5, value=b"x")]) == 1
    assert b.get("n", "k") == b"later"
    # The stored record on A is older than all of it: A takes the latest.
    assert a.merge(b.records([("n", "k")])) == 1 and a.get("n", "k") == b"later"


def test_a_merge_advances_the_clock_so_a_later_local_write_wins(pair: Tuple[ttlkv.Store, ttlkv.Store]) -> None:
    a, b = pair
    a.put("n", "k", b"from a", 60)
    (record,) = a.records([("n", "k")])
    ahead = dataclasses.replace(record, version=record.version + (5_000 << VERSION_SHIFT))  # 5 s ahead
    assert b.merge([ahead]) == 1
    b.put("n", "k", b"local", 60)
    (local,) = b.records([("n", "k")])
    assert local.version > ahead.version and local.origin == b.origin()
    assert a.merge([local]) == 1 and a.get("n", "k") == b"local"


def test_expired_records_are_dropped(pair: Tuple[ttlkv.Store, ttlkv.Store]) -> None:
    a, b = pair
    a.put("n", "short", b"v", 0.05)
    a.put("n", "long", b"v", 60)
    short, long = a.records([("n", "short"), ("n", "long")])
    past = dataclasses.replace(long, key=b"past", deadline=now_ms() - 1_000)
    assert b.merge([past]) == 0 and b.get("n", "past") is None
    assert b.records([("n", "past")]) == []
    time.sleep(0.2)
    assert a.records([("n", "short"), ("n", "long")]) == [long]  # the expired one is left out
    assert b.merge([short, long]) == 1  # short has expired on its way
    assert b.get("n", "short") is None and b.get("n", "long") == b"v"
    # digest and versions leave out what has expired (whether or not it was removed yet)
    # and what expires by the cutoff; bucket_records is versions with the values.
    assert a.versions(1, [0]) == [dataclasses.replace(long, value=b"")]
    assert a.bucket_records(1, [0]) == [long]
    assert a.versions(1, [0], cutoff=now_ms()) == [dataclasses.replace(long, value=b"")]
    assert a.versions(1, [0], cutoff=long.deadline) == []
    assert a.digest(4, cutoff=long.deadline) == [0, 0, 0, 0]
    assert a.digest(4, cutoff=now_ms()) != [0, 0, 0, 0]


# --- tombstones -----------------------------------------------------------------------------


def test_a_delete_on_a_replicating_store_leaves_a_tombstone(pair: Tuple[ttlkv.Store, ttlkv.Store]) -> None:
    a, b = pair
    a.put("n", "plain", b"v", 60)
    assert a.delete("n", "plain")
    assert a.records([("n", "plain")]) == []  # not replicating: a delete leaves nothing

    a.set_replicated(True)
    a.put("n", "k", b"v", 60)
    (written,) = a.records([("n", "k")])
    assert b.merge([written]) == 1
    assert a.delete("n", "k") is True
    assert a.get("n", "k") is None and a.keys("n") == [] and a.count("n") == 0
    assert a.delete("n", "k") is False  # a tombstone is not a live entry
    (tomb,) = a.records([("n", "k")])
    assert tomb.tombstone and tomb.value == b"" and tomb.origin == a.origin()
    assert tomb.version > written.version and tomb.deadline > now_ms() + 60_000
    assert [r.tombstone for r in a.versions(1, [0])] == [True]
    # The deleted write, merged again, stays deleted: the tombstone is newer.
    assert a.merge([written]) == 0
    assert a.get("n", "k") is None
    # The tombstone carries the delete to a peer.
    assert b.merge([tomb]) == 1
    assert b.get("n", "k") is None and b.records([("n", "k")]) == [tomb]
    # take and delete_many leave tombstones too.
    a.put("n", "t", b"1", 60)
    a.put("n", "m", b"2", 60)
    assert a.take("n", "t") == b"1"
    assert a.delete_many("n", ["m"]) == 1
    assert [(r.key, r.tombstone) for r in a.records([("n", "t"), ("n", "m")])] == [(b"t", True), (b"m", True)]
    # A write after the delete wins over the tombstone.
    a.put("n", "k", b"again", 60)
    (again,) = a.records([("n", "k")])
    assert not again.tombstone and again.version > tomb.version
    assert b.merge([again]) == 1 and b.get("n", "k") == b"again"


# --- anti-entropy ---------------------------------------------------------------------------


def test_anti_entropy_makes_the_digests_equal(pair: Tuple[ttlkv.Store, ttlkv.Store]) -> None:
    a, b = pair
    a.set_replicated(True)
    b.set_replicated(True)
    assert a.digest(16) == b.digest(16) == [0] * 16  # empty stores
    for i in range(60):
        a.put("n", f"a-{i}", f"a {i}".encode(), 600)
        b.put("n", f"b-{i}", f"b {i}".encode(), 600)
    for i in range(10):
        a.put("both", f"k-{i}", b"from a", None)
    time.sleep(0.01)  # versions are milliseconds first: B's writes are in a later one
    for i in range(10):
        b.put("both", f"k-{i}", b"from b", None)  # written later: B's wins
    for i in range(5):
        a.delete("n", f"a-{i}")
    assert a.digest(16) != b.digest(16)

    written = sync(a, b)
    assert written == 55 + 5 + 60 + 10  # a's live keys and tombstones to b; b's keys and "both" to a
    assert a.digest(16) == b.digest(16)
    assert a.digest(1) == b.digest(1) and a.digest(1000) == b.digest(1000)
    assert sync(a, b) == 0
    for s in (a, b):
        assert s.get("n", "a-0") is None and s.get("n", "a-5") == b"a 5" and s.get("n", "b-7") == b"b 7"
        assert all(s.get("both", f"k-{i}") == b"from b" for i in range(10))
        assert s.count("n") == 55 + 60
    # One more change on each side: one round brings them together again.
    b.delete("n", "b-0")
    a.put("n", "a-5", b"changed", 600)
    assert a.digest(16) != b.digest(16)
    assert sync(a, b, buckets=64) == 2
    assert a.digest(16) == b.digest(16)
    assert a.get("n", "b-0") is None and b.get("n", "a-5") == b"changed"


def test_clock_skew_through_the_clock_offset_hook(tmp_path: Path) -> None:
    """A store whose clock is 10 minutes behind loses to an earlier write of a peer (last
    writer wins by the clocks) until it has seen that write: then its clock moves past it."""
    with ttlkv.Store(tmp_path / "a") as a, ttlkv.Store(tmp_path / "b", clock_offset_ms=-600_000) as b:
        a.set_replicated(True)
        b.set_replicated(True)
        a.put("n", "k", b"a, on time", 60)
        b.put("n", "k", b"b, later but behind", 3600)
        (ra,) = a.records([("n", "k")])
        (rb,) = b.records([("n", "k")])
        assert abs(version_ms(ra) - now_ms()) < 5_000
        assert abs(version_ms(rb) - (now_ms() - 600_000)) < 5_000
        assert abs(rb.deadline - (now_ms() - 600_000 + 3_600_000)) < 5_000
        sync(a, b)
        assert a.get("n", "k") == b.get("n", "k") == b"a, on time"
        # b's clock moved past a's version. (Its deadlines stay 10 minutes early: a TTL under
        # 10 minutes would already be over for a.)
        b.put("n", "k", b"b, after the merge", 3600)
        sync(a, b)
        assert a.get("n", "k") == b.get("n", "k") == b"b, after the merge"
        assert a.digest(8) == b.digest(8)
    with pytest.raises(TypeError):
        ttlkv.Store(tmp_path / "c", clock_offset_ms=1.5)  # type: ignore[arg-type]
    with pytest.raises(ttlkv.InvalidArgumentError):
        ttlkv.Store(tmp_path / "c", clock_offset_ms=1 << 63)


# --- bad input ------------------------------------------------------------------------------


def test_a_bad_record_fails_the_whole_merge(pair: Tuple[ttlkv.Store, ttlkv.Store]) -> None:
    a, b = pair
    a.put("n", "good", b"v", 60)
    (good,) = a.records([("n", "good")])
    bad_tomb = dataclasses.replace(good, key=b"bad", tombstone=True, value=b"not empty")
    with pytest.raises(ttlkv.InvalidArgumentError, match="tombstone") as info:
        b.merge([good, bad_tomb])
    assert type(info.value) is ttlkv.InvalidArgumentError and info.value.status == "TTLKV_INVALID_ARGUMENT"
    assert "record 1" in info.value.detail
    with pytest.raises(ttlkv.NamespaceInvalidError):
        b.merge([good, dataclasses.replace(good, namespace=b"")])
    with pytest.raises(ttlkv.KeyTooLongError):
        b.merge([good, dataclasses.replace(good, key=b"k" * 10_000)])
    assert b.records([("n", "good"), ("n", "bad")]) == [] and b.get("n", "good") is None
    # Checked in the binding: ctypes would wrap these into range, or pass garbage.
    with pytest.raises(ttlkv.InvalidArgumentError):
        b.merge([good, dataclasses.replace(good, version=-1)])
    with pytest.raises(ttlkv.InvalidArgumentError):
        b.merge([dataclasses.replace(good, deadline=1 << 64)])
    with pytest.raises(TypeError):
        b.merge([good, dataclasses.replace(good, origin="1")])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        b.merge([good, dataclasses.replace(good, tombstone=1)])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        b.merge([(b"n", b"k", b"v", good.deadline, good.version, good.origin, False)])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        b.merge(good)  # type: ignore[arg-type]
    assert b.get("n", "good") is None
    # A record built by hand, with str names, is taken like the other calls take them.
    assert b.merge([dataclasses.replace(good, namespace="n", key="good")]) == 1  # type: ignore[arg-type]
    assert b.get("n", "good") == b"v"


def test_bad_arguments_of_records_digest_and_versions(store: ttlkv.Store) -> None:
    store.put("n", "k", b"v", 60)
    for buckets in (0, ttlkv.MAX_DIGEST_BUCKETS + 1, 1 << 32, -1):
        with pytest.raises(ttlkv.InvalidArgumentError):
            store.digest(buckets)
        with pytest.raises(ttlkv.InvalidArgumentError):
            store.versions(buckets, [0])
    with pytest.raises(TypeError):
        store.digest(True)
    assert len(store.digest(ttlkv.MAX_DIGEST_BUCKETS)) == ttlkv.MAX_DIGEST_BUCKETS
    with pytest.raises(ttlkv.InvalidArgumentError, match="bucket 16"):
        store.versions(16, [0, 16])  # checked by the library
    with pytest.raises(ttlkv.InvalidArgumentError):
        store.versions(16, [-1])
    with pytest.raises(ttlkv.InvalidArgumentError):
        store.digest(16, cutoff=-1)
    assert store.versions(16, []) == []
    assert len(store.versions(16, range(16))) == 1
    with pytest.raises(TypeError):
        store.records("nk")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.records(["nk"])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        store.records([("n", "k", "extra")])  # type: ignore[list-item]
    with pytest.raises(ttlkv.NamespaceInvalidError):
        store.records([("", "k")])
    with pytest.raises(ttlkv.BatchTooLargeError):
        store.records([("n", "k")] * (ttlkv.MAX_KEYS_PER_CALL + 1))
    store.close()
    for call in (
        store.origin,
        store.replicated,
        lambda: store.set_replicated(True),
        lambda: store.records([("n", "k")]),
        lambda: store.merge([]),
        lambda: store.digest(4),
        lambda: store.versions(4, [0]),
    ):
        with pytest.raises(ttlkv.ClosedError):
            call()


# --- another process ------------------------------------------------------------------------


def test_a_delete_in_another_process_leaves_a_tombstone_seen_here(store_dir: Path) -> None:
    with ttlkv.Store(store_dir) as store:
        store.set_replicated(True)
        store.put("n", "k", b"v", 60)
        (written,) = store.records([("n", "k")])
        proc = run_python(
            """
            import json, sys, ttlkv
            with ttlkv.Store(sys.argv[1]) as store:
                assert store.replicated() is True
                deleted = store.delete("n", "k")
                (tomb,) = store.records([("n", "k")])
                print(json.dumps({"deleted": deleted, "origin": store.origin(),
                                  "version": tomb.version, "tombstone": tomb.tombstone}))
            """,
            str(store_dir),
        )
        child = json.loads(proc.stdout)
        assert child["deleted"] is True and child["tombstone"] is True
        assert child["origin"] == store.origin()  # one store, one origin, whichever process writes
        assert store.get("n", "k") is None
        (tomb,) = store.records([("n", "k")])
        assert tomb.tombstone and tomb.value == b"" and tomb.version == child["version"]
        assert tomb.version > written.version
        assert store.merge([written]) == 0 and store.get("n", "k") is None


def test_the_switch_set_in_another_process_applies_here(store_dir: Path) -> None:
    with ttlkv.Store(store_dir) as store:
        store.put("n", "k", b"v", 60)
        assert store.replicated() is False
        run_python(
            """
            import sys, ttlkv
            with ttlkv.Store(sys.argv[1]) as store:
                store.set_replicated(True)
            """,
            str(store_dir),
        )
        assert store.replicated() is True
        assert store.delete("n", "k")
        assert [r.tombstone for r in store.records([("n", "k")])] == [True]
