//! Lists returned by `ttlkv_keys`, `ttlkv_entries`, `ttlkv_scan`, `ttlkv_get_many` and
//! `ttlkv_namespaces`.

use super::cast::{try_ref, BoxCastPtr, Castable, OwnershipBox};
use super::status::invalid;
use super::status::ttlkv_status::{self, *};

/// A list of keys (from `ttlkv_keys()`), or of keys and their values (from
/// `ttlkv_entries()`), in key order. Opaque and immutable: several threads may read one list
/// at once. Released with `ttlkv_key_list_free()`; every pointer read from it stays valid
/// until then.
pub struct ttlkv_key_list {
    _private: [u8; 0],
}

/// The Rust side of a `ttlkv_key_list`.
pub(crate) enum KeyList {
    Keys(Vec<Vec<u8>>),
    Entries(Vec<(Vec<u8>, Vec<u8>)>),
    /// `ttlkv_get_many()`: each key asked for, and its value when it has a live entry.
    Found(Vec<(Vec<u8>, Option<Vec<u8>>)>),
}

impl KeyList {
    fn len(&self) -> usize {
        match self {
            KeyList::Keys(k) => k.len(),
            KeyList::Entries(e) => e.len(),
            KeyList::Found(f) => f.len(),
        }
    }

    fn key(&self, i: usize) -> Option<&[u8]> {
        match self {
            KeyList::Keys(k) => k.get(i).map(|k| &k[..]),
            KeyList::Entries(e) => e.get(i).map(|(k, _)| &k[..]),
            KeyList::Found(f) => f.get(i).map(|(k, _)| &k[..]),
        }
    }
}

impl Castable for ttlkv_key_list {
    type Ownership = OwnershipBox;
    type RustType = KeyList;
}

/// The number of entries of the list; 0 for NULL.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_key_list_len(l: *const ttlkv_key_list) -> usize {
    ffi_panic_boundary!("ttlkv_key_list_len", {
        match try_ref(l) {
            Some(list) => list.len(),
            None => 0,
        }
    })
}

/// The key at index `i` (0 to len - 1): on TTLKV_OK, `*key` points at `*len` bytes owned by
/// the list (valid until `ttlkv_key_list_free()`; not NUL-terminated; never NULL, even for
/// the empty key).
///
/// Returns TTLKV_OK; TTLKV_INVALID_ARGUMENT (`l`, `key` or `len` NULL, or `i` out of range);
/// TTLKV_PANIC.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_key_list_get(
    l: *const ttlkv_key_list,
    i: usize,
    key: *mut *const u8,
    len: *mut usize,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_key_list_get", {
        let list: &KeyList = try_handle!(l, "list");
        try_out!(key, "key");
        try_out!(len, "len");
        let Some(k) = list.key(i) else {
            return invalid(format_args!(
                "index {i} is out of range (the list has {})",
                list.len()
            ));
        };
        *key = k.as_ptr();
        *len = k.len();
        TTLKV_OK
    })
}

/// The value at index `i` of a list made by `ttlkv_entries()`, `ttlkv_scan()` or
/// `ttlkv_get_many()`: on TTLKV_OK, `*value` points at `*len` bytes owned by the list (valid
/// until `ttlkv_key_list_free()`; never NULL).
///
/// Returns TTLKV_OK; TTLKV_NOT_FOUND (`ttlkv_get_many()`: that key has no live entry);
/// TTLKV_INVALID_ARGUMENT (`l`, `value` or `len` NULL, `i` out of range, or a list of keys
/// only, from `ttlkv_keys()` or `ttlkv_namespaces()`); TTLKV_PANIC.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_key_list_value(
    l: *const ttlkv_key_list,
    i: usize,
    value: *mut *const u8,
    len: *mut usize,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_key_list_value", {
        let list: &KeyList = try_handle!(l, "list");
        try_out!(value, "value");
        try_out!(len, "len");
        let found = match list {
            KeyList::Entries(e) => e.get(i).map(|(_, v)| Some(v)),
            KeyList::Found(f) => f.get(i).map(|(_, v)| v.as_ref()),
            KeyList::Keys(_) => {
                return invalid(format_args!(
                    "the list holds keys only, no values (ttlkv_entries, ttlkv_scan and ttlkv_get_many make lists with values)"
                ))
            }
        };
        let v = match found {
            Some(Some(v)) => v,
            Some(None) => return TTLKV_NOT_FOUND,
            None => {
                return invalid(format_args!(
                    "index {i} is out of range (the list has {})",
                    list.len()
                ))
            }
        };
        *value = v.as_ptr();
        *len = v.len();
        TTLKV_OK
    })
}

/// Releases a list and everything read from it. NULL is allowed (nothing happens). Must not be
/// called twice on the same list.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_key_list_free(l: *mut ttlkv_key_list) {
    ffi_panic_boundary!("ttlkv_key_list_free", {
        drop(ttlkv_key_list::to_box(l));
    })
}
