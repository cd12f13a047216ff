//! A damaged cache never stops the application: open after an unclean shutdown of the machine
//! verifies the store first (found through the kernel's boot id, injected here), and
//! `on_corruption: reset` moves a damaged store aside and starts empty, while the default
//! `error` fails clearly and touches nothing.

mod common;

use std::path::{Path, PathBuf};

use common::MIN;
use ttlkv::{ErrorKind, OnCorruption, Options, Store, TTL_NEVER};

fn opts(boot: &str) -> Options {
    Options::default().boot_id(boot)
}

fn store_with_data(dir: &Path, boot: &str) -> PathBuf {
    let path = dir.join("store");
    let s = Store::open(&path, opts(boot)).unwrap();
    s.put(b"ns", b"needle-key", &[b'v'; 100], TTL_NEVER).unwrap();
    s.put(b"ns", b"other-key", &[b'o'; 100], TTL_NEVER).unwrap();
    s.close();
    path
}

/// Pretends the last flush anyone recorded was of transaction 1, in boot `boot`: the state a
/// power loss leaves when commits came after the last flush.
fn unflushed_commits_since(path: &Path, boot: &str) {
    let mark = format!("ttlkv-flush 1 {boot} 1\n");
    std::fs::write(path.join("flush.mark"), mark).unwrap();
}

/// Damages the entry `needle-key`'s value length in every copy of its leaf (no checksum in
/// LMDB catches it; an ordinary open does not look).
fn damage_value_length(path: &Path) {
    let data = path.join("data.mdb");
    let mut bytes = std::fs::read(&data).unwrap();
    let key = b"\x02nsneedle-key";
    let hits: Vec<usize> = (8..bytes.len() - key.len())
        .filter(|&at| &bytes[at..at + key.len()] == key)
        .filter(|&at| u16::from_le_bytes([bytes[at - 2], bytes[at - 1]]) as usize == key.len())
        .collect();
    assert!(!hits.is_empty());
    for at in hits {
        bytes[at - 8..at - 6].copy_from_slice(&0xFFFFu16.to_le_bytes());
        bytes[at - 6..at - 4].copy_from_slice(&0x0FFFu16.to_le_bytes());
    }
    std::fs::write(&data, &bytes).unwrap();
}

fn verified_at_open(s: &Store) -> u64 {
    s.stats().unwrap().verified_at_open
}

#[test]
fn open_verifies_only_after_a_reboot_with_unflushed_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_with_data(dir.path(), "boot-1");
    // Same boot, clean close: no check.
    let s = Store::open(&path, opts("boot-1")).unwrap();
    assert_eq!(verified_at_open(&s), 0);
    s.close();
    // Another boot, but every commit was flushed (the clean close marked it): no check.
    let s = Store::open(&path, opts("boot-2")).unwrap();
    assert_eq!(verified_at_open(&s), 0);
    s.close();
    // Another boot after commits that were never flushed: the whole store is verified once.
    unflushed_commits_since(&path, "boot-2");
    let s = Store::open(&path, opts("boot-3")).unwrap();
    assert_eq!(verified_at_open(&s), 1);
    assert_eq!(s.get(b"ns", b"other-key").unwrap().unwrap().len(), 100);
    s.close();
    // ...and marked, so the next open of that boot does not verify again.
    let s = Store::open(&path, opts("boot-3")).unwrap();
    assert_eq!(verified_at_open(&s), 0);
    s.close();
    // A process crash (same boot, commits after the last flush) needs no check.
    unflushed_commits_since(&path, "boot-3");
    let s = Store::open(&path, opts("boot-3")).unwrap();
    assert_eq!(verified_at_open(&s), 0);
}

#[test]
fn a_store_damaged_by_a_crash_fails_clearly_by_default_and_is_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_with_data(dir.path(), "boot-1");
    damage_value_length(&path);
    // The same boot: the damage is not looked for at open (reads report it when they meet it).
    let s = Store::open(&path, opts("boot-1")).unwrap();
    assert_eq!(
        s.get(b"ns", b"needle-key").unwrap_err().kind(),
        ErrorKind::Corrupted
    );
    s.close();
    // After a reboot with unflushed commits, open finds it.
    unflushed_commits_since(&path, "boot-1");
    let before = std::fs::read(path.join("data.mdb")).unwrap();
    let e = Store::open(&path, opts("boot-2")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupted, "{e}");
    assert!(e.message().contains(&path.display().to_string()), "{e}");
    assert!(e.message().contains("unclean shutdown"), "{e}");
    assert_eq!(std::fs::read(path.join("data.mdb")).unwrap(), before, "untouched");
    // Refused again, not half-opened: the next try fails the same way.
    assert_eq!(
        Store::open(&path, opts("boot-2")).unwrap_err().kind(),
        ErrorKind::Corrupted
    );
}

#[test]
fn reset_moves_a_damaged_store_aside_and_starts_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_with_data(dir.path(), "boot-1");
    damage_value_length(&path);
    unflushed_commits_since(&path, "boot-1");
    let damaged = std::fs::read(path.join("data.mdb")).unwrap();
    let s = Store::open(&path, opts("boot-2").on_corruption(OnCorruption::Reset)).unwrap();
    let aside = s.corruption_reset().unwrap().expect("reset");
    assert!(
        aside
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("store.corrupted-"),
        "{aside:?}"
    );
    assert_eq!(aside.parent(), path.parent());
    assert_eq!(
        std::fs::read(aside.join("data.mdb")).unwrap(),
        damaged,
        "kept aside as it was"
    );
    assert_eq!(s.stats().unwrap().corruption_resets, 1);
    assert_eq!(s.count(b"ns").unwrap(), 0, "a fresh, empty store");
    s.put(b"ns", b"k", b"v", MIN).unwrap();
    assert!(s.verify().unwrap().is_ok());
    s.close();
    // A healthy store is never reset.
    let s = Store::open(&path, opts("boot-3").on_corruption(OnCorruption::Reset)).unwrap();
    assert_eq!(s.corruption_reset().unwrap(), None);
    assert_eq!(s.get(b"ns", b"k").unwrap().as_deref(), Some(&b"v"[..]));
}

#[test]
fn reset_also_covers_damage_an_ordinary_open_finds() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_with_data(dir.path(), "boot-1");
    // Truncated below its last page: open itself reports it.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path.join("data.mdb"))
        .unwrap();
    f.set_len(8192 + 17).unwrap();
    drop(f);
    let e = Store::open(&path, opts("boot-1")).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Corrupted), "{e}");
    let s = Store::open(&path, opts("boot-1").on_corruption(OnCorruption::Reset)).unwrap();
    assert!(s.corruption_reset().unwrap().is_some());
    assert_eq!(s.namespaces().unwrap(), Vec::<Vec<u8>>::new());
}

#[test]
fn a_flush_mark_that_is_a_link_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_with_data(dir.path(), "boot-1");
    let elsewhere = dir.path().join("someone-elses-file");
    std::fs::write(&elsewhere, b"precious").unwrap();
    std::fs::remove_file(path.join("flush.mark")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, path.join("flush.mark")).unwrap();
    let e = Store::open(&path, opts("boot-1")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PathInvalid, "{e}");
    assert_eq!(std::fs::read(&elsewhere).unwrap(), b"precious");
}
