//! Group commit: writers queue their work; the first one in becomes the leader, applies
//! everything queued in one write transaction and one commit (one fsync in `sync` mode), and
//! hands each writer its own result. Throughput then grows with the number of writers.
//!
//! Work is borrowed from the writers' stacks: a writer does not return before the leader has
//! marked its job done, and the leader never touches a job after that.
//!
//! The committer knows nothing of what the work is: it is generic over the work type `W`, and
//! the engine hands it the function that applies a batch (see `engine::Core::write`). Every
//! writer of one committer passes the same function.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, ErrorKind, Result};

/// Jobs one transaction takes at most, bytes of values, and records: transactions stay
/// bounded (and the records of one stay below the engine's per-transaction version range).
const MAX_JOBS_PER_TXN: usize = 1024;
const MAX_BYTES_PER_TXN: usize = 64 << 20;
pub(crate) const MAX_RECORDS_PER_TXN: usize = 1 << 20;

/// What a job weighs, and what it gives back: the committer caps the bytes and records one
/// transaction carries, and hands each writer its own output.
pub(crate) trait Weigh {
    type Output;
    fn bytes(&self) -> usize;
    fn records(&self) -> usize;
}

struct Job<W: Weigh> {
    work: W,
    bytes: usize,
    records: usize,
    /// Set by the leader under the committer's lock; read by the owner under the same lock.
    result: UnsafeCell<Option<Result<W::Output>>>,
    cv: Condvar,
}

/// A pointer to a job on a waiting writer's stack.
struct JobPtr<W: Weigh>(*const Job<W>);

impl<W: Weigh> Clone for JobPtr<W> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<W: Weigh> Copy for JobPtr<W> {}

// SAFETY: a JobPtr is only dereferenced while its owner is blocked in `submit` waiting for it.
unsafe impl<W: Weigh> Send for JobPtr<W> {}

impl<W: Weigh> JobPtr<W> {
    /// SAFETY: the job's owner must still be waiting in `submit`.
    unsafe fn job(&self) -> &Job<W> {
        &*self.0
    }
}

struct State<W: Weigh> {
    queue: VecDeque<JobPtr<W>>,
    leader: bool,
    /// Jobs in the last transaction: their writers are likely to come back at once.
    prev_batch: usize,
    /// How long the last transaction took, commit included (nanoseconds).
    last_txn_ns: u64,
    /// A leader waits for arrivals (see `linger`).
    lingering: bool,
}

pub(crate) struct Committer<W: Weigh> {
    state: Mutex<State<W>>,
    arrivals: Condvar,
}

// SAFETY: the queue's raw pointers are only dereferenced under the rules of `JobPtr`; the work
// itself is only read by the one leader at a time.
unsafe impl<W: Weigh> Send for Committer<W> {}
unsafe impl<W: Weigh> Sync for Committer<W> {}

/// A leader lingers only when transactions are this slow (an fsync), and at most a quarter of
/// a transaction's time or this long: waiting costs little next to the fsync it shares.
const LINGER_MIN_TXN_NS: u64 = 200_000;
const LINGER_MAX_NS: u64 = 200_000;

impl<W: Weigh> Committer<W> {
    pub(crate) fn new() -> Committer<W> {
        Committer {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                leader: false,
                prev_batch: 0,
                last_txn_ns: 0,
                lingering: false,
            }),
            arrivals: Condvar::new(),
        }
    }

    /// Without this, writers settle into two cohorts that take turns: while one commits, the
    /// other queues, so each fsync carries about half of them. The writers of the previous
    /// transaction come back within microseconds; when fsyncs are slow the leader waits for
    /// them (briefly, and never when it was alone), so one fsync carries nearly all writers.
    fn linger(&self, st: &mut parking_lot::MutexGuard<'_, State<W>>) {
        let want = st.prev_batch;
        if want <= st.queue.len() || st.last_txn_ns < LINGER_MIN_TXN_NS {
            return;
        }
        let wait = Duration::from_nanos((st.last_txn_ns / 4).min(LINGER_MAX_NS));
        let until = Instant::now() + wait;
        st.lingering = true;
        while st.queue.len() < want {
            if self.arrivals.wait_until(st, until).timed_out() {
                break;
            }
        }
        st.lingering = false;
    }

    /// Applies `work` together with whatever other writers queued meanwhile, through `apply`
    /// (one call per batch, one result per job, in order), and returns this job's result.
    pub(crate) fn submit(
        &self,
        work: W,
        apply: impl Fn(&[&W]) -> Vec<Result<W::Output>>,
    ) -> Result<W::Output> {
        let bytes = work.bytes();
        let records = work.records();
        let job = Job {
            work,
            bytes,
            records,
            result: UnsafeCell::new(None),
            cv: Condvar::new(),
        };
        let ptr = JobPtr(&job as *const Job<W>);
        let mut st = self.state.lock();
        st.queue.push_back(ptr);
        if st.lingering {
            self.arrivals.notify_one();
        }
        loop {
            // SAFETY: result is written only under this lock.
            if let Some(r) = unsafe { (*job.result.get()).take() } {
                return r;
            }
            if !st.leader {
                break;
            }
            job.cv.wait(&mut st);
        }
        // Leader: commit batches until our own job is done.
        st.leader = true;
        loop {
            self.linger(&mut st);
            let mut batch = Vec::new();
            let (mut bytes, mut records) = (0, 0);
            while let Some(&p) = st.queue.front() {
                // SAFETY: queued jobs' owners are waiting.
                let (b, r) = unsafe { (p.job().bytes, p.job().records) };
                let over = batch.len() >= MAX_JOBS_PER_TXN
                    || bytes + b > MAX_BYTES_PER_TXN
                    || records + r > MAX_RECORDS_PER_TXN;
                if !batch.is_empty() && over {
                    break;
                }
                bytes += b;
                records += r;
                batch.push(p);
                st.queue.pop_front();
            }
            drop(st);
            let started = Instant::now();
            // SAFETY: every job's owner waits until the results are handed out below.
            let works: Vec<&W> = batch.iter().map(|p| &unsafe { p.job() }.work).collect();
            let results = catch_unwind(AssertUnwindSafe(|| apply(&works))).unwrap_or_else(|_| {
                let e = Error::new(
                    ErrorKind::Storage,
                    "a write panicked inside ttlkv; nothing was written",
                );
                batch.iter().map(|_| Err(e.clone())).collect()
            });
            st = self.state.lock();
            st.prev_batch = batch.len();
            st.last_txn_ns = started.elapsed().as_nanos() as u64;
            for (p, r) in batch.iter().zip(results) {
                // SAFETY: the owner waits for this, under the lock we hold.
                let j = unsafe { p.job() };
                unsafe { *j.result.get() = Some(r) };
                j.cv.notify_one();
            }
            if let Some(r) = unsafe { (*job.result.get()).take() } {
                st.leader = false;
                if let Some(&next) = st.queue.front() {
                    // SAFETY: its owner waits; it becomes the next leader.
                    unsafe { next.job() }.cv.notify_one();
                }
                return r;
            }
        }
    }
}
