//! Group commit: writers queue their work; the first one in becomes the leader, applies
//! everything queued in one write transaction and one commit (one fsync in `sync` mode), and
//! hands each writer its own result. Throughput then grows with the number of writers.
//!
//! Work is borrowed from the writers' stacks: a writer does not return before the leader has
//! marked its job done, and the leader never touches a job after that.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::codec::NEVER;
use crate::env::WriteKind;
use crate::error::{Error, ErrorKind, Result};
use crate::store::Core;

/// Jobs one transaction takes at most, and bytes of values: transactions stay bounded.
const MAX_JOBS_PER_TXN: usize = 1024;
const MAX_BYTES_PER_TXN: usize = 64 << 20;

/// One validated record to write.
pub(crate) struct PutOp<'a> {
    pub ns: &'a [u8],
    pub key: &'a [u8],
    pub value: &'a [u8],
    pub deadline: u64,
}

/// A writer's request. The records of one `Put` are atomic together.
pub(crate) enum Work<'a> {
    Put(&'a [PutOp<'a>]),
    Delete { ns: &'a [u8], key: &'a [u8] },
}

impl Work<'_> {
    fn bytes(&self) -> usize {
        match self {
            Work::Put(ops) => ops.iter().map(|o| o.key.len() + o.value.len()).sum(),
            Work::Delete { .. } => 0,
        }
    }
}

struct Job<'a> {
    work: Work<'a>,
    /// Set by the leader under the committer's lock; read by the owner under the same lock.
    result: UnsafeCell<Option<Result<bool>>>,
    cv: Condvar,
}

/// A pointer to a job on a waiting writer's stack.
#[derive(Clone, Copy)]
struct JobPtr(*const Job<'static>);

// SAFETY: a JobPtr is only dereferenced while its owner is blocked in `submit` waiting for it.
unsafe impl Send for JobPtr {}

impl JobPtr {
    /// SAFETY: the job's owner must still be waiting in `submit`.
    unsafe fn job(&self) -> &Job<'static> {
        &*self.0
    }
}

struct State {
    queue: VecDeque<JobPtr>,
    leader: bool,
    /// Jobs in the last transaction: their writers are likely to come back at once.
    prev_batch: usize,
    /// How long the last transaction took, commit included (nanoseconds).
    last_txn_ns: u64,
    /// A leader waits for arrivals (see `linger`).
    lingering: bool,
}

pub(crate) struct Committer {
    state: Mutex<State>,
    arrivals: Condvar,
}

/// A leader lingers only when transactions are this slow (an fsync), and at most a quarter of
/// a transaction's time or this long: waiting costs little next to the fsync it shares.
const LINGER_MIN_TXN_NS: u64 = 200_000;
const LINGER_MAX_NS: u64 = 200_000;

impl Committer {
    pub(crate) fn new() -> Committer {
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
    fn linger(&self, st: &mut parking_lot::MutexGuard<'_, State>) {
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

    /// Applies `work` durably (as the store's durability mode defines it) and returns its
    /// result: for a delete, whether a live entry was removed.
    pub(crate) fn submit(&self, core: &Core, work: Work<'_>) -> Result<bool> {
        let job = Job {
            work,
            result: UnsafeCell::new(None),
            cv: Condvar::new(),
        };
        // SAFETY: the lifetime is erased only for the queue; see the module comment.
        let ptr = JobPtr(unsafe { std::mem::transmute::<*const Job<'_>, *const Job<'static>>(&job) });
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
            let mut bytes = 0;
            while let Some(&p) = st.queue.front() {
                // SAFETY: queued jobs' owners are waiting.
                let b = unsafe { p.job() }.work.bytes();
                if !batch.is_empty() && (batch.len() >= MAX_JOBS_PER_TXN || bytes + b > MAX_BYTES_PER_TXN) {
                    break;
                }
                bytes += b;
                batch.push(p);
                st.queue.pop_front();
            }
            drop(st);
            let started = Instant::now();
            let results = catch_unwind(AssertUnwindSafe(|| apply(core, &batch))).unwrap_or_else(|_| {
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

/// Applies a batch in one transaction. If the map is full at its maximum, falls back to one
/// transaction per job so that one large job does not fail the small ones beside it.
fn apply(core: &Core, batch: &[JobPtr]) -> Vec<Result<bool>> {
    // SAFETY: every job's owner waits until we return.
    let jobs: Vec<&Job<'static>> = batch.iter().map(|p| unsafe { p.job() }).collect();
    match apply_together(core, &jobs) {
        Ok(r) => r.into_iter().map(Ok).collect(),
        Err(e) if e.kind() == ErrorKind::Full && jobs.len() > 1 => jobs
            .iter()
            .map(|j| apply_together(core, std::slice::from_ref(j)).map(|mut r| r.pop().unwrap_or(false)))
            .collect(),
        Err(e) => jobs.iter().map(|_| Err(e.clone())).collect(),
    }
}

fn apply_together(core: &Core, jobs: &[&Job<'static>]) -> Result<Vec<bool>> {
    let now = core.now_ms();
    let mut min_deadline = NEVER;
    // A batch that adds anything may not eat into the room kept for deletes.
    let kind = if jobs.iter().any(|j| matches!(j.work, Work::Put(_))) {
        WriteKind::Fills
    } else {
        WriteKind::Frees
    };
    let results = core.env.write(kind, |txn| {
        let mut results = Vec::with_capacity(jobs.len());
        for j in jobs {
            match &j.work {
                Work::Put(ops) => {
                    for op in ops.iter() {
                        core.apply_put(txn, op.ns, op.key, op.value, op.deadline, now)?;
                        min_deadline = min_deadline.min(op.deadline);
                    }
                    results.push(true);
                }
                Work::Delete { ns, key } => results.push(core.apply_delete(txn, ns, key, now)?),
            }
        }
        Ok(results)
    })?;
    core.counters.write_commits.fetch_add(1, Ordering::Relaxed);
    core.counters
        .write_calls
        .fetch_add(jobs.len() as u64, Ordering::Relaxed);
    if min_deadline != NEVER {
        core.note_deadline(min_deadline);
    }
    Ok(results)
}
