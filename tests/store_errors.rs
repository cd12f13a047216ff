//! Bad input gets a clear error and writes nothing; handles after close; shared environments.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::*;
use ttlkv::{ErrorKind, Options, Store};

#[test]
fn bad_namespaces_keys_and_ttls_are_refused_and_nothing_is_written() {
    let (_d, s) = temp_store(Options::default());
    assert_eq!(
        s.put(b"", b"k", b"v", MIN).unwrap_err().kind(),
        ErrorKind::NamespaceInvalid
    );
    assert_eq!(s.get(b"", b"k").unwrap_err().kind(), ErrorKind::NamespaceInvalid);
    assert_eq!(s.keys(b"").unwrap_err().kind(), ErrorKind::NamespaceInvalid);
    let long_ns = vec![b'n'; 256];
    assert_eq!(
        s.put(&long_ns, b"k", b"v", MIN).unwrap_err().kind(),
        ErrorKind::NamespaceInvalid
    );
    let max_ns = vec![b'n'; 255];
    s.put(&max_ns, b"k", b"v", MIN).unwrap();

    let max = s.max_key_len(b"ns").unwrap();
    assert_eq!(max, 511 - 10 - 2);
    let key = vec![b'k'; max];
    s.put(b"ns", &key, b"v", MIN).unwrap();
    assert_eq!(s.get(b"ns", &key).unwrap().as_deref(), Some(&b"v"[..]));
    let too_long = vec![b'k'; max + 1];
    let e = s.put(b"ns", &too_long, b"v", MIN).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::KeyTooLong);
    assert!(
        e.message().contains(&max.to_string()),
        "the message says the limit: {e}"
    );
    assert_eq!(s.get(b"ns", &too_long).unwrap_err().kind(), ErrorKind::KeyTooLong);
    assert_eq!(
        s.delete(b"ns", &too_long).unwrap_err().kind(),
        ErrorKind::KeyTooLong
    );
    // Longer namespaces leave less room for the key.
    assert_eq!(s.max_key_len(&max_ns).unwrap(), 511 - 10 - 255);

    assert_eq!(
        s.put(b"ns", b"z", b"v", Duration::ZERO).unwrap_err().kind(),
        ErrorKind::TtlInvalid
    );
    assert_eq!(s.keys(b"ns").unwrap(), vec![key]);
    assert!(s.verify().unwrap().is_ok());
}

#[test]
fn bad_options_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s");
    let cases = [
        Options::default().map_size(0),
        Options::default().map_size(1 << 20).max_map_size(1 << 19),
        Options::default().max_readers(0),
        Options::default().expiry_batch(0),
        Options::default().durability(ttlkv::Durability::Periodic {
            sync_interval: Duration::ZERO,
        }),
    ];
    for o in cases {
        assert_eq!(Store::open(&p, o).unwrap_err().kind(), ErrorKind::InvalidArgument);
    }
    assert!(!p.exists(), "a refused open creates nothing");
}

#[test]
fn a_path_that_is_a_file_or_empty_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, b"not a store").unwrap();
    let e = Store::open(&file, Options::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PathInvalid);
    assert!(e.message().contains("file"), "{e}");
    assert_eq!(std::fs::read(&file).unwrap(), b"not a store");
    assert_eq!(
        Store::open("", Options::default()).unwrap_err().kind(),
        ErrorKind::PathInvalid
    );
    // A path below a file cannot be created.
    let e = Store::open(file.join("sub"), Options::default()).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::PathInvalid | ErrorKind::Io), "{e}");
}

#[test]
fn a_new_store_is_private_and_an_existing_directory_keeps_its_mode() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("new").join("nested");
    let s = Store::open(&p, Options::default()).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&p), 0o700);
    assert_eq!(mode(&p.join("data.mdb")), 0o600);
    assert_eq!(mode(&p.join("lock.mdb")), 0o600);
    s.close();
    let existing = dir.path().join("existing");
    std::fs::create_dir(&existing).unwrap();
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o750)).unwrap();
    let s2 = Store::open(&existing, Options::default()).unwrap();
    assert_eq!(mode(&existing), 0o750);
    assert_eq!(mode(&existing.join("data.mdb")), 0o600);
    s2.close();
}

#[test]
fn a_directory_without_permission_is_a_permission_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("locked");
    std::fs::create_dir(&p).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    // Root ignores permission bits: check as an unprivileged user in a child process then.
    let out = if unsafe { libc::geteuid() } == 0 {
        child_as_nobody(&p)
    } else {
        Store::open(&p, Options::default())
            .map(|_| ())
            .map_err(|e| e.kind())
    };
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert_eq!(out, Err(ErrorKind::Permission));
}

/// Re-runs this test binary as user nobody, for the one test below that acts as the child.
/// The binary is copied to a directory nobody may enter first: the checkout (and so the
/// target directory) may be one that other users cannot, such as a home directory of mode
/// 0700.
fn child_as_nobody(p: &std::path::Path) -> Result<(), ErrorKind> {
    use std::os::unix::process::CommandExt;
    let bin_dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(bin_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let exe = bin_dir.path().join("probe");
    std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = std::process::Command::new(&exe)
        .args([
            "--exact",
            "permission_probe_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TTLKV_PROBE_PATH", p)
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if text.contains("PROBE: permission") {
        Err(ErrorKind::Permission)
    } else if text.contains("PROBE: ok") {
        Ok(())
    } else {
        panic!("child said nothing useful: {text}");
    }
}

/// The child half of the test above; does nothing when run on its own.
#[test]
fn permission_probe_child() {
    let Some(p) = std::env::var_os("TTLKV_PROBE_PATH") else {
        return;
    };
    match Store::open(p, Options::default()) {
        Ok(_) => println!("PROBE: ok"),
        Err(e) => println!("PROBE: {}", e.kind().name()),
    }
}

#[test]
fn an_unknown_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s");
    Store::open(&p, Options::default()).unwrap().close();
    {
        use lmdb::Transaction;
        let env = lmdb::Environment::new().set_max_dbs(4).open(&p).unwrap();
        let meta = env.open_db(Some("meta")).unwrap();
        let mut txn = env.begin_rw_txn().unwrap();
        txn.put(meta, &"format", &99u32.to_be_bytes(), lmdb::WriteFlags::empty())
            .unwrap();
        txn.commit().unwrap();
    }
    let e = Store::open(&p, Options::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Incompatible);
    assert!(e.message().contains("99"), "{e}");
}

#[test]
fn another_programs_lmdb_file_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("foreign");
    std::fs::create_dir(&p).unwrap();
    {
        use lmdb::Transaction;
        let env = lmdb::Environment::new().open(&p).unwrap();
        let db = env.open_db(None).unwrap();
        let mut txn = env.begin_rw_txn().unwrap();
        txn.put(db, &"user-data", &"precious", lmdb::WriteFlags::empty())
            .unwrap();
        txn.commit().unwrap();
    }
    let before = std::fs::read(p.join("data.mdb")).unwrap();
    let e = Store::open(&p, Options::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Incompatible);
    assert!(e.message().contains("not a ttlkv store"), "{e}");
    assert_eq!(std::fs::read(p.join("data.mdb")).unwrap(), before);
}

#[test]
fn garbage_in_data_mdb_is_a_clear_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s");
    std::fs::create_dir(&p).unwrap();
    std::fs::write(p.join("data.mdb"), vec![0xABu8; 64 * 1024]).unwrap();
    let e = Store::open(&p, Options::default()).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Incompatible | ErrorKind::Corrupted),
        "{e}"
    );
}

#[test]
fn every_call_after_close_is_a_closed_error_and_close_is_idempotent() {
    let (_d, s) = temp_store(Options::default());
    s.put(b"ns", b"k", b"v", MIN).unwrap();
    let clone = s.clone();
    s.close();
    s.close();
    assert!(clone.is_closed());
    let closed = |e: ttlkv::Error| assert_eq!(e.kind(), ErrorKind::Closed);
    closed(s.put(b"ns", b"k", b"v", MIN).unwrap_err());
    closed(s.get(b"ns", b"k").unwrap_err());
    closed(s.delete(b"ns", b"k").unwrap_err());
    closed(s.keys(b"ns").unwrap_err());
    closed(s.put_many(&[]).unwrap_err());
    closed(s.deadline(b"ns", b"k").unwrap_err());
    closed(s.verify().unwrap_err());
    closed(s.stats().unwrap_err());
    closed(clone.get(b"ns", b"k").unwrap_err());
}

#[test]
fn two_opens_of_one_directory_share_an_environment_and_close_independently() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s");
    let a = Store::open(&p, Options::default()).unwrap();
    // A different spelling of the same path is the same store.
    let b = Store::open(dir.path().join(".").join("s"), Options::default()).unwrap();
    a.put(b"ns", b"k", b"v", MIN).unwrap();
    assert_eq!(b.get(b"ns", b"k").unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(a.store_id().unwrap(), b.store_id().unwrap());
    a.close();
    assert_eq!(a.get(b"ns", b"k").unwrap_err().kind(), ErrorKind::Closed);
    b.put(b"ns", b"k2", b"v2", MIN).unwrap();
    assert_eq!(b.keys(b"ns").unwrap().len(), 2);
    // Reopen while b still holds the environment, then after everything closed.
    let c = Store::open(&p, Options::default()).unwrap();
    assert_eq!(c.keys(b"ns").unwrap().len(), 2);
    b.close();
    c.close();
    let d = Store::open(&p, Options::default()).unwrap();
    assert_eq!(d.keys(b"ns").unwrap().len(), 2);
}

#[test]
fn open_and_close_in_a_loop_from_many_threads_never_double_opens() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s");
    std::thread::scope(|sc| {
        for t in 0..4u8 {
            let p = &p;
            sc.spawn(move || {
                for i in 0..50u8 {
                    let s = Store::open(p, Options::default()).unwrap();
                    s.put(b"ns", &[t, i], b"v", MIN).unwrap();
                    assert!(s.get(b"ns", &[t, i]).unwrap().is_some());
                    s.close();
                }
            });
        }
    });
    let s = Store::open(&p, Options::default()).unwrap();
    assert_eq!(s.keys(b"ns").unwrap().len(), 200);
    assert!(s.verify().unwrap().is_ok());
}

fn victim(dir: &std::path::Path) -> std::path::PathBuf {
    let v = dir.join("victim");
    std::fs::write(&v, b"someone's precious file").unwrap();
    v
}

/// Finding 9: `lock.mdb` or `data.mdb` planted as a link used to be followed (one put later the
/// victim held LMDB's lock table). Links and other non-regular files are refused untouched.
#[test]
fn store_files_that_are_links_or_not_regular_files_are_refused_and_left_untouched() {
    for name in ["lock.mdb", "data.mdb"] {
        let dir = tempfile::tempdir().unwrap();
        let v = victim(dir.path());
        let p = dir.path().join("store");
        std::fs::create_dir(&p).unwrap();
        std::os::unix::fs::symlink(&v, p.join(name)).unwrap();
        for opts in [Options::default(), Options::default().allow_shared_dir(true)] {
            let e = Store::open(&p, opts).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PathInvalid, "{e}");
            assert!(e.message().contains("symbolic link"), "{e}");
        }
        assert_eq!(std::fs::read(&v).unwrap(), b"someone's precious file");
        assert!(std::fs::symlink_metadata(p.join(name))
            .unwrap()
            .file_type()
            .is_symlink());
    }
    // A directory or a hard link in place of a store file.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("store");
    std::fs::create_dir_all(p.join("data.mdb")).unwrap();
    let e = Store::open(&p, Options::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PathInvalid, "{e}");
    let dir = tempfile::tempdir().unwrap();
    let v = victim(dir.path());
    let p = dir.path().join("store");
    std::fs::create_dir(&p).unwrap();
    std::fs::hard_link(&v, p.join("lock.mdb")).unwrap();
    let e = Store::open(&p, Options::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PathInvalid, "{e}");
    assert!(e.message().contains("hard link"), "{e}");
    assert_eq!(std::fs::read(&v).unwrap(), b"someone's precious file");
}

#[test]
fn a_directory_other_users_can_write_is_refused_unless_sharing_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("store");
    std::fs::create_dir(&p).unwrap();
    for mode in [0o777, 0o770, 0o1777] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        let e = Store::open(&p, Options::default()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Permission, "{e}");
        assert!(e.message().contains("writable by other users"), "{e}");
        assert!(
            e.message().contains("allow_shared_dir"),
            "the error says how to allow it: {e}"
        );
    }
    assert!(
        !p.join("data.mdb").exists(),
        "a refused directory is left untouched"
    );
    let s = Store::open(&p, Options::default().allow_shared_dir(true)).unwrap();
    s.put(b"ns", b"k", b"v", Duration::from_secs(60)).unwrap();
    s.close();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700)).unwrap();
    let s = Store::open(&p, Options::default()).unwrap();
    assert_eq!(s.get(b"ns", b"k").unwrap().as_deref(), Some(&b"v"[..]));
}

#[test]
fn a_directory_owned_by_another_user_is_refused_unless_sharing_is_allowed() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        // Only root can give a directory away; as another user, a directory that is not ours
        // is one of root's.
        let e = Store::open("/", Options::default()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Permission, "{e}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("store");
    std::fs::create_dir(&p).unwrap();
    std::os::unix::fs::chown(&p, Some(65534), Some(65534)).unwrap();
    let e = Store::open(&p, Options::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Permission, "{e}");
    assert!(e.message().contains("owned by uid 65534"), "{e}");
    let s = Store::open(&p, Options::default().allow_shared_dir(true)).unwrap();
    s.put(b"ns", b"k", b"v", Duration::from_secs(60)).unwrap();
}
