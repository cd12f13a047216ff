//! `ttlkv_verify` through the C ABI: OK with 0 problems on a healthy store; on a damaged one,
//! still OK, with the number of problems and their description in `ttlkv_last_error()`.

use std::ffi::{CStr, CString};
use std::ptr;

use lmdb::{Transaction, WriteFlags};
use ttlkv::ffi::*;

fn open(path: &CString) -> *mut ttlkv_store {
    let mut s = ptr::null_mut();
    assert_eq!(
        unsafe { ttlkv_open(path.as_ptr(), ptr::null(), &mut s) },
        ttlkv_status::TTLKV_OK
    );
    s
}

fn verify(s: *mut ttlkv_store) -> u64 {
    let mut problems = u64::MAX;
    assert_eq!(unsafe { ttlkv_verify(s, &mut problems) }, ttlkv_status::TTLKV_OK);
    problems
}

#[test]
fn verify_counts_and_describes_an_index_record_without_its_entry() {
    let dir = tempfile::tempdir().unwrap();
    let path = CString::new(dir.path().to_str().unwrap()).unwrap();
    let s = open(&path);
    let st = unsafe {
        ttlkv_put(
            s,
            b"ns".as_ptr(),
            2,
            b"k".as_ptr(),
            1,
            b"v".as_ptr(),
            1,
            3_600_000,
        )
    };
    assert_eq!(st, ttlkv_status::TTLKV_OK);
    assert_eq!(verify(s), 0);
    unsafe {
        assert_eq!(ttlkv_close(s), ttlkv_status::TTLKV_OK); // closes the environment now
        ttlkv_free(s);
    }

    // Damage it behind ttlkv's back: a deadline-index record (0x00 · deadline · ns_len · ns ·
    // key, see src/codec.rs) for an entry that does not exist, due in the far future so that
    // the expiry thread leaves it alone.
    {
        let env = lmdb::Environment::new().set_max_dbs(8).open(dir.path()).unwrap();
        let db = env.open_db(None).unwrap();
        let mut txn = env.begin_rw_txn().unwrap();
        let mut key = vec![0u8];
        key.extend_from_slice(&(u64::MAX / 2).to_be_bytes());
        key.extend_from_slice(b"\x02nsghost");
        txn.put(db, &key, &[], WriteFlags::empty()).unwrap();
        txn.commit().unwrap();
    }

    let s = open(&path);
    assert!(verify(s) >= 1);
    let detail = unsafe { CStr::from_ptr(ttlkv_last_error()) }
        .to_string_lossy()
        .into_owned();
    assert!(
        detail.contains("problem(s)") && detail.contains("index record"),
        "{detail}"
    );
    // The live entry is still served.
    let mut len = 0usize;
    let mut out = [0u8; 4];
    let st = unsafe {
        ttlkv_get_into(
            s,
            b"ns".as_ptr(),
            2,
            b"k".as_ptr(),
            1,
            out.as_mut_ptr(),
            4,
            &mut len,
        )
    };
    assert_eq!((st, len, out[0]), (ttlkv_status::TTLKV_OK, 1, b'v'));
    unsafe {
        ttlkv_close(s);
        ttlkv_free(s);
    }
}
