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

// ---- periodic mode: back to the last flush after a crash of the machine -----------------

fn plain_periodic(boot: &str) -> Options {
    opts(boot).durability(ttlkv::Durability::Periodic {
        sync_interval: std::time::Duration::from_secs(3600),
    })
}

fn periodic(boot: &str) -> Options {
    plain_periodic(boot).crash_safe(true)
}

/// Runs `steps` (see `roll_back_child`) in a child process that ends without closing the
/// store, as a crash would: whatever it did not flush was never flushed.
fn run_child(path: &Path, boot: &str, durability: &str, steps: &str) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "roll_back_child", "--nocapture", "--test-threads=1"])
        .env("TTLKV_RB_STORE", path)
        .env("TTLKV_RB_BOOT", boot)
        .env("TTLKV_RB_DURABILITY", durability)
        .env("TTLKV_RB_STEPS", steps)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("steps done"),
        "the child did not run its steps"
    );
}

/// The child of `run_child`: steps `put:k=v`, `del:k`, `flush`, `fill:N` (N more keys), comma
/// separated; then `exit` without closing (no clean close, no final flush).
#[test]
fn roll_back_child() {
    let (Some(path), Ok(boot), Ok(durability), Ok(steps)) = (
        std::env::var_os("TTLKV_RB_STORE"),
        std::env::var("TTLKV_RB_BOOT"),
        std::env::var("TTLKV_RB_DURABILITY"),
        std::env::var("TTLKV_RB_STEPS"),
    ) else {
        return;
    };
    let o = match durability.as_str() {
        "sync" => opts(&boot),
        "plain" => plain_periodic(&boot),
        _ => periodic(&boot),
    };
    let s = Store::open(&path, o).unwrap();
    for step in steps.split(',') {
        if let Some(kv) = step.strip_prefix("put:") {
            let (k, v) = kv.split_once('=').unwrap();
            s.put(b"ns", k.as_bytes(), v.as_bytes(), TTL_NEVER).unwrap();
        } else if let Some(k) = step.strip_prefix("del:") {
            s.delete(b"ns", k.as_bytes()).unwrap();
        } else if step == "flush" {
            s.flush().unwrap();
        } else if let Some(n) = step.strip_prefix("fill:") {
            for i in 0..n.parse::<usize>().unwrap() {
                s.put(b"ns", format!("fill-{i:05}").as_bytes(), &[b'f'; 300], TTL_NEVER)
                    .unwrap();
            }
        } else if step == "hold" {
            // Keep the store open until killed (the parent reads this line first).
            println!("holding");
            std::io::Write::flush(&mut std::io::stdout()).unwrap();
            std::thread::sleep(std::time::Duration::from_secs(120));
        }
    }
    println!("steps done");
    std::process::exit(0);
}

fn get(s: &Store, k: &str) -> Option<String> {
    s.get(b"ns", k.as_bytes())
        .unwrap()
        .map(|v| String::from_utf8(v).unwrap())
}

#[test]
fn after_a_crash_of_the_machine_periodic_mode_returns_to_exactly_its_last_flush() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let steps = "put:a=1,put:b=2,flush,put:a=changed,del:b,put:c=3,fill:300";
    run_child(&path, "boot-1", "periodic", steps);
    // A process crash (the same boot) loses nothing: the OS kept every page.
    let s = Store::open(&path, periodic("boot-1")).unwrap();
    assert_eq!(s.stats().unwrap().rolled_back_at_open, 0);
    assert_eq!(get(&s, "a").as_deref(), Some("changed"));
    assert_eq!(get(&s, "c").as_deref(), Some("3"));
    s.close();

    // The same workload, then the machine goes down: the next boot is back at the flush.
    let path = dir.path().join("store2");
    run_child(&path, "boot-1", "periodic", steps);
    let s = Store::open(&path, periodic("boot-2")).unwrap();
    let st = s.stats().unwrap();
    assert_eq!((st.rolled_back_at_open, st.verified_at_open), (1, 1));
    assert_eq!(get(&s, "a").as_deref(), Some("1"));
    assert_eq!(get(&s, "b").as_deref(), Some("2"));
    assert_eq!(get(&s, "c"), None);
    assert_eq!(s.count(b"ns").unwrap(), 2);
    assert!(s.verify().unwrap().is_ok());
    // The store goes on from there, and the next open of this boot has nothing to do.
    s.put(b"ns", b"d", b"4", TTL_NEVER).unwrap();
    s.close();
    let s = Store::open(&path, periodic("boot-2")).unwrap();
    let st = s.stats().unwrap();
    assert_eq!((st.rolled_back_at_open, st.verified_at_open), (0, 0));
    assert_eq!(get(&s, "d").as_deref(), Some("4"));
    assert_eq!(s.count(b"ns").unwrap(), 3);
    s.close();
    // A sync-mode open after such a crash rolls back too: the mark decides, not the opener.
    let path = dir.path().join("store3");
    run_child(&path, "boot-1", "periodic", steps);
    let s = Store::open(&path, opts("boot-2")).unwrap();
    assert_eq!(s.stats().unwrap().rolled_back_at_open, 1);
    assert_eq!(get(&s, "a").as_deref(), Some("1"));
}

#[test]
fn a_sync_writer_after_a_periodic_flush_keeps_its_writes_and_no_roll_back_happens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    run_child(&path, "boot-1", "periodic", "put:a=1,flush,put:a=unflushed");
    // A sync-mode process writes next (its writes are on disk when they return) and dies.
    run_child(&path, "boot-1", "sync", "put:s=durable,fill:200");
    let s = Store::open(&path, periodic("boot-2")).unwrap();
    let st = s.stats().unwrap();
    assert_eq!((st.rolled_back_at_open, st.verified_at_open), (0, 1));
    assert_eq!(get(&s, "s").as_deref(), Some("durable"));
    assert_eq!(s.count(b"ns").unwrap(), 202);
}

/// FNV-1a, 64 bits, as the flush mark's checksum (src/env/mark.rs).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Rewrites the meta page a flush mark carries with `edit`, checksum and all.
fn edit_marked_meta(path: &Path, edit: impl FnOnce(&mut [u8])) {
    let text = std::fs::read_to_string(path.join("flush.mark")).unwrap();
    let f: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(f.len(), 7, "{text}");
    let mut meta: Vec<u8> = (0..f[4].len() / 2)
        .map(|i| u8::from_str_radix(&f[4][2 * i..2 * i + 2], 16).unwrap())
        .collect();
    edit(&mut meta);
    let hex: String = meta.iter().map(|b| format!("{b:02x}")).collect();
    let body = format!("{} {} {} {} {hex} {}", f[0], f[1], f[2], f[3], f[5]);
    let line = format!("{body} {:016x}\n", fnv1a(body.as_bytes()));
    std::fs::write(path.join("flush.mark"), format!("{line:<512}")).unwrap();
}

#[test]
fn a_roll_back_to_a_damaged_snapshot_is_undone_and_the_store_as_the_crash_left_it_verified() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    run_child(
        &path,
        "boot-1",
        "periodic",
        "put:a=1,put:b=2,flush,put:a=3,fill:50",
    );
    // The flushed snapshot as the mark describes it is damaged: its main tree claims a record
    // count it does not have (md_entries of the second MDB_db, bytes 104..112 of MDB_meta).
    edit_marked_meta(&path, |m| m[104..112].copy_from_slice(&999u64.to_le_bytes()));
    let s = Store::open(&path, periodic("boot-2")).unwrap();
    let st = s.stats().unwrap();
    assert_eq!((st.rolled_back_at_open, st.verified_at_open), (0, 1));
    assert_eq!(get(&s, "a").as_deref(), Some("3"));
    assert_eq!(s.count(b"ns").unwrap(), 52);
    s.close();
    // With both states damaged, open refuses the store (here: the crash state damaged too).
    let path = dir.path().join("store2");
    run_child(
        &path,
        "boot-1",
        "periodic",
        "put:needle-key=x,flush,put:other-key=y",
    );
    edit_marked_meta(&path, |m| m[104..112].copy_from_slice(&999u64.to_le_bytes()));
    damage_value_length(&path);
    let e = Store::open(&path, periodic("boot-2")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupted, "{e}");
}

#[test]
fn a_damaged_mark_is_no_mark() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    run_child(&path, "boot-1", "periodic", "put:a=1,flush,put:a=2");
    let mark_path = path.join("flush.mark");
    let mut mark = std::fs::read(&mark_path).unwrap();
    assert!(
        mark.starts_with(b"ttlkv-flush 2 boot-1 "),
        "{}",
        String::from_utf8_lossy(&mark)
    );
    mark[40] ^= 1;
    std::fs::write(&mark_path, &mark).unwrap();
    // Not trusted: no roll-back, the store as the crash left it is verified instead.
    let s = Store::open(&path, periodic("boot-2")).unwrap();
    let st = s.stats().unwrap();
    assert_eq!((st.rolled_back_at_open, st.verified_at_open), (0, 1));
    assert_eq!(get(&s, "a").as_deref(), Some("2"));
}

#[test]
fn plain_periodic_mode_does_not_roll_back_and_crash_safe_needs_periodic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    run_child(&path, "boot-1", "plain", "put:a=1,flush,put:a=2,fill:100");
    let mark = std::fs::read_to_string(path.join("flush.mark")).unwrap();
    assert!(
        mark.split_whitespace().nth(4) == Some("-"),
        "no meta page without crash_safe: {mark}"
    );
    let s = Store::open(&path, plain_periodic("boot-2")).unwrap();
    let st = s.stats().unwrap();
    assert_eq!((st.rolled_back_at_open, st.verified_at_open), (0, 1));
    assert_eq!(get(&s, "a").as_deref(), Some("2"));
    s.close();
    let e = Store::open(dir.path().join("other"), opts("boot-1").crash_safe(true)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
}

#[test]
fn a_clean_close_gives_the_meta_page_up_with_the_pin() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let s = Store::open(&path, periodic("boot-1")).unwrap();
    s.put(b"ns", b"a", b"1", TTL_NEVER).unwrap();
    s.flush().unwrap();
    let armed = std::fs::read_to_string(path.join("flush.mark")).unwrap();
    assert_eq!(
        armed.split_whitespace().nth(4).map(str::len),
        Some(272),
        "{armed}"
    );
    s.close();
    let closed = std::fs::read_to_string(path.join("flush.mark")).unwrap();
    assert_eq!(closed.split_whitespace().nth(4), Some("-"), "{closed}");
    // Nothing after the close: another boot opens it as it is, without a check.
    let s = Store::open(&path, periodic("boot-2")).unwrap();
    let st = s.stats().unwrap();
    assert_eq!((st.rolled_back_at_open, st.verified_at_open), (0, 0));
    assert_eq!(get(&s, "a").as_deref(), Some("1"));
}

#[test]
fn crash_safe_keeps_the_pages_in_use_bounded_under_sustained_writes() {
    // A pinned snapshot blocks the reuse of every page freed after it: without the early
    // flushes (every 1024 commits) these 30,000 commits, each copying about three pages,
    // would leave some 350 MB of pages in use for a tree of well under 1 MB.
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path().join("store"), periodic("boot-1")).unwrap();
    for i in 0..30_000u32 {
        let key = format!("k{:04}", i % 1000);
        s.put(b"ns", key.as_bytes(), &[b'v'; 100], TTL_NEVER).unwrap();
    }
    let used = s.stats().unwrap().used_bytes;
    assert!(used < 64 << 20, "{} MiB of pages in use", used >> 20);
    assert_eq!(s.count(b"ns").unwrap(), 1000);
}

fn mark_meta(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path.join("flush.mark")).unwrap();
    let meta = text.split_whitespace().nth(4)?.to_string();
    (meta != "-").then_some(meta)
}

#[test]
fn a_live_crash_safe_writers_mark_survives_plain_periodic_processes_but_not_a_sync_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let s = Store::open(&path, periodic("boot-1")).unwrap();
    s.put(b"ns", b"a", b"1", TTL_NEVER).unwrap();
    s.flush().unwrap();
    let armed = mark_meta(&path).expect("a crash_safe flush keeps its meta page");
    let text = std::fs::read_to_string(path.join("flush.mark")).unwrap();
    assert!(text.contains(&format!(" c:{} ", std::process::id())), "{text}");
    // Another process, plain periodic, writes and closes: its flushes leave the mark as it
    // is (the pin of this live process keeps that snapshot; a crash may roll its writes back).
    run_child(&path, "boot-1", "plain", "put:p=plain,flush,fill:50");
    assert_eq!(
        mark_meta(&path).as_deref(),
        Some(&armed[..]),
        "a plain process disarmed a live mark"
    );
    // A sync-mode process must never see an acknowledged write rolled back: it removes the
    // meta page before it commits.
    run_child(&path, "boot-1", "sync", "put:s=durable");
    assert_eq!(
        mark_meta(&path),
        None,
        "a sync write left a mark that could roll it back"
    );
    // The next flush of the crash_safe process arms the mark again, over the sync write.
    s.put(b"ns", b"b", b"2", TTL_NEVER).unwrap();
    s.flush().unwrap();
    assert!(mark_meta(&path).is_some());
    assert_eq!(get(&s, "s").as_deref(), Some("durable"));
}

#[test]
fn a_plain_process_disarms_the_mark_of_a_dead_crash_safe_process_before_it_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    run_child(&path, "boot-1", "periodic", "put:a=1,flush");
    assert!(mark_meta(&path).is_some());
    // The marker is dead (killed: no clean close); a plain periodic process that would reuse
    // its snapshot's pages drops the meta page at open, before any write.
    run_child(&path, "boot-1", "plain", "put:p=plain");
    assert_eq!(mark_meta(&path), None);
}

#[test]
fn no_roll_back_happens_while_another_process_holds_the_store() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    run_child(&path, "boot-1", "periodic", "put:a=1,put:a=2,flush");
    // A process of the old boot (as a test can have one) opens the store (pinning the marked
    // snapshot, no flush), commits past the mark and keeps the store open: rewriting the meta
    // pages under it would pull its snapshot away, so open verifies instead.
    let mut holder = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "roll_back_child", "--nocapture", "--test-threads=1"])
        .env("TTLKV_RB_STORE", &path)
        .env("TTLKV_RB_BOOT", "boot-1")
        .env("TTLKV_RB_DURABILITY", "periodic")
        .env("TTLKV_RB_STEPS", "put:b=3,hold")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(holder.stdout.take().unwrap()).lines();
    assert!(
        lines.any(|l| l.unwrap().contains("holding")),
        "the holder did not open the store"
    );
    let s = Store::open(&path, periodic("boot-2")).unwrap();
    let st = s.stats().unwrap();
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert_eq!((st.rolled_back_at_open, st.verified_at_open), (0, 1));
    assert_eq!(get(&s, "a").as_deref(), Some("2"));
    assert_eq!(get(&s, "b").as_deref(), Some("3"));
}
