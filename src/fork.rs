//! fork(): what a child process inherits, and what it must not touch.
//!
//! An LMDB environment belongs to the process that opened it. A child made by fork() has
//! copies of the parent's handles, maps and locks, but none of its threads: a lock a parent
//! thread held at the fork stays held forever in the child, and closing an inherited
//! environment would clear the *parent's* reader slots (LMDB records the opener's pid).
//!
//! So the core counts forks: a child handler (pthread_atfork) bumps a generation number, and
//! every handle remembers the generation it was opened in. In the child an inherited handle
//! reports *closed* and is leaked, never closed; everything process-wide (the registry of
//! environments, the closer thread) lives in a [`PerProcess`] cell that the child rebuilds
//! on first use instead of taking the parent's possibly-held lock. Checking a handle costs
//! one relaxed atomic load, no getpid().

use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU64, Ordering};
use std::sync::Once;

static GENERATION: AtomicU64 = AtomicU64::new(0);
static HANDLERS: Once = Once::new();

/// File descriptors whose open-file-description locks must not outlive the parent: the child
/// closes its copies at once, so a parent killed while holding such a lock releases it even
/// when a forked child lives on. Slots are claimed and released with atomics (the child
/// handler may not take a lock).
const LOCK_FD_SLOTS: usize = 1024;
#[allow(clippy::declare_interior_mutable_const)]
const NO_FD: AtomicI32 = AtomicI32::new(-1);
static LOCK_FDS: [AtomicI32; LOCK_FD_SLOTS] = [NO_FD; LOCK_FD_SLOTS];

extern "C" fn in_child() {
    GENERATION.fetch_add(1, Ordering::SeqCst);
    for slot in &LOCK_FDS {
        let fd = slot.swap(-1, Ordering::SeqCst);
        if fd >= 0 {
            // SAFETY: the fd was registered by an Env of the parent; close is async-signal-safe.
            unsafe { libc::close(fd) };
        }
    }
}

/// Installs the fork handler (once per process) and returns the current generation. Called on
/// every open, so a handle can never exist without the handler.
pub(crate) fn generation_at_open() -> u64 {
    HANDLERS.call_once(|| {
        // SAFETY: registering a plain extern "C" function with no prepare/parent handlers.
        unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
    });
    GENERATION.load(Ordering::SeqCst)
}

/// The current generation: a handle opened in another one was inherited across fork().
#[inline]
pub(crate) fn generation() -> u64 {
    GENERATION.load(Ordering::Relaxed)
}

/// Registers `fd` to be closed in a forked child; returns the slot to release it with.
pub(crate) fn close_in_child(fd: i32) -> Option<usize> {
    generation_at_open();
    LOCK_FDS.iter().position(|slot| {
        slot.compare_exchange(-1, fd, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    })
}

/// Forgets a slot from [`close_in_child`] (the fd is about to be closed by its owner).
pub(crate) fn forget_fd(slot: Option<usize>, fd: i32) {
    if let Some(i) = slot {
        let _ = LOCK_FDS[i].compare_exchange(fd, -1, Ordering::SeqCst, Ordering::SeqCst);
    }
}

/// A process-wide value that a forked child rebuilds rather than inherits: the parent's copy
/// may be mid-update or locked by a thread that does not exist in the child. The parent's copy
/// is leaked in the child (it may still be borrowed by inherited objects).
pub(crate) struct PerProcess<T: 'static> {
    cell: AtomicPtr<(u64, T)>,
}

impl<T: 'static> PerProcess<T> {
    pub(crate) const fn new() -> PerProcess<T> {
        PerProcess {
            cell: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// This process's value, made with `init` on first use in each process.
    pub(crate) fn get(&'static self, init: impl Fn() -> T) -> &'static T {
        let gen = generation();
        loop {
            let p = self.cell.load(Ordering::Acquire);
            // SAFETY: a non-null pointer was made by Box::into_raw below and is never freed
            // once published.
            if let Some((g, v)) = unsafe { p.as_ref() } {
                if *g == gen {
                    return v;
                }
            }
            let fresh = Box::into_raw(Box::new((gen, init())));
            match self
                .cell
                .compare_exchange(p, fresh, Ordering::AcqRel, Ordering::Acquire)
            {
                // SAFETY: just published; never freed.
                Ok(_) => return unsafe { &(*fresh).1 },
                // Another thread published first: drop ours (never shared) and look again.
                // SAFETY: `fresh` was never published.
                Err(_) => drop(unsafe { Box::from_raw(fresh) }),
            }
        }
    }
}

/// A thread of ttlkv's own (the expiry thread, the C ABI's closer), started with
/// `pthread_create` rather than `std::thread`.
///
/// A thread started by `std::thread` registers itself under a process-wide lock of the
/// standard library as it starts and ends. If another thread of the parent holds that lock at
/// the moment of fork(), the child can never start a `std::thread` again: its expiry thread
/// would hang before it ran, and closing the child's store would wait for it forever (found by
/// tests/model_processes.rs). Threads started here take no lock of the standard library.
pub(crate) struct Thread {
    id: libc::pthread_t,
}

/// Starts `f` on a new thread named `name` (the OS keeps the first 15 bytes). A panic in `f`
/// ends the thread, not the process.
pub(crate) fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> std::io::Result<Thread> {
    type Body = Box<dyn FnOnce() + Send>;
    extern "C" fn start(arg: *mut libc::c_void) -> *mut libc::c_void {
        // SAFETY: `arg` is the Box leaked by `spawn` for this thread alone.
        let body = unsafe { Box::from_raw(arg as *mut Body) };
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
        std::ptr::null_mut()
    }
    let arg = Box::into_raw(Box::new(Box::new(f) as Body));
    // SAFETY: pthread_t is plain data.
    let mut id: libc::pthread_t = unsafe { std::mem::zeroed() };
    // SAFETY: `start` takes ownership of `arg` when the thread starts.
    let rc = unsafe { libc::pthread_create(&mut id, std::ptr::null(), start, arg.cast()) };
    if rc != 0 {
        // SAFETY: the thread did not start, so `arg` is still ours.
        drop(unsafe { Box::from_raw(arg) });
        return Err(std::io::Error::from_raw_os_error(rc));
    }
    let short: Vec<u8> = name.bytes().filter(|&b| b != 0).take(15).collect();
    if let Ok(c) = std::ffi::CString::new(short) {
        // SAFETY: id is a live thread; the name is NUL-terminated and at most 15 bytes.
        unsafe { libc::pthread_setname_np(id, c.as_ptr()) };
    }
    Ok(Thread { id })
}

impl Thread {
    /// Waits for the thread to end.
    pub(crate) fn join(self) {
        let id = self.id;
        std::mem::forget(self);
        // SAFETY: a live, not yet joined or detached thread of this process.
        unsafe { libc::pthread_join(id, std::ptr::null_mut()) };
    }
}

impl Drop for Thread {
    fn drop(&mut self) {
        // Not joined: let it end on its own.
        // SAFETY: a live, not yet joined or detached thread of this process.
        unsafe { libc::pthread_detach(self.id) };
    }
}
