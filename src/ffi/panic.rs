//! The panic boundary every exported function runs inside.
//!
//! A Rust panic must never unwind into C (since Rust 1.81 it aborts the process). Every
//! `extern "C"` body is wrapped in [`ffi_panic_boundary!`], which catches the panic, records
//! "panic in <function>: <message>" as this thread's last error, and returns the function's
//! panic value: `TTLKV_PANIC` for a status, NULL for a pointer, 0 for a length, nothing for a
//! `void` function, a static text for a `const char *`. No global panic hook is installed: the
//! process's own hook (by default a line on stderr) still sees the panic.

use std::any::Any;
use std::cell::Cell;
use std::ffi::c_char;

use super::status::{fail, ttlkv_status};

/// What an exported function returns when its body panicked.
pub(crate) trait PanicValue {
    fn panic_value() -> Self;
}

impl PanicValue for ttlkv_status {
    fn panic_value() -> Self {
        ttlkv_status::TTLKV_PANIC
    }
}

impl PanicValue for () {
    fn panic_value() -> Self {}
}

impl PanicValue for usize {
    fn panic_value() -> Self {
        0
    }
}

impl PanicValue for u32 {
    fn panic_value() -> Self {
        0
    }
}

impl PanicValue for *const c_char {
    fn panic_value() -> Self {
        b"panic\0".as_ptr().cast()
    }
}

impl PanicValue for *mut super::options::ttlkv_options {
    fn panic_value() -> Self {
        std::ptr::null_mut()
    }
}

/// Runs `$body` (a block; `return` leaves the block, not the function) and turns a panic
/// into the function's panic value. `$name` names the function in the detail text.
macro_rules! ffi_panic_boundary {
    ($name:literal, $body:block) => {{
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| {
            $crate::ffi::panic::injected_panic_point();
            $body
        })) {
            Ok(value) => value,
            Err(payload) => $crate::ffi::panic::caught($name, payload),
        }
    }};
}

/// Records the panic as this thread's last error and returns the panic value.
#[cold]
pub(crate) fn caught<T: PanicValue>(function: &str, payload: Box<dyn Any + Send>) -> T {
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(a panic without a message)");
    fail(
        ttlkv_status::TTLKV_PANIC,
        format_args!("panic in {function}: {message}"),
    );
    // Dropping a payload can itself panic (a payload type with a panicking Drop); keep that
    // inside too.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(payload)));
    T::panic_value()
}

thread_local! {
    static PANIC_NEXT_CALL: Cell<bool> = const { Cell::new(false) };
}

/// Test hook: the next exported function this thread calls panics inside its boundary, as a
/// bug in ttlkv would. This is how the tests prove that a panic comes back as `TTLKV_PANIC`
/// (or NULL, 0, …). It is not part of the C ABI (no symbol, not in the header).
#[doc(hidden)]
pub fn debug_panic_in_next_call() {
    PANIC_NEXT_CALL.with(|c| c.set(true));
}

#[inline(always)]
pub(crate) fn injected_panic_point() {
    // A thread-local flag read: a few nanoseconds next to the microsecond of a store call.
    if PANIC_NEXT_CALL.with(|c| c.get()) {
        PANIC_NEXT_CALL.with(|c| c.set(false));
        panic!("injected panic (ttlkv::ffi::debug_panic_in_next_call)");
    }
}
