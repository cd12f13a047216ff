//! Ownership of the opaque C types, and the NULL-checking helpers every function uses.
//!
//! Each opaque type (`ttlkv_store`, `ttlkv_options`, `ttlkv_key_list`) implements
//! [`Castable`], which names the Rust value behind the C pointer *and* how C owns it. Every
//! type here is [`OwnershipBox`]: made with `Box::into_raw` by a constructor, released with
//! `Box::from_raw` by its `_free`, borrowed in between. (A `ttlkv_store` is a boxed
//! [`crate::Store`], itself a shared reference to the environment, so several C handles on
//! one directory share one environment without the C side ever seeing an `Arc`.) Going
//! through these functions is the only way the ABI turns a pointer into a Rust value, so a
//! pointer can never be freed as the wrong type or with the wrong allocator.

/// Ownership kind: the C pointer is a `Box<RustType>` given away with `Box::into_raw`.
pub(crate) struct OwnershipBox;

/// Ties an opaque C type to the Rust type behind it and to its ownership kind.
pub(crate) trait Castable {
    /// How the C side owns the pointer.
    type Ownership;
    /// The Rust value the pointer points at.
    type RustType;
}

/// Box-owned casts: the only constructor and destructor of a Box-owned opaque type.
pub(crate) trait BoxCastPtr: Castable<Ownership = OwnershipBox> + Sized {
    /// Gives `value` to C.
    fn to_mut_ptr(value: Self::RustType) -> *mut Self {
        Box::into_raw(Box::new(value)).cast()
    }

    /// Takes ownership back from C; `None` for NULL.
    ///
    /// # Safety
    /// `ptr` is NULL or came from [`BoxCastPtr::to_mut_ptr`] of this type and was not taken
    /// back before.
    unsafe fn to_box(ptr: *mut Self) -> Option<Box<Self::RustType>> {
        if ptr.is_null() {
            None
        } else {
            Some(Box::from_raw(ptr.cast()))
        }
    }
}

impl<T: Castable<Ownership = OwnershipBox>> BoxCastPtr for T {}

/// Borrows the value behind a C pointer; `None` for NULL.
///
/// # Safety
/// `ptr` is NULL or a live pointer made by this type's constructor.
pub(crate) unsafe fn try_ref<'a, C: Castable>(ptr: *const C) -> Option<&'a C::RustType> {
    ptr.cast::<C::RustType>().as_ref()
}

/// Mutably borrows the value behind a C pointer; `None` for NULL.
///
/// # Safety
/// `ptr` is NULL or a live pointer made by this type's constructor, used by one thread.
pub(crate) unsafe fn try_mut<'a, C: Castable>(ptr: *mut C) -> Option<&'a mut C::RustType> {
    ptr.cast::<C::RustType>().as_mut()
}

/// An input byte string `(ptr, len)`: `NULL, 0` is empty; `NULL` with a length, or a length
/// no allocation can have, is `None`.
///
/// # Safety
/// A non-NULL `ptr` points at `len` readable bytes that stay unchanged during the call.
#[inline(always)]
pub(crate) unsafe fn input<'a>(ptr: *const u8, len: usize) -> Option<&'a [u8]> {
    if ptr.is_null() {
        if len == 0 {
            Some(&[])
        } else {
            None
        }
    } else if len > isize::MAX as usize {
        None
    } else {
        Some(std::slice::from_raw_parts(ptr, len))
    }
}

/// Returns from the enclosing boundary block with `TTLKV_INVALID_ARGUMENT` when an input
/// `(ptr, len)` is NULL with a non-zero length or longer than any allocation; otherwise the
/// slice.
macro_rules! try_input {
    ($ptr:expr, $len:expr, $what:literal) => {
        match $crate::ffi::cast::input($ptr, $len) {
            Some(s) => s,
            None if $ptr.is_null() => {
                return $crate::ffi::status::invalid(format_args!(
                    concat!(
                        $what,
                        " is NULL with length {} (NULL is allowed only with length 0)"
                    ),
                    $len
                ))
            }
            None => {
                return $crate::ffi::status::invalid(format_args!(
                    concat!(
                        $what,
                        " has length {}, over isize::MAX: no allocation is that long"
                    ),
                    $len
                ))
            }
        }
    };
}

/// Returns `TTLKV_INVALID_ARGUMENT` from the boundary block when an output pointer is NULL.
macro_rules! try_out {
    ($ptr:expr, $what:literal) => {
        if $ptr.is_null() {
            return $crate::ffi::status::invalid(format_args!(concat!($what, " is NULL")));
        }
    };
}

/// Borrows a handle, or returns `TTLKV_INVALID_ARGUMENT` from the boundary block for NULL.
macro_rules! try_handle {
    ($ptr:expr, $what:literal) => {
        match $crate::ffi::cast::try_ref($ptr) {
            Some(v) => v,
            None => return $crate::ffi::status::invalid(format_args!(concat!($what, " is NULL"))),
        }
    };
}

/// Mutably borrows a handle, or returns `TTLKV_INVALID_ARGUMENT` from the boundary block for NULL.
macro_rules! try_handle_mut {
    ($ptr:expr, $what:literal) => {
        match $crate::ffi::cast::try_mut($ptr) {
            Some(v) => v,
            None => return $crate::ffi::status::invalid(format_args!(concat!($what, " is NULL"))),
        }
    };
}

/// The value of a core result, or returns its status (with the detail recorded).
macro_rules! try_core {
    ($result:expr) => {
        match $result {
            Ok(v) => v,
            Err(e) => return $crate::ffi::status::fail_with(&e),
        }
    };
}
