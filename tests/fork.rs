//! fork(): a child can always open stores, whatever the parent's threads were doing, and a
//! handle inherited from the parent is closed in the child (and never closes the parent's
//! environment). The children only call ttlkv and `_exit`: their exit code says what failed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ttlkv::{ErrorKind, Options, Store};

const MIN: Duration = Duration::from_secs(60);

/// Waits for `pid` up to `limit`; kills it if it is still running. Returns its exit code, or
/// None when it hung.
fn wait_for(pid: libc::pid_t, limit: Duration) -> Option<i32> {
    let start = Instant::now();
    loop {
        let mut status = 0;
        // SAFETY: waiting on our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return Some(if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            });
        }
        if start.elapsed() > limit {
            // SAFETY: killing and reaping our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Forks; the child runs `f` and exits with its code without unwinding or flushing anything.
fn fork(f: impl FnOnce() -> i32) -> libc::pid_t {
    // SAFETY: the child only runs `f` (ttlkv calls) and _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(99);
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(code) };
    }
    pid
}

/// Forks `n` children that each open, write and close a store of their own under `dir` (a
/// pause of `pause` between forks), and waits for them all, 30 s at the most in all; returns
/// each child's exit code, None for one that hung.
fn fork_open_write_close(dir: &std::path::Path, n: usize, pause: Duration) -> Vec<Option<i32>> {
    let pids: Vec<_> = (0..n)
        .map(|i| {
            let own = dir.join(format!("child-{i}"));
            let pid = fork(move || open_write_close(&own));
            std::thread::sleep(pause);
            pid
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    pids.into_iter()
        .map(|p| wait_for(p, deadline.saturating_duration_since(Instant::now())))
        .collect()
}

/// A child's work: open a store of its own, write, read back, close (which joins its expiry
/// thread). The exit code says which step failed.
fn open_write_close(dir: &std::path::Path) -> i32 {
    let Ok(st) = Store::open(dir, Options::default()) else {
        return 1;
    };
    if st.put(b"ns", b"k", b"v", MIN).is_err() {
        return 2;
    }
    if st.get(b"ns", b"k").ok().flatten().as_deref() != Some(&b"v"[..]) {
        return 3;
    }
    st.close();
    0
}

/// Finding 4: with another thread opening and closing a store, children forked at any moment
/// used to hang forever in open, on a registry lock held across the open or the close.
#[test]
fn children_forked_while_another_thread_opens_and_closes_stores_can_open_stores() {
    let dir = tempfile::tempdir().unwrap();
    let busy = dir.path().join("busy");
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let st = Store::open(&busy, Options::default()).unwrap();
                st.put(b"ns", b"k", b"v", MIN).unwrap();
                st.close();
            }
        });
        std::thread::sleep(Duration::from_millis(20));
        let codes = fork_open_write_close(dir.path(), 20, Duration::from_millis(3));
        stop.store(true, Ordering::Relaxed);
        assert!(
            codes.iter().all(|c| *c == Some(0)),
            "children: {codes:?} (None = hung)"
        );
    });
}

#[test]
fn a_handle_inherited_across_fork_is_closed_in_the_child_and_the_parent_is_unharmed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let store = Store::open(&path, Options::default().max_readers(16)).unwrap();
    store.put(b"ns", b"k", b"parent", MIN).unwrap();
    let inherited = store.clone();
    let p = path.clone();
    let pid = fork(move || {
        if !inherited.is_closed() {
            return 1;
        }
        match inherited.get(b"ns", b"k") {
            Err(e) if e.kind() == ErrorKind::Closed => {}
            _ => return 2,
        }
        match inherited.put(b"ns", b"x", b"y", MIN) {
            Err(e) if e.kind() == ErrorKind::Closed => {}
            _ => return 3,
        }
        inherited.close(); // never blocks, never closes the parent's environment
        drop(inherited);
        // The child opens the store for itself and shares it with the parent.
        let Ok(own) = Store::open(&p, Options::default().max_readers(16)) else {
            return 4;
        };
        if own.get(b"ns", b"k").ok().flatten().as_deref() != Some(&b"parent"[..]) {
            return 5;
        }
        if own.put(b"ns", b"from-child", b"c", MIN).is_err() {
            return 6;
        }
        own.close();
        0
    });
    assert_eq!(wait_for(pid, Duration::from_secs(20)), Some(0));
    // The parent's handle and environment are untouched, its reader slots still its own.
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..100 {
                    assert!(store.get(b"ns", b"k").unwrap().is_some());
                }
            });
        }
    });
    assert_eq!(
        store.get(b"ns", b"from-child").unwrap().as_deref(),
        Some(&b"c"[..])
    );
    store.put(b"ns", b"after", b"a", MIN).unwrap();
    assert!(store.verify().unwrap().is_ok());
}

/// The standard library registers each of its threads under a process-wide lock as the thread
/// starts and ends; a fork() at that moment leaves the lock held in the child, which then can
/// never start a std thread. ttlkv's expiry thread used to be one: the child's store opened,
/// and closing it waited forever for a thread that never ran (found by the model test).
#[test]
fn children_forked_while_other_threads_start_and_end_can_open_and_close_stores() {
    let dir = tempfile::tempdir().unwrap();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let batch: Vec<_> = (0..8).map(|_| std::thread::spawn(|| {})).collect();
                    batch.into_iter().for_each(|t| t.join().unwrap());
                }
            });
        }
        let codes = fork_open_write_close(dir.path(), 100, Duration::ZERO);
        stop.store(true, Ordering::Relaxed);
        assert!(
            codes.iter().all(|c| *c == Some(0)),
            "children: {codes:?} (None = hung)"
        );
    });
}
