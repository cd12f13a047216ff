//! Every limit of the store and every check of a caller's input, in one place.
//!
//! The Rust API, the C ABI and through it the Python and Elixir bindings take their ranges and
//! their error texts from here: an option setter of the ABI only converts its C type and calls
//! the check of that option; `Store::open` checks the options as a whole; every operation
//! checks its namespace, key, value, TTL and batch with the functions below. A new limit is one
//! edit here (and its constant reaches C through the generated header).

use std::time::Duration;

use crate::codec::{ENTRY_KEY_CAP, INDEX_OVERHEAD, NEVER};
use crate::error::{Error, ErrorKind, Result};
use crate::options::{Durability, Options};

/// The longest namespace, in bytes.
pub const MAX_NAMESPACE_LEN: usize = 255;
/// The largest value, in bytes (1 GiB). LMDB itself fails at 2 GiB.
pub const MAX_VALUE_LEN: usize = 1 << 30;
/// The most records one `put_many` takes: it is one transaction, and transactions stay bounded.
pub const MAX_BATCH_RECORDS: usize = 100_000;
/// The most bytes (keys and values) one `put_many` takes.
pub const MAX_BATCH_BYTES: usize = 1 << 30;
/// A TTL that never expires.
pub const TTL_NEVER: Duration = Duration::MAX;
/// The deadline reported for an entry that never expires.
pub const DEADLINE_NEVER: u64 = NEVER;
/// The smallest map (`map_size`, `max_map_size`), in bytes.
pub const MIN_MAP_SIZE: usize = 16 << 10;
/// The most reader slots (`max_readers`).
pub const MAX_READERS: u32 = 1 << 20;
/// The smallest size bound (`Store::set_max_bytes`), in bytes.
pub const MIN_MAX_BYTES: u64 = 64 << 10;
/// The most keys one `get_many` or `delete_many` takes, and the most entries one `scan`
/// returns: each is one transaction.
pub const MAX_KEYS_PER_CALL: usize = MAX_BATCH_RECORDS;
/// The longest `periodic` flush interval.
pub const MAX_SYNC_INTERVAL: Duration = Duration::from_secs(86_400);

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidArgument, message)
}

/// `map_size`: at least [`MIN_MAP_SIZE`], at most the address space.
pub(crate) fn map_size(bytes: u64) -> Result<usize> {
    map_bytes("map_size", bytes)
}

/// `max_map_size`: the same range as `map_size` (and not below it, see [`options`]).
pub(crate) fn max_map_size(bytes: u64) -> Result<usize> {
    map_bytes("max_map_size", bytes)
}

fn map_bytes(name: &str, bytes: u64) -> Result<usize> {
    if bytes < MIN_MAP_SIZE as u64 || bytes > isize::MAX as u64 {
        return Err(invalid(format!(
            "{name} {bytes} is not in {MIN_MAP_SIZE}..={} bytes",
            isize::MAX
        )));
    }
    Ok(bytes as usize)
}

/// `max_readers`: 1 to [`MAX_READERS`].
pub(crate) fn max_readers(n: u32) -> Result<u32> {
    if n == 0 || n > MAX_READERS {
        return Err(invalid(format!("max_readers {n} is not in 1..={MAX_READERS}")));
    }
    Ok(n)
}

/// `expiry_batch`: at least 1.
pub(crate) fn expiry_batch(n: u64) -> Result<usize> {
    if n == 0 || n > usize::MAX as u64 {
        return Err(invalid(format!("expiry_batch {n} is not at least 1")));
    }
    Ok(n as usize)
}

/// `sync_interval`: 1 ms to [`MAX_SYNC_INTERVAL`].
pub(crate) fn sync_interval(interval: Duration) -> Result<Duration> {
    if interval < Duration::from_millis(1) || interval > MAX_SYNC_INTERVAL {
        return Err(invalid(format!(
            "sync_interval {interval:?} is not in 1 ms..=1 day"
        )));
    }
    Ok(interval)
}

/// The durability of a builder that takes the mode and the interval apart (the C ABI's): an
/// interval belongs to `periodic` mode only.
pub(crate) fn durability(periodic: bool, interval: Option<Duration>) -> Result<Durability> {
    match (periodic, interval) {
        (true, interval) => Ok(Durability::Periodic {
            sync_interval: sync_interval(interval.unwrap_or(Duration::from_secs(1)))?,
        }),
        (false, None) => Ok(Durability::Sync),
        (false, Some(_)) => Err(invalid(
            "sync_interval applies to periodic durability only (the sync mode flushes every commit)".into(),
        )),
    }
}

/// The options as a whole: each one in its range, and the ones that depend on each other in
/// agreement.
pub(crate) fn options(o: &Options) -> Result<()> {
    map_size(o.map_size as u64)?;
    max_map_size(o.max_map_size as u64)?;
    if o.max_map_size < o.map_size {
        return Err(invalid(format!(
            "max_map_size {} is smaller than map_size {}",
            o.max_map_size, o.map_size
        )));
    }
    max_readers(o.max_readers)?;
    expiry_batch(o.expiry_batch as u64)?;
    if o.write_map && o.durability == Durability::Sync {
        return Err(invalid(
            "write_map needs periodic durability (with sync, LMDB would msync the whole map on every commit)"
                .into(),
        ));
    }
    if o.crash_safe && o.durability == Durability::Sync {
        return Err(invalid(
            "crash_safe needs periodic durability (sync mode keeps every acknowledged write anyway)".into(),
        ));
    }
    if let Durability::Periodic {
        sync_interval: interval,
    } = o.durability
    {
        sync_interval(interval)?;
    }
    Ok(())
}

/// A size bound: at least [`MIN_MAX_BYTES`] (0 is "no bound", given as `None`).
pub(crate) fn max_bytes(bytes: u64) -> Result<u64> {
    if bytes < MIN_MAX_BYTES {
        return Err(invalid(format!(
            "max_bytes {bytes} is below the smallest bound of {MIN_MAX_BYTES} bytes"
        )));
    }
    Ok(bytes)
}

/// The keys of one `get_many` or `delete_many`, or the `limit` of one `scan`: 1 (0 keys for
/// the many-key calls) to [`MAX_KEYS_PER_CALL`].
pub(crate) fn keys_per_call(what: &str, n: usize, zero_ok: bool) -> Result<()> {
    if n > MAX_KEYS_PER_CALL || (n == 0 && !zero_ok) {
        return Err(Error::new(
            if zero_ok {
                ErrorKind::BatchTooLarge
            } else {
                ErrorKind::InvalidArgument
            },
            format!(
                "{what} {n} is not in {}..={MAX_KEYS_PER_CALL}",
                u8::from(!zero_ok)
            ),
        ));
    }
    Ok(())
}

/// A TTL in milliseconds: a positive TTL never becomes 0 (it rounds up), [`TTL_NEVER`] is
/// [`NEVER`].
pub(crate) fn ttl_ms(ttl: Duration) -> Result<u64> {
    if ttl == TTL_NEVER {
        return Ok(NEVER);
    }
    if ttl.is_zero() {
        return Err(Error::new(
            ErrorKind::TtlInvalid,
            "a TTL of 0 is not allowed (use the never-expiring TTL for entries that must not expire)",
        ));
    }
    let ms = ttl.as_millis();
    let ms = if Duration::from_millis(ms as u64) < ttl {
        ms + 1
    } else {
        ms
    };
    Ok(u64::try_from(ms).unwrap_or(NEVER))
}

/// `now + ttl`, saturating below [`NEVER`] (which only the never-expiring TTL gets).
pub(crate) fn deadline_for(now: u64, ttl_ms: u64) -> Result<u64> {
    if ttl_ms == NEVER {
        return Ok(NEVER);
    }
    if ttl_ms == 0 {
        return Err(Error::new(ErrorKind::TtlInvalid, "a TTL of 0 is not allowed"));
    }
    Ok(now.saturating_add(ttl_ms).min(NEVER - 1))
}

/// A namespace: 1 to [`MAX_NAMESPACE_LEN`] bytes.
pub(crate) fn namespace(ns: &[u8]) -> Result<()> {
    if ns.is_empty() || ns.len() > MAX_NAMESPACE_LEN {
        return Err(Error::new(
            ErrorKind::NamespaceInvalid,
            format!("a namespace is 1 to {MAX_NAMESPACE_LEN} bytes, not {}", ns.len()),
        ));
    }
    Ok(())
}

/// The longest key of namespace `ns` when LMDB takes keys of `lmdb_max_key` bytes: the index
/// key is the longest record key, prefix (1) + deadline (8) + ns_len (1) + ns + key.
pub(crate) fn max_key_len(lmdb_max_key: usize, ns: &[u8]) -> usize {
    lmdb_max_key.min(ENTRY_KEY_CAP - 1) - INDEX_OVERHEAD - 1 - ns.len()
}

/// A namespace and a key.
#[inline]
pub(crate) fn key(lmdb_max_key: usize, ns: &[u8], key: &[u8]) -> Result<()> {
    namespace(ns)?;
    let max = max_key_len(lmdb_max_key, ns);
    if key.len() > max {
        return Err(Error::new(
            ErrorKind::KeyTooLong,
            format!(
                "a key of {} bytes is too long: in a namespace of {} bytes keys are at most {max} bytes",
                key.len(),
                ns.len()
            ),
        ));
    }
    Ok(())
}

/// A namespace, a key and a value.
#[inline]
pub(crate) fn record(lmdb_max_key: usize, ns: &[u8], k: &[u8], value: &[u8]) -> Result<()> {
    key(lmdb_max_key, ns, k)?;
    if value.len() > MAX_VALUE_LEN {
        return Err(Error::new(
            ErrorKind::ValueTooLarge,
            format!(
                "a value of {} bytes is over the limit of {MAX_VALUE_LEN} bytes (1 GiB)",
                value.len()
            ),
        ));
    }
    Ok(())
}

/// A batch's size, before its records are looked at: at most [`MAX_BATCH_RECORDS`] records
/// and [`MAX_BATCH_BYTES`] of keys and values.
pub(crate) fn batch(records: usize, bytes: usize) -> Result<()> {
    if records > MAX_BATCH_RECORDS {
        return Err(Error::new(
            ErrorKind::BatchTooLarge,
            format!("a batch of {records} records is over the limit of {MAX_BATCH_RECORDS}"),
        ));
    }
    if bytes > MAX_BATCH_BYTES {
        return Err(Error::new(
            ErrorKind::BatchTooLarge,
            format!("a batch of {bytes} bytes is over the limit of {MAX_BATCH_BYTES}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_rounds_sub_millisecond_up_and_rejects_zero() {
        assert_eq!(ttl_ms(Duration::from_micros(1)).unwrap(), 1);
        assert_eq!(ttl_ms(Duration::from_micros(1500)).unwrap(), 2);
        assert_eq!(ttl_ms(Duration::from_millis(7)).unwrap(), 7);
        assert_eq!(ttl_ms(TTL_NEVER).unwrap(), NEVER);
        assert_eq!(ttl_ms(Duration::ZERO).unwrap_err().kind(), ErrorKind::TtlInvalid);
        assert_eq!(deadline_for(10, NEVER - 1).unwrap(), NEVER - 1);
        assert_eq!(deadline_for(10, 5).unwrap(), 15);
    }

    #[test]
    fn option_ranges_have_one_definition() {
        assert!(map_size(MIN_MAP_SIZE as u64 - 1).is_err());
        assert!(map_size(MIN_MAP_SIZE as u64).is_ok());
        assert!(max_readers(0).is_err() && max_readers(MAX_READERS + 1).is_err());
        assert!(expiry_batch(0).is_err());
        assert!(sync_interval(Duration::from_micros(999)).is_err());
        assert!(sync_interval(MAX_SYNC_INTERVAL).is_ok());
        assert!(options(&Options::default().map_size(1 << 20).max_map_size(1 << 19)).is_err());
        assert!(options(&Options::default().write_map(true)).is_err());
        assert!(options(&Options::default().crash_safe(true)).is_err());
    }
}
