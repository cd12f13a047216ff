//! A panic inside an exported function comes back through the C ABI as `TTLKV_PANIC` (NULL,
//! 0 or a static text for functions without a status), with a detail naming the function,
//! never unwinding into the caller, writing no output, and leaving the store usable.
//!
//! The panic is real: `debug_panic_in_next_call` (Rust-only, not in the header) makes the next
//! exported call on this thread panic inside its boundary, as a bug in ttlkv would.

use std::ffi::CStr;
use std::ptr;

use ttlkv::ffi::*;

fn last_error() -> String {
    unsafe { CStr::from_ptr(ttlkv_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fn open(dir: &std::path::Path) -> *mut ttlkv_store {
    let path = std::ffi::CString::new(dir.to_str().unwrap()).unwrap();
    let mut s = ptr::null_mut();
    assert_eq!(
        unsafe { ttlkv_open(path.as_ptr(), ptr::null(), &mut s) },
        ttlkv_status::TTLKV_OK
    );
    s
}

fn put(s: *mut ttlkv_store, key: &[u8], value: &[u8]) -> ttlkv_status {
    unsafe {
        ttlkv_put(
            s,
            b"ns".as_ptr(),
            2,
            key.as_ptr(),
            key.len(),
            value.as_ptr(),
            value.len(),
            60_000,
        )
    }
}

#[test]
fn a_panic_in_put_returns_ttlkv_panic_and_the_store_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    debug_panic_in_next_call();
    assert_eq!(put(s, b"k", b"v"), ttlkv_status::TTLKV_PANIC);
    let detail = last_error();
    assert!(
        detail.starts_with("panic in ttlkv_put: injected panic"),
        "{detail}"
    );
    // The injected panic happened before the put: nothing was written.
    let mut len = 0usize;
    let st = unsafe {
        ttlkv_get_into(
            s,
            b"ns".as_ptr(),
            2,
            b"k".as_ptr(),
            1,
            ptr::null_mut(),
            0,
            &mut len,
        )
    };
    assert_eq!(st, ttlkv_status::TTLKV_NOT_FOUND);
    // The handle is not poisoned.
    assert_eq!(put(s, b"k", b"v"), ttlkv_status::TTLKV_OK);
    assert_eq!(unsafe { ttlkv_close(s) }, ttlkv_status::TTLKV_OK);
    unsafe { ttlkv_free(s) };
}

#[test]
fn a_panic_in_get_writes_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    assert_eq!(put(s, b"k", b"value"), ttlkv_status::TTLKV_OK);
    let sentinel = 0x5a5a as *mut u8;
    let mut buf = ttlkv_buf {
        data: sentinel,
        len: 77,
    };
    debug_panic_in_next_call();
    let st = unsafe { ttlkv_get(s, b"ns".as_ptr(), 2, b"k".as_ptr(), 1, &mut buf) };
    assert_eq!(st, ttlkv_status::TTLKV_PANIC);
    assert_eq!((buf.data, buf.len), (sentinel, 77));
    assert!(last_error().starts_with("panic in ttlkv_get:"));
    let mut len = 99usize;
    let mut out = [0u8; 8];
    debug_panic_in_next_call();
    let st = unsafe {
        ttlkv_get_into(
            s,
            b"ns".as_ptr(),
            2,
            b"k".as_ptr(),
            1,
            out.as_mut_ptr(),
            8,
            &mut len,
        )
    };
    assert_eq!(st, ttlkv_status::TTLKV_PANIC);
    assert_eq!((len, out), (99, [0u8; 8]));
    unsafe { ttlkv_free(s) };
}

#[test]
fn functions_without_a_status_return_their_panic_value() {
    debug_panic_in_next_call();
    assert!(ttlkv_options_new().is_null());
    assert!(last_error().starts_with("panic in ttlkv_options_new:"));

    debug_panic_in_next_call();
    assert_eq!(unsafe { ttlkv_key_list_len(ptr::null()) }, 0);

    debug_panic_in_next_call();
    let text = unsafe { CStr::from_ptr(ttlkv_status_str(0)) };
    assert_eq!(text.to_str().unwrap(), "panic");

    debug_panic_in_next_call();
    assert_eq!(ttlkv_abi_version(), 0);
    assert_eq!(ttlkv_abi_version(), TTLKV_ABI_VERSION); // the trigger fires once

    // void functions swallow it.
    debug_panic_in_next_call();
    unsafe { ttlkv_buf_free(ptr::null_mut()) };
    assert!(last_error().starts_with("panic in ttlkv_buf_free:"));
}

#[test]
fn a_panic_does_not_cross_threads() {
    // The trigger and the detail are per thread.
    debug_panic_in_next_call();
    let other = std::thread::spawn(|| (ttlkv_abi_version(), last_error()))
        .join()
        .unwrap();
    assert_eq!(other, (TTLKV_ABI_VERSION, String::new()));
    assert_eq!(ttlkv_abi_version(), 0);
}
