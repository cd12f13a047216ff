//! The C ABI (see include/ttlkv.h).
