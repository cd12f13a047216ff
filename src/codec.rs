//! Record and index encoding. The byte layout is part of the on-disk format (version 1):
//!
//! | record | key | value |
//! |---|---|---|
//! | entry | `ns_len:u8 · ns · key` | `deadline:u64 BE · version:u64 BE · flags:u8 · [origin:u64 BE] · value` |
//! | index | `0x00 · deadline:u64 BE · ns_len:u8 · ns · key` | empty |
//! | settings | `0x01` | `max_bytes:u64 BE · eviction:u8 · [replication]` |
//!
//! `flags` bit 0 marks a tombstone, bit 1 an `origin` field: an entry merged from another
//! store carries that store's origin; one without the field was written by this store. The
//! settings' optional replication part is `replicated:u8 · max_ttl:u64 BE · n:u16 BE ·
//! (ns_len:u8 · ns · max_ttl:u64 BE) × n`: whether deletes leave tombstones, and the largest
//! TTL written in the store and in each of up to [`MAX_TTL_NAMESPACES`] namespaces (what a
//! tombstone must outlive).
//!
//! All live in LMDB's main database. The settings record is one byte long, so it is no entry
//! (an entry key with `ns_len` 1 has at least two bytes); absent, every setting has its default. The namespace is length-prefixed, so `("a:b", "c")` and
//! `("a", "b:c")` never share bytes; `ns_len` is at least 1, so an entry key never starts with
//! the index prefix 0, and all index records sort before all entries, earliest deadline first.

/// Bytes in front of every stored value written by this store: deadline, version, flags.
pub(crate) const HEADER_LEN: usize = 17;
/// Bytes of the origin field of an entry merged from another store.
const ORIGIN_LEN: usize = 8;
/// `flags` bit 0: the entry is a tombstone (a delete on a replicating store; reads as absent).
pub(crate) const FLAG_TOMBSTONE: u8 = 1;
/// `flags` bit 1: an origin field follows the flags.
const FLAG_ORIGIN: u8 = 2;
/// The namespaces whose largest TTL the settings record keeps one by one; the others share
/// the store-wide largest.
pub(crate) const MAX_TTL_NAMESPACES: usize = 256;
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Settings {
    /// The bound on the bytes of the B-tree, 0 for none.
    pub max_bytes: u64,
    /// What a write that would pass `max_bytes` does: evict (true) or fail with `Full`.
    pub evict: bool,
    /// Whether the store replicates: its deletes leave tombstones.
    pub replicated: bool,
    /// The largest TTL written in the store (ms; [`NEVER`] for an entry that never expires).
    pub max_ttl: u64,
    /// The largest TTL written in each namespace, for up to [`MAX_TTL_NAMESPACES`].
    pub ns_ttls: Vec<(Vec<u8>, u64)>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            max_bytes: 0,
            evict: true,
            replicated: false,
            max_ttl: 0,
            ns_ttls: Vec::new(),
        }
    }
}

impl Settings {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SETTINGS_LEN);
        out.extend_from_slice(&self.max_bytes.to_be_bytes());
        out.push(u8::from(self.evict));
        if self.replicated || self.max_ttl > 0 || !self.ns_ttls.is_empty() {
            out.push(u8::from(self.replicated));
            out.extend_from_slice(&self.max_ttl.to_be_bytes());
            out.extend_from_slice(&(self.ns_ttls.len() as u16).to_be_bytes());
            for (ns, ttl) in &self.ns_ttls {
                out.push(ns.len() as u8);
                out.extend_from_slice(ns);
                out.extend_from_slice(&ttl.to_be_bytes());
            }
        }
        out
    }

    /// `None` for a record that does not parse (damage).
    pub(crate) fn decode(v: &[u8]) -> Option<Settings> {
        if v.len() < SETTINGS_LEN || v[8] > 1 {
            return None;
        }
        let mut s = Settings {
            max_bytes: u64::from_be_bytes(v[..8].try_into().ok()?),
            evict: v[8] == 1,
            ..Settings::default()
        };
        let mut rest = &v[SETTINGS_LEN..];
        if rest.is_empty() {
            return Some(s);
        }
        if rest.len() < 11 || rest[0] > 1 {
            return None;
        }
        s.replicated = rest[0] == 1;
        s.max_ttl = u64::from_be_bytes(rest[1..9].try_into().ok()?);
        let n = u16::from_be_bytes(rest[9..11].try_into().ok()?) as usize;
        rest = &rest[11..];
        for _ in 0..n {
            let len = *rest.first()? as usize;
            if len == 0 || rest.len() < 1 + len + 8 {
                return None;
            }
            let ttl = u64::from_be_bytes(rest[1 + len..1 + len + 8].try_into().ok()?);
            s.ns_ttls.push((rest[1..1 + len].to_vec(), ttl));
            rest = &rest[1 + len + 8..];
        }
        rest.is_empty().then_some(s)
    }

    /// The largest TTL `ns` has been written with (the store-wide one for a namespace not
    /// kept one by one).
    pub(crate) fn max_ttl_of(&self, ns: &[u8]) -> u64 {
        self.ns_ttls
            .iter()
            .find(|(n, _)| n == ns)
            .map_or(self.max_ttl, |&(_, t)| t)
    }

    /// Notes a write of `ns` with `ttl`; true if the record must be written again.
    pub(crate) fn note_ttl(&mut self, ns: &[u8], ttl: u64) -> bool {
        let mut changed = false;
        if ttl > self.max_ttl {
            self.max_ttl = ttl;
            changed = true;
        }
        let kept = self.ns_ttls.len();
        match self.ns_ttls.iter_mut().find(|(n, _)| n == ns) {
            Some((_, t)) if *t >= ttl => {}
            Some((_, t)) => {
                *t = ttl;
                changed = true;
            }
            None if kept < MAX_TTL_NAMESPACES => {
                self.ns_ttls.push((ns.to_vec(), ttl));
                changed = true;
            }
            None => {}
        }
        changed
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
    /// The store that wrote the entry, when another than this one (merged from a peer).
    pub origin: Option<u64>,
}

impl Header {
    /// A header for an entry this store writes.
    #[inline]
    pub(crate) fn own(deadline: u64, version: u64, tombstone: bool) -> Header {
        Header {
            deadline,
            version,
            flags: if tombstone { FLAG_TOMBSTONE } else { 0 },
            origin: None,
        }
    }

    /// The bytes the header takes in front of the value.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        if self.origin.is_some() {
            HEADER_LEN + ORIGIN_LEN
        } else {
            HEADER_LEN
        }
    }

    #[inline]
    pub(crate) fn encode_into(&self, out: &mut [u8]) {
        out[..8].copy_from_slice(&self.deadline.to_be_bytes());
        out[8..16].copy_from_slice(&self.version.to_be_bytes());
        match self.origin {
            None => out[16] = self.flags & !FLAG_ORIGIN,
            Some(o) => {
                out[16] = self.flags | FLAG_ORIGIN;
                out[HEADER_LEN..HEADER_LEN + ORIGIN_LEN].copy_from_slice(&o.to_be_bytes());
            }
        }
    }

    /// A value shorter than its header is damage, not data.
    #[inline]
    pub(crate) fn decode(v: &[u8]) -> Option<(Header, &[u8])> {
        if v.len() < HEADER_LEN {
            return None;
        }
        let deadline = u64::from_be_bytes(v[..8].try_into().ok()?);
        let version = u64::from_be_bytes(v[8..16].try_into().ok()?);
        let flags = v[16];
        if flags & FLAG_ORIGIN == 0 {
            return Some((
                Header {
                    deadline,
                    version,
                    flags,
                    origin: None,
                },
                &v[HEADER_LEN..],
            ));
        }
        let end = HEADER_LEN + ORIGIN_LEN;
        if v.len() < end {
            return None;
        }
        let origin = u64::from_be_bytes(v[HEADER_LEN..end].try_into().ok()?);
        Some((
            Header {
                deadline,
                version,
                flags: flags & !FLAG_ORIGIN,
                origin: Some(origin),
            },
            &v[end..],
        ))
    }

    /// Live: not a tombstone, and the deadline is still ahead of `now`.
    #[inline]
    pub(crate) fn is_live(&self, now: u64) -> bool {
        self.flags & FLAG_TOMBSTONE == 0 && self.deadline > now
    }

    #[inline]
    pub(crate) fn is_tombstone(&self) -> bool {
        self.flags & FLAG_TOMBSTONE != 0
    }

    /// The order of last-writer-wins between stores: version, then origin (`own` for an
    /// entry this store wrote).
    #[inline]
    pub(crate) fn order(&self, own: u64) -> (u64, u64) {
        (self.version, self.origin.unwrap_or(own))
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
        let mut s = Settings {
            max_bytes: 1 << 30,
            evict: false,
            ..Settings::default()
        };
        assert_eq!(Settings::decode(&s.encode()), Some(s.clone()));
        assert_eq!(s.encode().len(), SETTINGS_LEN);
        assert_eq!(Settings::decode(&s.encode()[..8]), None);
        s.replicated = true;
        assert!(s.note_ttl(b"ns", 60_000));
        assert!(!s.note_ttl(b"ns", 1_000));
        assert!(s.note_ttl(b"other", 120_000));
        assert_eq!((s.max_ttl_of(b"ns"), s.max_ttl_of(b"unseen")), (60_000, 120_000));
        let enc = s.encode();
        assert_eq!(Settings::decode(&enc), Some(s.clone()));
        assert_eq!(Settings::decode(&enc[..enc.len() - 1]), None);
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
        let merged = Header {
            origin: Some(99),
            ..Header::own(42, 7, true)
        };
        let mut v = vec![0u8; merged.len() + 3];
        merged.encode_into(&mut v);
        v[merged.len()..].copy_from_slice(b"xyz");
        assert_eq!(Header::decode(&v), Some((merged, &b"xyz"[..])));
        assert!(merged.is_tombstone() && !merged.is_live(0));
        assert_eq!(merged.order(5), (7, 99));
        assert!(Header::decode(&v[..HEADER_LEN + 7]).is_none());
        let h = Header::own(42, 7, false);
        assert_eq!(h.order(5), (7, 5));
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
