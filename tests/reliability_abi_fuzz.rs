//! Bad input, fuzzed: random sequences of C ABI calls with NULL-or-valid pointers, random
//! lengths, random option values and random call orders (including after close). Every call
//! must return a documented status (never crash or hang), valid calls must agree with a model,
//! and invalid ones must leave the store unchanged.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::ptr;

use proptest::prelude::*;
use ttlkv::ffi::ttlkv_status::{self, *};
use ttlkv::ffi::*;

#[derive(Clone, Debug)]
enum Bytes {
    /// `NULL, 0`: the empty string.
    NullEmpty,
    /// `NULL` with a length: always TTLKV_INVALID_ARGUMENT.
    NullWithLen(usize),
    /// A real buffer.
    Data(Vec<u8>),
}

impl Bytes {
    fn ptr_len(&self) -> (*const u8, usize) {
        match self {
            Bytes::NullEmpty => (ptr::null(), 0),
            Bytes::NullWithLen(n) => (ptr::null(), *n),
            Bytes::Data(v) => (if v.is_empty() { [].as_ptr() } else { v.as_ptr() }, v.len()),
        }
    }
    fn is_null_with_len(&self) -> bool {
        matches!(self, Bytes::NullWithLen(_))
    }
    fn bytes(&self) -> Vec<u8> {
        match self {
            Bytes::Data(v) => v.clone(),
            _ => Vec::new(),
        }
    }
}

fn bytes(max_len: usize) -> impl Strategy<Value = Bytes> {
    prop_oneof![
        1 => Just(Bytes::NullEmpty),
        1 => (1..1_000_000usize).prop_map(Bytes::NullWithLen),
        8 => prop_oneof![
            4 => proptest::collection::vec(0..4u8, 0..3),
            1 => proptest::collection::vec(any::<u8>(), 0..max_len),
        ]
        .prop_map(Bytes::Data),
    ]
}

#[derive(Clone, Debug)]
enum Call {
    Put(Bytes, Bytes, Bytes, u64),
    Get(Bytes, Bytes),
    GetInto(Bytes, Bytes, usize, bool),
    Delete(Bytes, Bytes),
    Deadline(Bytes, Bytes),
    Keys(Bytes, usize),
    Entries(Bytes, usize),
    PutMany(Vec<(Bytes, Bytes, Bytes, u64)>, bool),
    MaxKeyLen(Bytes),
    Verify,
    Purge,
    StatusStr(u32),
    Options(u32, u64),
    Close,
    Reopen,
}

fn ttl() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), Just(u64::MAX), 1..100_000_000u64, Just(u64::MAX - 1)]
}

fn call() -> impl Strategy<Value = Call> {
    let ns = || bytes(300);
    let key = || bytes(600);
    prop_oneof![
        6 => (ns(), key(), bytes(64), ttl()).prop_map(|(a, b, c, t)| Call::Put(a, b, c, t)),
        4 => (ns(), key()).prop_map(|(a, b)| Call::Get(a, b)),
        2 => (ns(), key(), 0..80usize, any::<bool>()).prop_map(|(a, b, c, n)| Call::GetInto(a, b, c, n)),
        3 => (ns(), key()).prop_map(|(a, b)| Call::Delete(a, b)),
        1 => (ns(), key()).prop_map(|(a, b)| Call::Deadline(a, b)),
        1 => (ns(), 0..20usize).prop_map(|(a, i)| Call::Keys(a, i)),
        1 => (ns(), 0..20usize).prop_map(|(a, i)| Call::Entries(a, i)),
        2 => (proptest::collection::vec((ns(), key(), bytes(16), ttl()), 0..5), any::<bool>())
            .prop_map(|(r, null)| Call::PutMany(r, null)),
        1 => ns().prop_map(Call::MaxKeyLen),
        1 => Just(Call::Verify),
        1 => Just(Call::Purge),
        1 => any::<u32>().prop_map(Call::StatusStr),
        1 => (0..8u32, any::<u64>()).prop_map(|(w, v)| Call::Options(w, v)),
        1 => Just(Call::Close),
        1 => Just(Call::Reopen),
    ]
}

const DOCUMENTED: &[ttlkv_status] = &[
    TTLKV_OK,
    TTLKV_NOT_FOUND,
    TTLKV_INVALID_ARGUMENT,
    TTLKV_NAMESPACE_INVALID,
    TTLKV_KEY_TOO_LONG,
    TTLKV_VALUE_TOO_LARGE,
    TTLKV_TTL_INVALID,
    TTLKV_CLOSED,
    TTLKV_BATCH_TOO_LARGE,
    TTLKV_BUFFER_TOO_SMALL,
];

fn valid_key(ns: &Bytes, key: &Bytes) -> bool {
    let n = ns.bytes().len();
    !ns.is_null_with_len()
        && !key.is_null_with_len()
        && (1..=255).contains(&n)
        && key.bytes().len() <= 501 - n
}

struct Harness {
    path: CString,
    store: *mut ttlkv_store,
    closed: bool,
    model: BTreeMap<(Vec<u8>, Vec<u8>), Vec<u8>>,
}

impl Harness {
    fn check(&self, what: &str, st: ttlkv_status) -> ttlkv_status {
        assert!(
            DOCUMENTED.contains(&st),
            "{what}: undocumented status {st:?}: {}",
            last_error_string()
        );
        if self.closed {
            // Pointer checks come first; everything else reports the closed handle.
            assert!(
                matches!(st, TTLKV_CLOSED | TTLKV_INVALID_ARGUMENT),
                "{what} after close: {st:?}"
            );
        }
        st
    }

    unsafe fn run(&mut self, c: &Call) {
        let s = self.store;
        match c {
            Call::Put(ns, key, v, t) => {
                let ((np, nl), (kp, kl), (vp, vl)) = (ns.ptr_len(), key.ptr_len(), v.ptr_len());
                let st = self.check("put", ttlkv_put(s, np, nl, kp, kl, vp, vl, *t));
                let ok = valid_key(ns, key) && !v.is_null_with_len() && *t != 0;
                if !self.closed {
                    assert_eq!(st == TTLKV_OK, ok, "put {c:?} -> {st:?}");
                }
                if st == TTLKV_OK {
                    self.model.insert((ns.bytes(), key.bytes()), v.bytes());
                }
            }
            Call::Get(ns, key) => {
                let ((np, nl), (kp, kl)) = (ns.ptr_len(), key.ptr_len());
                let mut buf = ttlkv_buf {
                    data: ptr::null_mut(),
                    len: 0,
                };
                let st = self.check("get", ttlkv_get(s, np, nl, kp, kl, &mut buf));
                if !self.closed && valid_key(ns, key) {
                    match self.model.get(&(ns.bytes(), key.bytes())) {
                        Some(v) => {
                            assert_eq!(st, TTLKV_OK);
                            assert_eq!(std::slice::from_raw_parts(buf.data, buf.len), &v[..]);
                        }
                        None => assert_eq!(st, TTLKV_NOT_FOUND),
                    }
                }
                if st != TTLKV_OK {
                    assert!(buf.data.is_null() && buf.len == 0, "output written on failure");
                }
                ttlkv_buf_free(&mut buf);
            }
            Call::GetInto(ns, key, cap, null_buf) => {
                let ((np, nl), (kp, kl)) = (ns.ptr_len(), key.ptr_len());
                let mut out = vec![0xEEu8; *cap];
                let bp = if *null_buf {
                    ptr::null_mut()
                } else {
                    out.as_mut_ptr()
                };
                let mut len = usize::MAX;
                let st = self.check("get_into", ttlkv_get_into(s, np, nl, kp, kl, bp, *cap, &mut len));
                if st == TTLKV_OK {
                    let want = &self.model[&(ns.bytes(), key.bytes())];
                    assert_eq!(&out[..len], &want[..]);
                } else if st == TTLKV_BUFFER_TOO_SMALL {
                    assert_eq!(len, self.model[&(ns.bytes(), key.bytes())].len());
                    assert!(out.iter().all(|&b| b == 0xEE), "buffer written on failure");
                }
            }
            Call::Delete(ns, key) => {
                let ((np, nl), (kp, kl)) = (ns.ptr_len(), key.ptr_len());
                let st = self.check("delete", ttlkv_delete(s, np, nl, kp, kl));
                if !self.closed && valid_key(ns, key) {
                    let existed = self.model.remove(&(ns.bytes(), key.bytes())).is_some();
                    assert_eq!(st, if existed { TTLKV_OK } else { TTLKV_NOT_FOUND });
                }
            }
            Call::Deadline(ns, key) => {
                let ((np, nl), (kp, kl)) = (ns.ptr_len(), key.ptr_len());
                let mut d = 7u64;
                let st = self.check("deadline", ttlkv_deadline(s, np, nl, kp, kl, &mut d));
                if st != TTLKV_OK {
                    assert_eq!(d, 7, "output written on failure");
                }
            }
            Call::Keys(ns, i) | Call::Entries(ns, i) => {
                let (np, nl) = ns.ptr_len();
                let mut list: *mut ttlkv_key_list = ptr::null_mut();
                let entries = matches!(c, Call::Entries(..));
                let st = if entries {
                    self.check("entries", ttlkv_entries(s, np, nl, &mut list))
                } else {
                    self.check("keys", ttlkv_keys(s, np, nl, &mut list))
                };
                if st == TTLKV_OK {
                    let want: Vec<_> = self.model.iter().filter(|((n, _), _)| *n == ns.bytes()).collect();
                    assert_eq!(ttlkv_key_list_len(list), want.len());
                    let (mut kp, mut kl) = (ptr::null(), 0usize);
                    let st = ttlkv_key_list_get(list, *i, &mut kp, &mut kl);
                    if *i < want.len() {
                        assert_eq!(st, TTLKV_OK);
                        assert_eq!(std::slice::from_raw_parts(kp, kl), &want[*i].0 .1[..]);
                    } else {
                        assert_eq!(st, TTLKV_INVALID_ARGUMENT);
                    }
                    let st = ttlkv_key_list_value(list, *i, &mut kp, &mut kl);
                    assert_eq!(st == TTLKV_OK, entries && *i < want.len());
                    ttlkv_key_list_free(list);
                } else {
                    assert!(list.is_null(), "output written on failure");
                }
            }
            Call::PutMany(recs, null) => {
                let raw: Vec<ttlkv_record> = recs
                    .iter()
                    .map(|(n, k, v, t)| {
                        let ((np, nl), (kp, kl), (vp, vl)) = (n.ptr_len(), k.ptr_len(), v.ptr_len());
                        ttlkv_record {
                            ns: np,
                            ns_len: nl,
                            key: kp,
                            key_len: kl,
                            value: vp,
                            value_len: vl,
                            ttl_ms: *t,
                        }
                    })
                    .collect();
                let p = if *null { ptr::null() } else { raw.as_ptr() };
                let st = self.check("put_many", ttlkv_put_many(s, p, raw.len()));
                let ok = (!*null || raw.is_empty())
                    && recs
                        .iter()
                        .all(|(n, k, v, t)| valid_key(n, k) && !v.is_null_with_len() && *t != 0);
                if !self.closed {
                    assert_eq!(st == TTLKV_OK, ok, "put_many {c:?} -> {st:?}");
                }
                if st == TTLKV_OK {
                    for (n, k, v, _) in recs {
                        self.model.insert((n.bytes(), k.bytes()), v.bytes());
                    }
                }
            }
            Call::MaxKeyLen(ns) => {
                let (np, nl) = ns.ptr_len();
                let mut out = 0usize;
                self.check("max_key_len", ttlkv_max_key_len(s, np, nl, &mut out));
            }
            Call::Verify => {
                let mut problems = u64::MAX;
                if self.check("verify", ttlkv_verify(s, &mut problems)) == TTLKV_OK {
                    assert_eq!(problems, 0, "{}", last_error_string());
                }
            }
            Call::Purge => {
                let mut n = 0u64;
                self.check("purge", ttlkv_purge_expired(s, &mut n));
            }
            Call::StatusStr(code) => {
                let p = ttlkv_status_str(*code);
                assert!(!p.is_null());
                assert!(!std::ffi::CStr::from_ptr(p).to_bytes().is_empty());
            }
            Call::Options(which, v) => {
                let o = ttlkv_options_new();
                let st = match which {
                    0 => ttlkv_options_set_map_size(o, *v),
                    1 => ttlkv_options_set_max_map_size(o, *v),
                    2 => ttlkv_options_set_durability(o, *v as u32),
                    3 => ttlkv_options_set_sync_interval_ms(o, *v),
                    4 => ttlkv_options_set_max_readers(o, *v as u32),
                    5 => ttlkv_options_set_expiry_batch(o, *v),
                    6 => ttlkv_options_set_map_size(ptr::null_mut(), *v),
                    _ => ttlkv_options_set_durability(ptr::null_mut(), 0),
                };
                assert!(
                    matches!(st, TTLKV_OK | TTLKV_INVALID_ARGUMENT),
                    "option {which}={v}: {st:?}"
                );
                // Opening another directory with these options succeeds or fails cleanly.
                let dir = tempfile::tempdir().unwrap();
                let p = CString::new(dir.path().join("o").to_str().unwrap()).unwrap();
                let mut other: *mut ttlkv_store = ptr::null_mut();
                let st = ttlkv_open(p.as_ptr(), o, &mut other);
                assert!(
                    matches!(st, TTLKV_OK | TTLKV_INVALID_ARGUMENT),
                    "open with option {which}={v}: {st:?}"
                );
                assert_eq!(other.is_null(), st != TTLKV_OK);
                ttlkv_free(other);
                ttlkv_options_free(o);
            }
            Call::Close => {
                assert_eq!(ttlkv_close(s), TTLKV_OK);
                self.closed = true;
            }
            Call::Reopen => {
                ttlkv_free(self.store);
                let mut out = ptr::null_mut();
                assert_eq!(ttlkv_open(self.path.as_ptr(), ptr::null(), &mut out), TTLKV_OK);
                self.store = out;
                self.closed = false;
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
    #[test]
    fn random_abi_calls_return_documented_statuses_and_agree_with_a_model(
        calls in proptest::collection::vec(call(), 1..60)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = CString::new(dir.path().join("s").to_str().unwrap()).unwrap();
        let mut store = ptr::null_mut();
        // SAFETY: every pointer handed to the ABI below is NULL or valid for its length.
        unsafe {
            prop_assert_eq!(ttlkv_open(path.as_ptr(), ptr::null(), &mut store), TTLKV_OK);
            let mut h = Harness { path, store, closed: false, model: BTreeMap::new() };
            for c in &calls {
                h.run(c);
            }
            if !h.closed {
                let mut problems = 1u64;
                prop_assert_eq!(ttlkv_verify(h.store, &mut problems), TTLKV_OK);
                prop_assert_eq!(problems, 0);
            }
            ttlkv_free(h.store);
        }
    }
}

#[test]
fn null_handles_are_invalid_arguments_everywhere() {
    // SAFETY: NULL handles are documented inputs.
    unsafe {
        let s: *mut ttlkv_store = ptr::null_mut();
        let mut buf = ttlkv_buf {
            data: ptr::null_mut(),
            len: 0,
        };
        let mut n = 0u64;
        let mut list = ptr::null_mut();
        assert_eq!(
            ttlkv_put(s, b"n".as_ptr(), 1, ptr::null(), 0, ptr::null(), 0, 1),
            TTLKV_INVALID_ARGUMENT
        );
        assert_eq!(
            ttlkv_get(s, b"n".as_ptr(), 1, ptr::null(), 0, &mut buf),
            TTLKV_INVALID_ARGUMENT
        );
        assert_eq!(
            ttlkv_delete(s, b"n".as_ptr(), 1, ptr::null(), 0),
            TTLKV_INVALID_ARGUMENT
        );
        assert_eq!(ttlkv_keys(s, b"n".as_ptr(), 1, &mut list), TTLKV_INVALID_ARGUMENT);
        assert_eq!(ttlkv_verify(s, &mut n), TTLKV_INVALID_ARGUMENT);
        assert_eq!(ttlkv_close(s), TTLKV_INVALID_ARGUMENT);
        assert_eq!(ttlkv_key_list_len(ptr::null()), 0);
        ttlkv_free(s);
        ttlkv_buf_free(ptr::null_mut());
        ttlkv_key_list_free(ptr::null_mut());
        ttlkv_options_free(ptr::null_mut());
    }
}
