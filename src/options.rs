//! How a store is opened: the options every binding passes through (their ranges and rules
//! are checked in limits.rs, nowhere else).

use std::time::Duration;

use crate::clock::Clock;

/// When a put is on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    /// A put has reached the disk when it returns. Concurrent writers share one commit.
    #[default]
    Sync,
    /// Commits skip fsync; a background flush runs every `sync_interval`. A process crash loses
    /// nothing (the OS has the pages); a power loss can lose the last interval.
    Periodic {
        /// Time between flushes.
        sync_interval: Duration,
    },
}

/// What a write that would take the store past its size bound (`Store::set_max_bytes`) does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Eviction {
    /// Evict entries, soonest deadline first (expired ones first of all, entries that never
    /// expire last), in the write's own transaction (the default).
    #[default]
    SoonestDeadline,
    /// Evict nothing: the write fails with [`crate::ErrorKind::Full`].
    None,
}

impl Eviction {
    /// The stable name the bindings use: `"soonest_deadline"` or `"none"`.
    pub fn name(self) -> &'static str {
        match self {
            Eviction::SoonestDeadline => "soonest_deadline",
            Eviction::None => "none",
        }
    }
}

/// What `open` does with a store it finds damaged (`Corrupted`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OnCorruption {
    /// Fail with [`crate::ErrorKind::Corrupted`], naming the path; nothing is touched (the
    /// default).
    #[default]
    Error,
    /// Rename the damaged directory aside (`<dir>.corrupted-<unix ms>`, kept for inspection)
    /// and open a fresh, empty store in its place: the cached data is lost, the application
    /// starts. [`crate::Store::corruption_reset`] tells where the old one went.
    Reset,
}

impl OnCorruption {
    /// The stable name the bindings use: `"error"` or `"reset"`.
    pub fn name(self) -> &'static str {
        match self {
            OnCorruption::Error => "error",
            OnCorruption::Reset => "reset",
        }
    }
}

/// How a store is opened. The first open of a directory in a process decides; later opens of
/// the same directory share its environment and their options are ignored.
#[derive(Clone, Debug)]
pub struct Options {
    /// Initial size of the memory map in bytes; it grows on demand (default 16 MiB).
    pub map_size: usize,
    /// The map never grows beyond this; puts then fail with [`ErrorKind::Full`] (default 64 GiB).
    pub max_map_size: usize,
    /// Durability of puts (default [`Durability::Sync`]).
    pub durability: Durability,
    /// LMDB reader slots, shared by every process using the store (default 1024).
    pub max_readers: u32,
    /// Entries the expiry thread removes per write transaction (default 10,000).
    pub expiry_batch: usize,
    /// `periodic` mode only: write through a writable memory map (LMDB's MDB_WRITEMAP). Puts
    /// get several times faster (a commit copies no pages), the map's size is reserved on disk
    /// as it grows, and the price is that a power loss or OS crash between flushes can leave
    /// the store corrupted rather than just missing the last interval (LMDB keeps its
    /// atomicity guarantee across such crashes only without a writable map). A process crash
    /// is safe either way. Default false.
    pub write_map: bool,
    /// `periodic` mode only: keep the last flush reachable across a power loss or OS crash.
    /// Each flush pins its snapshot (no page of it is reused until the next flush) and keeps
    /// its meta page in the flush mark; open after an unclean shutdown of the machine returns
    /// the store to exactly that flush and verifies it. The price is measured (README,
    /// Durability): commits cannot reuse pages freed since the last flush, so sustained
    /// writes grow the file and are bounded by the disk's write speed (a flush comes early,
    /// after 1,024 commits or 32 MiB of growth past the pinned snapshot, which bounds the
    /// pages in use; writes measured 0.14–0.18× of plain periodic). The guarantee holds
    /// while every process writing the store opens it with this option. Default false.
    pub crash_safe: bool,
    /// Accept a store directory that other users could tamper with: one owned by another user,
    /// or writable by group or others (default false: such a directory is refused, because its
    /// other users could replace `lock.mdb` or `data.mdb` with a link to one of your files).
    /// Links in place of the store's files are refused either way.
    pub allow_shared_dir: bool,
    /// The source of "now" (default the system clock; tests use a [`crate::ManualClock`]).
    pub clock: Clock,
    /// What `open` does with a damaged store (default [`OnCorruption::Error`]).
    pub on_corruption: OnCorruption,
    /// Test hook: the kernel boot id this process pretends to run in (default: the real one),
    /// to test what open does after a reboot.
    #[doc(hidden)]
    pub boot_id: Option<String>,
    /// Test hook: the longest sleep of the expiry thread (default 1 s, how late a deadline
    /// written by another process may be noticed). A test sets it to hours to prove that a
    /// wake-up came from a deadline or a writer, not from the cap, without timing anything.
    #[doc(hidden)]
    pub expiry_max_sleep: std::time::Duration,
    /// Benchmark hook: a sleep added to every commit, under the writer lock, as a slower
    /// disk's fsync would take (default none). The group-commit benchmark runs at the real
    /// disk's latency and at a slowed one, so its figures do not depend on the day's disk.
    #[doc(hidden)]
    pub commit_delay: std::time::Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            map_size: 16 << 20,
            max_map_size: 64 << 30,
            durability: Durability::Sync,
            max_readers: 1024,
            expiry_batch: 10_000,
            write_map: false,
            crash_safe: false,
            allow_shared_dir: false,
            clock: Clock::System,
            on_corruption: OnCorruption::Error,
            boot_id: None,
            expiry_max_sleep: std::time::Duration::from_secs(1),
            commit_delay: std::time::Duration::ZERO,
        }
    }
}

impl Options {
    /// Sets the initial map size.
    pub fn map_size(mut self, bytes: usize) -> Options {
        self.map_size = bytes;
        self
    }
    /// Sets the maximum map size.
    pub fn max_map_size(mut self, bytes: usize) -> Options {
        self.max_map_size = bytes;
        self
    }
    /// Sets the durability mode.
    pub fn durability(mut self, durability: Durability) -> Options {
        self.durability = durability;
        self
    }
    /// Sets the number of reader slots.
    pub fn max_readers(mut self, n: u32) -> Options {
        self.max_readers = n;
        self
    }
    /// Sets the expiry batch size.
    pub fn expiry_batch(mut self, n: usize) -> Options {
        self.expiry_batch = n;
        self
    }
    /// Turns the writable map of `periodic` mode on or off (see [`Options::write_map`]).
    pub fn write_map(mut self, on: bool) -> Options {
        self.write_map = on;
        self
    }
    /// Turns `periodic` mode's crash safety on or off (see [`Options::crash_safe`]).
    pub fn crash_safe(mut self, on: bool) -> Options {
        self.crash_safe = on;
        self
    }
    /// Accepts a directory shared with other users (see [`Options::allow_shared_dir`]).
    pub fn allow_shared_dir(mut self, on: bool) -> Options {
        self.allow_shared_dir = on;
        self
    }
    /// Sets the clock.
    pub fn clock(mut self, clock: Clock) -> Options {
        self.clock = clock;
        self
    }
    /// Sets what `open` does with a damaged store.
    pub fn on_corruption(mut self, on: OnCorruption) -> Options {
        self.on_corruption = on;
        self
    }
    /// Test hook: see [`Options::boot_id`].
    #[doc(hidden)]
    pub fn boot_id(mut self, id: impl Into<String>) -> Options {
        self.boot_id = Some(id.into());
        self
    }
    /// Test hook: see [`Options::expiry_max_sleep`].
    #[doc(hidden)]
    pub fn expiry_max_sleep(mut self, d: std::time::Duration) -> Options {
        self.expiry_max_sleep = d;
        self
    }
    /// Benchmark hook: see [`Options::commit_delay`].
    #[doc(hidden)]
    pub fn commit_delay(mut self, d: std::time::Duration) -> Options {
        self.commit_delay = d;
        self
    }
}
