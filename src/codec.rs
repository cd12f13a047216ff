//! Record and index encoding. The byte layout is part of the on-disk format (version 1):
//!
//! | record | key | value |
//! |---|---|---|
//! | entry | `ns_len:u8 · ns · key` | `deadline:u64 BE · version:u64 BE · flags:u8 · value` |
//! | index | `0x00 · deadline:u64 BE · ns_len:u8 · ns · key` | empty |
//! | settings | `0x01` | `max_bytes:u64 BE · eviction:u8` |
//!
//! All live in LMDB's main database. The settings record is one byte long, so it is no entry
//! (an entry key with `ns_len` 1 has at least two bytes); absent, every setting has its default. The namespace is length-prefixed, so `("a:b", "c")` and
//! `("a", "b:c")` never share bytes; `ns_len` is at least 1, so an entry key never starts with
//! the index prefix 0, and all index records sort before all entries, earliest deadline first.

/// Bytes in front of every stored value: deadline, version, flags.
pub(crate) const HEADER_LEN: usize = 17;
/// `flags` bit 0: the entry is a tombstone (reserved for replication; reads as absent).
pub(crate) const FLAG_TOMBSTONE: u8 = 1;
/// The deadline of an entry that never expires. Such entries have no index record.
pub const NEVER: u64 = u64::MAX;

/// The longest key LMDB takes in this build; every record's key must fit in it.
pub(crate) const ENTRY_KEY_CAP: usize = 512;
/// The first byte of every index key.
pub(crate) const INDEX_PREFIX: u8 = 0;
/// Bytes an index key adds in front of the entry key: prefix and deadline.
pub(crate) const INDEX_OVERHEAD: usize = 9;

/// An entry key built on the stack: `ns_len · ns · key`.
pub(crate) struct EntryKey {
    buf: [u8; ENTRY_KEY_CAP],
    len: usize,
}

impl EntryKey {
    /// The caller has validated the lengths (`1 + ns + key <= ENTRY_KEY_CAP`).
    #[inline]
    pub(crate) fn new(ns: &[u8], key: &[u8]) -> EntryKey {
        let mut buf = [0u8; ENTRY_KEY_CAP];
        buf[0] = ns.len() as u8;
        buf[1..1 + ns.len()].copy_from_slice(ns);
        let len = 1 + ns.len() + key.len();
        buf[1 + ns.len()..len].copy_from_slice(key);
        EntryKey { buf, len }
    }

    #[inline]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// The prefix every entry key of one namespace starts with.
pub(crate) fn namespace_prefix(ns: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(1 + ns.len());
    p.push(ns.len() as u8);
    p.extend_from_slice(ns);
    p
}

/// `0x00 · deadline · entry_key`, the index key, built on the stack.
pub(crate) struct IndexKey {
    buf: [u8; INDEX_OVERHEAD + ENTRY_KEY_CAP],
    len: usize,
}

impl IndexKey {
    #[inline]
    pub(crate) fn new(deadline: u64, entry_key: &[u8]) -> IndexKey {
        let mut buf = [0u8; INDEX_OVERHEAD + ENTRY_KEY_CAP];
        buf[0] = INDEX_PREFIX;
        buf[1..INDEX_OVERHEAD].copy_from_slice(&deadline.to_be_bytes());
        buf[INDEX_OVERHEAD..INDEX_OVERHEAD + entry_key.len()].copy_from_slice(entry_key);
        IndexKey {
            buf,
            len: INDEX_OVERHEAD + entry_key.len(),
        }
    }

    #[inline]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// True for index keys (they all sort before every entry key).
#[inline]
pub(crate) fn is_index_key(k: &[u8]) -> bool {
    k.first() == Some(&INDEX_PREFIX)
}

/// Splits an index key into its deadline and entry key; `None` for anything else.
#[inline]
pub(crate) fn split_index_key(k: &[u8]) -> Option<(u64, &[u8])> {
    if !is_index_key(k) || k.len() < INDEX_OVERHEAD + 1 {
        return None;
    }
    let deadline = u64::from_be_bytes(k[1..INDEX_OVERHEAD].try_into().ok()?);
    Some((deadline, &k[INDEX_OVERHEAD..]))
}

/// Splits an entry key into namespace and key.
pub(crate) fn split_entry_key(k: &[u8]) -> Option<(&[u8], &[u8])> {
    let ns_len = *k.first()? as usize;
    if ns_len == 0 || k.len() < 1 + ns_len {
        return None;
    }
    Some((&k[1..1 + ns_len], &k[1 + ns_len..]))
}

/// The key of the settings record.
pub(crate) const SETTINGS_KEY: &[u8] = &[1];
const SETTINGS_LEN: usize = 9;

/// The store-wide settings every process honours (the settings record).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Settings {
    /// The bound on the bytes of the B-tree, 0 for none.
    pub max_bytes: u64,
    /// What a write that would pass `max_bytes` does: evict (true) or fail with `Full`.
    pub evict: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            max_bytes: 0,
            evict: true,
        }
    }
}

impl Settings {
    pub(crate) fn encode(&self) -> [u8; SETTINGS_LEN] {
        let mut out = [0u8; SETTINGS_LEN];
        out[..8].copy_from_slice(&self.max_bytes.to_be_bytes());
        out[8] = u8::from(self.evict);
        out
    }

    /// `None` for a record of another length (damage).
    pub(crate) fn decode(v: &[u8]) -> Option<Settings> {
        if v.len() != SETTINGS_LEN || v[8] > 1 {
            return None;
        }
        Some(Settings {
            max_bytes: u64::from_be_bytes(v[..8].try_into().ok()?),
            evict: v[8] == 1,
        })
    }
}

/// Counters are stored as ASCII decimal signed 64-bit integers, so that every language and
/// the command line read them; `None` for anything else (no sign-only, no spaces, no `+`).
pub(crate) fn parse_counter(v: &[u8]) -> Option<i64> {
    let digits = v.strip_prefix(b"-").unwrap_or(v);
    if digits.is_empty() || digits.len() > 20 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// The decoded header of a stored value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub deadline: u64,
    pub version: u64,
    pub flags: u8,
}

impl Header {
    #[inline]
    pub(crate) fn encode_into(&self, out: &mut [u8]) {
        out[..8].copy_from_slice(&self.deadline.to_be_bytes());
        out[8..16].copy_from_slice(&self.version.to_be_bytes());
        out[16] = self.flags;
    }

    /// A value shorter than the header is damage, not data.
    #[inline]
    pub(crate) fn decode(v: &[u8]) -> Option<(Header, &[u8])> {
        if v.len() < HEADER_LEN {
            return None;
        }
        let deadline = u64::from_be_bytes(v[..8].try_into().ok()?);
        let version = u64::from_be_bytes(v[8..16].try_into().ok()?);
        Some((
            Header {
                deadline,
                version,
                flags: v[16],
            },
            &v[HEADER_LEN..],
        ))
    }

    /// Live: not a tombstone, and the deadline is still ahead of `now`.
    #[inline]
    pub(crate) fn is_live(&self, now: u64) -> bool {
        self.flags & FLAG_TOMBSTONE == 0 && self.deadline > now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_with_separators_never_collide() {
        let a = EntryKey::new(b"a:b", b"c");
        let b = EntryKey::new(b"a", b"b:c");
        assert_ne!(a.as_bytes(), b.as_bytes());
        assert_eq!(split_entry_key(a.as_bytes()), Some((&b"a:b"[..], &b"c"[..])));
        assert_eq!(split_entry_key(b.as_bytes()), Some((&b"a"[..], &b"b:c"[..])));
    }

    #[test]
    fn index_keys_sort_by_deadline_first() {
        let early = IndexKey::new(5, EntryKey::new(b"z", b"z").as_bytes());
        let late = IndexKey::new(6, EntryKey::new(b"a", b"a").as_bytes());
        assert!(early.as_bytes() < late.as_bytes());
        assert_eq!(split_index_key(late.as_bytes()).unwrap().0, 6);
        // Every index key sorts before every entry key.
        assert!(late.as_bytes() < EntryKey::new(&[0], b"").as_bytes());
        assert!(is_index_key(early.as_bytes()));
        assert!(split_index_key(EntryKey::new(b"ns", b"k").as_bytes()).is_none());
    }

    #[test]
    fn settings_and_counters_round_trip() {
        let s = Settings {
            max_bytes: 1 << 30,
            evict: false,
        };
        assert_eq!(Settings::decode(&s.encode()), Some(s));
        assert_eq!(Settings::decode(&s.encode()[..8]), None);
        assert!(split_entry_key(SETTINGS_KEY).is_none() && !is_index_key(SETTINGS_KEY));
        for (text, n) in [
            (&b"0"[..], Some(0)),
            (b"-12", Some(-12)),
            (b"9223372036854775807", Some(i64::MAX)),
        ] {
            assert_eq!(parse_counter(text), n);
        }
        assert_eq!(parse_counter(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"+1",
            b" 1",
            b"1 ",
            b"1.0",
            b"9223372036854775808",
            b"0x10",
            b"\xff",
        ] {
            assert_eq!(parse_counter(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn header_round_trips_and_short_values_are_rejected() {
        let h = Header {
            deadline: 42,
            version: 7,
            flags: 0,
        };
        let mut v = vec![0u8; HEADER_LEN + 3];
        h.encode_into(&mut v);
        v[HEADER_LEN..].copy_from_slice(b"abc");
        let (back, value) = Header::decode(&v).unwrap();
        assert_eq!(back, h);
        assert_eq!(value, b"abc");
        assert!(Header::decode(&v[..HEADER_LEN - 1]).is_none());
        assert!(back.is_live(41));
        assert!(!back.is_live(42));
    }
}
