//! The options builder: `ttlkv_options_new`, `ttlkv_options_set_*`, `ttlkv_options_free`.

use std::time::Duration;

use super::cast::{BoxCastPtr, Castable, OwnershipBox};
use super::status::{fail_with, invalid, ttlkv_status, ttlkv_status::TTLKV_OK};
use super::{TTLKV_DURABILITY_PERIODIC, TTLKV_DURABILITY_SYNC};
use crate::limits;
use crate::Options;

/// The value `check` accepts (the one range of every option lives in limits.rs), or return its
/// error from the boundary block.
macro_rules! try_limit {
    ($check:expr) => {
        match $check {
            Ok(v) => v,
            Err(e) => return fail_with(&e),
        }
    };
}

/// Options for `ttlkv_open()`: an opaque builder, so that new options never change the ABI.
///
/// Made by `ttlkv_options_new()` with every option at its default, changed by the
/// `ttlkv_options_set_*()` functions, released by `ttlkv_options_free()`. `ttlkv_open()` only
/// reads it: one builder may open several stores, and may be freed right after the open.
/// A builder is not thread-safe: do not change it while another thread uses it.
pub struct ttlkv_options {
    _private: [u8; 0],
}

/// The Rust side of a `ttlkv_options`.
#[derive(Clone, Debug, Default)]
pub(crate) struct OptionsBuilder {
    pub(crate) options: Options,
    periodic: bool,
    /// Set only by `ttlkv_options_set_sync_interval_ms`.
    sync_interval: Option<Duration>,
}

impl OptionsBuilder {
    /// The options `ttlkv_open` passes to [`crate::Store::open`], which validates them together.
    pub(crate) fn build(&self) -> crate::Result<Options> {
        let durability = limits::durability(self.periodic, self.sync_interval)?;
        Ok(self.options.clone().durability(durability))
    }
}

impl Castable for ttlkv_options {
    type Ownership = OwnershipBox;
    type RustType = OptionsBuilder;
}

/// A new options builder with every option at its default: map size 16 MiB, maximum map
/// size 64 GiB, durability TTLKV_DURABILITY_SYNC, sync interval 1000 ms, 1024 reader slots.
///
/// Returns NULL only if the allocation failed or ttlkv panicked. Release it with
/// `ttlkv_options_free()`.
#[no_mangle]
pub extern "C" fn ttlkv_options_new() -> *mut ttlkv_options {
    ffi_panic_boundary!("ttlkv_options_new", {
        ttlkv_options::to_mut_ptr(OptionsBuilder::default())
    })
}

/// Sets the initial size of the memory map in bytes (at least 16384; rounded up to the page
/// size). The map grows on demand up to the maximum map size.
///
/// Returns TTLKV_OK, or TTLKV_INVALID_ARGUMENT when `o` is NULL or `bytes` is below 16384 or
/// larger than the address space. `ttlkv_open()` fails with TTLKV_INVALID_ARGUMENT when the
/// map size is larger than the maximum map size.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_options_set_map_size(o: *mut ttlkv_options, bytes: u64) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_options_set_map_size", {
        let o = try_handle_mut!(o, "options");
        o.options.map_size = try_limit!(limits::map_size(bytes));
        TTLKV_OK
    })
}

/// Sets the size the map never grows beyond; a put that needs more fails with TTLKV_FULL.
///
/// Returns TTLKV_OK, or TTLKV_INVALID_ARGUMENT when `o` is NULL or `bytes` is below 16384 or
/// larger than the address space.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_options_set_max_map_size(o: *mut ttlkv_options, bytes: u64) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_options_set_max_map_size", {
        let o = try_handle_mut!(o, "options");
        o.options.max_map_size = try_limit!(limits::max_map_size(bytes));
        TTLKV_OK
    })
}

/// Sets the durability: TTLKV_DURABILITY_SYNC (a put is on disk when it returns; concurrent
/// writers share one fsync) or TTLKV_DURABILITY_PERIODIC (commits skip fsync, a background
/// flush runs every sync interval: a crash of the process loses nothing, a power loss can
/// lose the last interval).
///
/// Returns TTLKV_OK, or TTLKV_INVALID_ARGUMENT when `o` is NULL or `durability` is neither.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_options_set_durability(
    o: *mut ttlkv_options,
    durability: u32,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_options_set_durability", {
        let o = try_handle_mut!(o, "options");
        o.periodic = match durability {
            TTLKV_DURABILITY_SYNC => false,
            TTLKV_DURABILITY_PERIODIC => true,
            other => {
                return invalid(format_args!(
                "durability {other} is neither TTLKV_DURABILITY_SYNC (0) nor TTLKV_DURABILITY_PERIODIC (1)"
            ))
            }
        };
        TTLKV_OK
    })
}

/// Sets the interval of the background flush in TTLKV_DURABILITY_PERIODIC mode, in
/// milliseconds (1 to 86400000; default 1000). It belongs to that mode: `ttlkv_open` refuses
/// options that set it with TTLKV_DURABILITY_SYNC (TTLKV_INVALID_ARGUMENT), as every binding
/// does.
///
/// Returns TTLKV_OK, or TTLKV_INVALID_ARGUMENT when `o` is NULL or `ms` is out of range.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_options_set_sync_interval_ms(o: *mut ttlkv_options, ms: u64) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_options_set_sync_interval_ms", {
        let o = try_handle_mut!(o, "options");
        o.sync_interval = Some(try_limit!(limits::sync_interval(Duration::from_millis(ms))));
        TTLKV_OK
    })
}

/// Sets the number of LMDB reader slots (1 to 1048576; default 1024). The slots are shared by
/// every process using the store; the first process to create the store decides.
///
/// Returns TTLKV_OK, or TTLKV_INVALID_ARGUMENT when `o` is NULL or `n` is out of range.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_options_set_max_readers(o: *mut ttlkv_options, n: u32) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_options_set_max_readers", {
        let o = try_handle_mut!(o, "options");
        o.options.max_readers = try_limit!(limits::max_readers(n));
        TTLKV_OK
    })
}

/// Sets how many expired entries the background expiry thread removes per write transaction
/// (at least 1; default 10000). Smaller batches keep each transaction short.
///
/// Returns TTLKV_OK, or TTLKV_INVALID_ARGUMENT when `o` is NULL or `n` is 0 or too large.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_options_set_expiry_batch(o: *mut ttlkv_options, n: u64) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_options_set_expiry_batch", {
        let o = try_handle_mut!(o, "options");
        o.options.expiry_batch = try_limit!(limits::expiry_batch(n));
        TTLKV_OK
    })
}

/// TTLKV_DURABILITY_PERIODIC only: `enabled` non-zero writes through a writable memory map
/// (LMDB's MDB_WRITEMAP). Puts get several times faster, because a commit copies no pages; the
/// map's size is reserved on disk as it grows (data.mdb takes the map's size), so a full disk
/// is TTLKV_NO_SPACE, never a signal. The price: a power loss or OS crash between flushes can
/// leave the store corrupted instead of only missing the last interval. A process crash is
/// safe either way. Default 0. `ttlkv_open` refuses it with TTLKV_DURABILITY_SYNC
/// (TTLKV_INVALID_ARGUMENT).
///
/// Returns TTLKV_OK, or TTLKV_INVALID_ARGUMENT when `o` is NULL.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_options_set_write_map(o: *mut ttlkv_options, enabled: i32) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_options_set_write_map", {
        let o = try_handle_mut!(o, "options");
        o.options.write_map = enabled != 0;
        TTLKV_OK
    })
}

/// TTLKV_DURABILITY_PERIODIC only: `enabled` non-zero keeps the last flush reachable across a
/// power loss or OS crash. Each flush pins its snapshot and keeps its meta page in the flush
/// mark; `ttlkv_open` after an unclean shutdown of the machine returns the store to exactly
/// that flush and verifies it (TTLKV_STAT_ROLLED_BACK_AT_OPEN). The price: commits cannot
/// reuse pages freed since the last flush, so sustained writes grow the file and are bounded
/// by the disk's write speed (README, Durability). It holds while every process writing the
/// store opens it so. Default 0. `ttlkv_open` refuses it with TTLKV_DURABILITY_SYNC
/// (TTLKV_INVALID_ARGUMENT).
///
/// Returns TTLKV_OK, or TTLKV_INVALID_ARGUMENT when `o` is NULL.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_options_set_crash_safe(o: *mut ttlkv_options, enabled: i32) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_options_set_crash_safe", {
        let o = try_handle_mut!(o, "options");
        o.options.crash_safe = enabled != 0;
        TTLKV_OK
    })
}

/// `enabled` non-zero accepts a store directory that other users could tamper with: one owned
/// by another user, or writable by its group or by others. By default `ttlkv_open` refuses such
/// a directory with TTLKV_PERMISSION, because its other users could replace `lock.mdb` or
/// `data.mdb` with a link to one of your files between any check and the open. Set it only for
/// a directory shared on purpose by users who trust each other. Links, hard-linked files and
/// non-regular files in place of the store's files are refused (TTLKV_PATH_INVALID) either way.
/// Default 0.
///
/// Returns TTLKV_OK, or TTLKV_INVALID_ARGUMENT when `o` is NULL.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_options_set_allow_shared_dir(
    o: *mut ttlkv_options,
    enabled: i32,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_options_set_allow_shared_dir", {
        let o = try_handle_mut!(o, "options");
        o.options.allow_shared_dir = enabled != 0;
        TTLKV_OK
    })
}

/// Test hook: the store's clock is the system's wall clock shifted by `offset_ms`
/// milliseconds (a machine whose clock is off), for tests of clock skew between replicating
/// nodes. Default 0. Every deadline and version the store makes uses the shifted clock. Like
/// every option it belongs to the open environment: a second open of a directory this
/// process already has open shares the first open's clock.
///
/// Returns TTLKV_OK, or TTLKV_INVALID_ARGUMENT when `o` is NULL.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_options_set_clock_offset_ms(
    o: *mut ttlkv_options,
    offset_ms: i64,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_options_set_clock_offset_ms", {
        let o = try_handle_mut!(o, "options");
        o.options.clock = if offset_ms == 0 {
            crate::Clock::System
        } else {
            crate::Clock::SystemOffset(offset_ms)
        };
        TTLKV_OK
    })
}

/// `ttlkv_options_set_on_corruption()`: open fails with TTLKV_CORRUPTED, naming the path, and
/// touches nothing (the default).
pub const TTLKV_ON_CORRUPTION_ERROR: u32 = 0;
/// `ttlkv_options_set_on_corruption()`: the damaged directory is renamed aside
/// (`<dir>.corrupted-<unix ms>`) and a fresh, empty store opens in its place;
/// `ttlkv_corruption_reset()` tells where the old one went and TTLKV_STAT_CORRUPTION_RESETS
/// counts it. The cached data is lost; the application starts.
pub const TTLKV_ON_CORRUPTION_RESET: u32 = 1;

/// What `ttlkv_open()` does with a store it finds damaged — by an ordinary open, or by the full
/// check it runs after an unclean shutdown of the machine (TTLKV_STAT_VERIFIED_AT_OPEN):
/// TTLKV_ON_CORRUPTION_ERROR (default) or TTLKV_ON_CORRUPTION_RESET.
///
/// Returns TTLKV_OK, or TTLKV_INVALID_ARGUMENT when `o` is NULL or `mode` is not a
/// TTLKV_ON_CORRUPTION_* constant.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_options_set_on_corruption(o: *mut ttlkv_options, mode: u32) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_options_set_on_corruption", {
        let o = try_handle_mut!(o, "options");
        o.options.on_corruption = match mode {
            TTLKV_ON_CORRUPTION_ERROR => crate::OnCorruption::Error,
            TTLKV_ON_CORRUPTION_RESET => crate::OnCorruption::Reset,
            m => return invalid(format_args!("{m} is not a TTLKV_ON_CORRUPTION_* constant")),
        };
        TTLKV_OK
    })
}

/// Releases an options builder. NULL is allowed (nothing happens). Must not be called twice
/// on the same builder.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_options_free(o: *mut ttlkv_options) {
    ffi_panic_boundary!("ttlkv_options_free", {
        drop(ttlkv_options::to_box(o));
    })
}
