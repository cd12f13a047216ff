"""The C ABI of ``include/ttlkv.h`` as ctypes tables. Generated: do not edit.

Written by ``bindings/python/tools/gen_abi.py`` from the header; after the header changes,
refresh it with ``make python-abi`` (tests/test_header.py fails while it is stale).
``ttlkv._ffi`` applies ``FUNCTIONS`` to the loaded library.
"""

from __future__ import annotations

from ctypes import POINTER, Structure, c_char, c_char_p, c_int32, c_int64, c_size_t, c_uint32, c_uint64, c_void_p
from typing import Any, Dict, List, Tuple, Type


#: TTLKV_ABI_VERSION: the ABI these tables describe; ttlkv._ffi refuses a library of another.
ABI_VERSION = 1
#: TTLKV_VERSION_NUMBER of the header: (major << 16) | (minor << 8) | patch.
VERSION_NUMBER = 256

#: Every ttlkv_status code, by name. Numbers are never reused.
STATUS: Dict[str, int] = {
    "TTLKV_OK": 0,
    "TTLKV_NOT_FOUND": 1,
    "TTLKV_CONFLICT": 2,
    "TTLKV_INVALID_ARGUMENT": 100,
    "TTLKV_NAMESPACE_INVALID": 101,
    "TTLKV_KEY_TOO_LONG": 102,
    "TTLKV_VALUE_TOO_LARGE": 103,
    "TTLKV_TTL_INVALID": 104,
    "TTLKV_CLOSED": 105,
    "TTLKV_BATCH_TOO_LARGE": 106,
    "TTLKV_BUFFER_TOO_SMALL": 107,
    "TTLKV_PATH_INVALID": 108,
    "TTLKV_NOT_A_COUNTER": 109,
    "TTLKV_OVERFLOW": 110,
    "TTLKV_IO": 200,
    "TTLKV_FULL": 201,
    "TTLKV_CORRUPTED": 202,
    "TTLKV_INCOMPATIBLE": 203,
    "TTLKV_NO_SPACE": 204,
    "TTLKV_PERMISSION": 205,
    "TTLKV_READERS_FULL": 206,
    "TTLKV_STORAGE": 207,
    "TTLKV_PANIC": 900,
}

#: Every other integer constant of the header, by name.
CONSTANTS: Dict[str, int] = {
    "TTLKV_ABI_VERSION": 1,
    "TTLKV_TTL_NEVER": 18_446_744_073_709_551_615,
    "TTLKV_DEADLINE_NEVER": 18_446_744_073_709_551_615,
    "TTLKV_DURABILITY_SYNC": 0,
    "TTLKV_DURABILITY_PERIODIC": 1,
    "TTLKV_MAX_NAMESPACE_LEN": 255,
    "TTLKV_MAX_VALUE_LEN": 1_073_741_824,
    "TTLKV_MAX_BATCH_RECORDS": 100_000,
    "TTLKV_MAX_BATCH_BYTES": 1_073_741_824,
    "TTLKV_MAX_KEYS_PER_CALL": 100_000,
    "TTLKV_MIN_MAX_BYTES": 65536,
    "TTLKV_STAT_EXPIRED_REMOVED": 0,
    "TTLKV_STAT_EXPIRY_BATCHES": 1,
    "TTLKV_STAT_EXPIRY_PANICS": 2,
    "TTLKV_STAT_EXPIRY_ERRORS": 3,
    "TTLKV_STAT_READERS_RECLAIMED": 4,
    "TTLKV_STAT_MAP_SIZE": 5,
    "TTLKV_STAT_USED_BYTES": 6,
    "TTLKV_STAT_WRITE_COMMITS": 7,
    "TTLKV_STAT_WRITE_CALLS": 8,
    "TTLKV_STAT_POOLED_READERS": 9,
    "TTLKV_STAT_EVICTED": 10,
    "TTLKV_STAT_TREE_BYTES": 11,
    "TTLKV_STAT_VERIFIED_AT_OPEN": 12,
    "TTLKV_STAT_CORRUPTION_RESETS": 13,
    "TTLKV_STAT_ROLLED_BACK_AT_OPEN": 14,
    "TTLKV_INCR_CREATE": 1,
    "TTLKV_VERSION_ABSENT": 0,
    "TTLKV_EVICTION_SOONEST_DEADLINE": 0,
    "TTLKV_EVICTION_NONE": 1,
    "TTLKV_BACKUP_COMPACT": 1,
    "TTLKV_LEN_NOT_FOUND": 18_446_744_073_709_551_615,
    "TTLKV_ON_CORRUPTION_ERROR": 0,
    "TTLKV_ON_CORRUPTION_RESET": 1,
    "TTLKV_REPLICA_TOMBSTONE": 1,
    "TTLKV_MAX_DIGEST_BUCKETS": 65536,
}


class ttlkv_key_list(Structure):
    """Opaque ``struct ttlkv_key_list``: only pointers to it exist."""


class ttlkv_options(Structure):
    """Opaque ``struct ttlkv_options``: only pointers to it exist."""


class ttlkv_replica_list(Structure):
    """Opaque ``struct ttlkv_replica_list``: only pointers to it exist."""


class ttlkv_store(Structure):
    """Opaque ``struct ttlkv_store``: only pointers to it exist."""


class ttlkv_buf(Structure):
    """``struct ttlkv_buf``."""

    _fields_ = [
        ("data", c_void_p),  # uint8_t *data
        ("len", c_size_t),  # size_t len
    ]


class ttlkv_slice(Structure):
    """``struct ttlkv_slice``."""

    _fields_ = [
        ("ptr", c_char_p),  # const uint8_t *ptr
        ("len", c_size_t),  # size_t len
    ]


class ttlkv_record(Structure):
    """``struct ttlkv_record``."""

    _fields_ = [
        ("ns", c_char_p),  # const uint8_t *ns
        ("ns_len", c_size_t),  # size_t ns_len
        ("key", c_char_p),  # const uint8_t *key
        ("key_len", c_size_t),  # size_t key_len
        ("value", c_char_p),  # const uint8_t *value
        ("value_len", c_size_t),  # size_t value_len
        ("ttl_ms", c_uint64),  # uint64_t ttl_ms
    ]


class ttlkv_replica_record(Structure):
    """``struct ttlkv_replica_record``."""

    _fields_ = [
        ("ns", c_char_p),  # const uint8_t *ns
        ("ns_len", c_size_t),  # size_t ns_len
        ("key", c_char_p),  # const uint8_t *key
        ("key_len", c_size_t),  # size_t key_len
        ("value", c_char_p),  # const uint8_t *value
        ("value_len", c_size_t),  # size_t value_len
        ("deadline", c_uint64),  # uint64_t deadline
        ("version", c_uint64),  # uint64_t version
        ("origin", c_uint64),  # uint64_t origin
        ("flags", c_uint32),  # uint32_t flags
    ]


#: The structs with fields, by name.
STRUCTS: Dict[str, Type[Structure]] = {
    "ttlkv_buf": ttlkv_buf,
    "ttlkv_slice": ttlkv_slice,
    "ttlkv_record": ttlkv_record,
    "ttlkv_replica_record": ttlkv_replica_record,
}

#: The opaque structs, by name.
OPAQUE: Dict[str, Type[Structure]] = {
    "ttlkv_key_list": ttlkv_key_list,
    "ttlkv_options": ttlkv_options,
    "ttlkv_replica_list": ttlkv_replica_list,
    "ttlkv_store": ttlkv_store,
}

#: Every function of the header: name -> (restype, argtypes), in the header's order.
FUNCTIONS: Dict[str, Tuple[Any, List[Any]]] = {
    "ttlkv_abi_version": (
        c_uint32,  # uint32_t
        [],
    ),
    "ttlkv_version_number": (
        c_uint32,  # uint32_t
        [],
    ),
    "ttlkv_version": (
        c_char_p,  # const char *
        [],
    ),
    "ttlkv_status_str": (
        c_char_p,  # const char *
        [
            c_uint32,  # uint32_t code
        ],
    ),
    "ttlkv_status_name": (
        c_char_p,  # const char *
        [
            c_uint32,  # uint32_t code
        ],
    ),
    "ttlkv_last_error": (
        c_char_p,  # const char *
        [],
    ),
    "ttlkv_touch": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            c_char_p,  # const uint8_t *ns
            c_size_t,  # size_t ns_len
            c_char_p,  # const uint8_t *key
            c_size_t,  # size_t key_len
            c_uint64,  # uint64_t ttl_ms
        ],
    ),
    "ttlkv_add": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            c_char_p,  # const uint8_t *ns
            c_size_t,  # size_t ns_len
            c_char_p,  # const uint8_t *key
            c_size_t,  # size_t key_len
            c_char_p,  # const uint8_t *value
            c_size_t,  # size_t value_len
            c_uint64,  # uint64_t ttl_ms
        ],
    ),
    "ttlkv_incr": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            c_char_p,  # const uint8_t *ns
            c_size_t,  # size_t ns_len
            c_char_p,  # const uint8_t *key
            c_size_t,  # size_t key_len
            c_int64,  # int64_t delta
            c_uint32,  # uint32_t flags
            c_uint64,  # uint64_t create_ttl_ms
            POINTER(c_int64),  # int64_t *out
        ],
    ),
    "ttlkv_take": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            c_char_p,  # const uint8_t *ns
            c_size_t,  # size_t ns_len
            c_char_p,  # const uint8_t *key
            c_size_t,  # size_t key_len
            POINTER(ttlkv_buf),  # struct ttlkv_buf *out
        ],
    ),
    "ttlkv_get_versioned": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            c_char_p,  # const uint8_t *ns
            c_size_t,  # size_t ns_len
            c_char_p,  # const uint8_t *key
            c_size_t,  # size_t key_len
            POINTER(ttlkv_buf),  # struct ttlkv_buf *out
            POINTER(c_uint64),  # uint64_t *version
        ],
    ),
    "ttlkv_put_if_version": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            c_char_p,  # const uint8_t *ns
            c_size_t,  # size_t ns_len
            c_char_p,  # const uint8_t *key
            c_size_t,  # size_t key_len
            c_char_p,  # const uint8_t *value
            c_size_t,  # size_t value_len
            c_uint64,  # uint64_t ttl_ms
            c_uint64,  # uint64_t expected
            POINTER(c_uint64),  # uint64_t *new_version
        ],
    ),
    "ttlkv_get_many": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            c_char_p,  # const uint8_t *ns
            c_size_t,  # size_t ns_len
            POINTER(ttlkv_slice),  # const struct ttlkv_slice *keys
            c_size_t,  # size_t n
            POINTER(POINTER(ttlkv_key_list)),  # struct ttlkv_key_list **out
        ],
    ),
    "ttlkv_get_many_into": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            c_char_p,  # const uint8_t *ns
            c_size_t,  # size_t ns_len
            POINTER(ttlkv_slice),  # const struct ttlkv_slice *keys
            c_size_t,  # size_t n
            POINTER(c_char),  # uint8_t *buf
            c_size_t,  # size_t cap
            POINTER(c_uint64),  # uint64_t *lens
            POINTER(c_size_t),  # size_t *needed
        ],
    ),
    "ttlkv_delete_many": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            c_char_p,  # const uint8_t *ns
            c_size_t,  # size_t ns_len
            POINTER(ttlkv_slice),  # const struct ttlkv_slice *keys
            c_size_t,  # size_t n
            POINTER(c_uint64),  # uint64_t *removed
        ],
    ),
    "ttlkv_clear": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            c_char_p,  # const uint8_t *ns
            c_size_t,  # size_t ns_len
            POINTER(c_uint64),  # uint64_t *removed
        ],
    ),
    "ttlkv_count": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            c_char_p,  # const uint8_t *ns
            c_size_t,  # size_t ns_len
            POINTER(c_uint64),  # uint64_t *out
        ],
    ),
    "ttlkv_namespaces": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            POINTER(POINTER(ttlkv_key_list)),  # struct ttlkv_key_list **out
        ],
    ),
    "ttlkv_scan": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            c_char_p,  # const uint8_t *ns
            c_size_t,  # size_t ns_len
            c_char_p,  # const uint8_t *prefix
            c_size_t,  # size_t prefix_len
            c_char_p,  # const uint8_t *after
            c_size_t,  # size_t after_len
            c_size_t,  # size_t limit
            POINTER(POINTER(ttlkv_key_list)),  # struct ttlkv_key_list **out
        ],
    ),
    "ttlkv_set_max_bytes": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            c_uint64,  # uint64_t max_bytes
            c_uint32,  # uint32_t eviction
        ],
    ),
    "ttlkv_max_bytes": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            POINTER(c_uint64),  # uint64_t *max_bytes
            POINTER(c_uint32),  # uint32_t *eviction
        ],
    ),
    "ttlkv_corruption_reset": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            POINTER(ttlkv_buf),  # struct ttlkv_buf *out
        ],
    ),
    "ttlkv_backup": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            c_char_p,  # const char *dest
            c_uint32,  # uint32_t flags
        ],
    ),
    "ttlkv_options_new": (
        POINTER(ttlkv_options),  # struct ttlkv_options *
        [],
    ),
    "ttlkv_options_set_map_size": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_options),  # struct ttlkv_options *o
            c_uint64,  # uint64_t bytes
        ],
    ),
    "ttlkv_options_set_max_map_size": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_options),  # struct ttlkv_options *o
            c_uint64,  # uint64_t bytes
        ],
    ),
    "ttlkv_options_set_durability": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_options),  # struct ttlkv_options *o
            c_uint32,  # uint32_t durability
        ],
    ),
    "ttlkv_options_set_sync_interval_ms": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_options),  # struct ttlkv_options *o
            c_uint64,  # uint64_t ms
        ],
    ),
    "ttlkv_options_set_max_readers": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_options),  # struct ttlkv_options *o
            c_uint32,  # uint32_t n
        ],
    ),
    "ttlkv_options_set_expiry_batch": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_options),  # struct ttlkv_options *o
            c_uint64,  # uint64_t n
        ],
    ),
    "ttlkv_options_set_write_map": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_options),  # struct ttlkv_options *o
            c_int32,  # int32_t enabled
        ],
    ),
    "ttlkv_options_set_crash_safe": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_options),  # struct ttlkv_options *o
            c_int32,  # int32_t enabled
        ],
    ),
    "ttlkv_options_set_allow_shared_dir": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_options),  # struct ttlkv_options *o
            c_int32,  # int32_t enabled
        ],
    ),
    "ttlkv_options_set_clock_offset_ms": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_options),  # struct ttlkv_options *o
            c_int64,  # int64_t offset_ms
        ],
    ),
    "ttlkv_options_set_on_corruption": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_options),  # struct ttlkv_options *o
            c_uint32,  # uint32_t mode
        ],
    ),
    "ttlkv_options_free": (
        None,  # void
        [
            POINTER(ttlkv_options),  # struct ttlkv_options *o
        ],
    ),
    "ttlkv_open": (
        c_uint32,  # ttlkv_status
        [
            c_char_p,  # const char *path
            POINTER(ttlkv_options),  # const struct ttlkv_options *opts
            POINTER(POINTER(ttlkv_store)),  # struct ttlkv_store **out
        ],
    ),
    "ttlkv_close": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
        ],
    ),
    "ttlkv_free": (
        None,  # void
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
        ],
    ),
    "ttlkv_put": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            c_char_p,  # const uint8_t *ns
            c_size_t,  # size_t ns_len
            c_char_p,  # const uint8_t *key
            c_size_t,  # size_t key_len
            c_char_p,  # const uint8_t *value
            c_size_t,  # size_t value_len
            c_uint64,  # uint64_t ttl_ms
        ],
    ),
    "ttlkv_put_many": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            POINTER(ttlkv_record),  # const struct ttlkv_record *records
            c_size_t,  # size_t count
        ],
    ),
    "ttlkv_get": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            c_char_p,  # const uint8_t *ns
            c_size_t,  # size_t ns_len
            c_char_p,  # const uint8_t *key
            c_size_t,  # size_t key_len
            POINTER(ttlkv_buf),  # struct ttlkv_buf *out
        ],
    ),
    "ttlkv_get_into": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            c_char_p,  # const uint8_t *ns
            c_size_t,  # size_t ns_len
            c_char_p,  # const uint8_t *key
            c_size_t,  # size_t key_len
            POINTER(c_char),  # uint8_t *buf
            c_size_t,  # size_t cap
            POINTER(c_size_t),  # size_t *len
        ],
    ),
    "ttlkv_buf_free": (
        None,  # void
        [
            POINTER(ttlkv_buf),  # struct ttlkv_buf *buf
        ],
    ),
    "ttlkv_delete": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            c_char_p,  # const uint8_t *ns
            c_size_t,  # size_t ns_len
            c_char_p,  # const uint8_t *key
            c_size_t,  # size_t key_len
        ],
    ),
    "ttlkv_deadline": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            c_char_p,  # const uint8_t *ns
            c_size_t,  # size_t ns_len
            c_char_p,  # const uint8_t *key
            c_size_t,  # size_t key_len
            POINTER(c_uint64),  # uint64_t *deadline_ms
        ],
    ),
    "ttlkv_keys": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            c_char_p,  # const uint8_t *ns
            c_size_t,  # size_t ns_len
            POINTER(POINTER(ttlkv_key_list)),  # struct ttlkv_key_list **out
        ],
    ),
    "ttlkv_entries": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            c_char_p,  # const uint8_t *ns
            c_size_t,  # size_t ns_len
            POINTER(POINTER(ttlkv_key_list)),  # struct ttlkv_key_list **out
        ],
    ),
    "ttlkv_purge_expired": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            POINTER(c_uint64),  # uint64_t *removed
        ],
    ),
    "ttlkv_verify": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            POINTER(c_uint64),  # uint64_t *problems
        ],
    ),
    "ttlkv_flush": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
        ],
    ),
    "ttlkv_sync": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
        ],
    ),
    "ttlkv_max_key_len": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            c_char_p,  # const uint8_t *ns
            c_size_t,  # size_t ns_len
            POINTER(c_size_t),  # size_t *out
        ],
    ),
    "ttlkv_stat": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            c_uint32,  # uint32_t which
            POINTER(c_uint64),  # uint64_t *out
        ],
    ),
    "ttlkv_stat_name": (
        c_char_p,  # const char *
        [
            c_uint32,  # uint32_t which
        ],
    ),
    "ttlkv_key_list_len": (
        c_size_t,  # size_t
        [
            POINTER(ttlkv_key_list),  # const struct ttlkv_key_list *l
        ],
    ),
    "ttlkv_key_list_get": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_key_list),  # const struct ttlkv_key_list *l
            c_size_t,  # size_t i
            POINTER(c_void_p),  # const uint8_t **key
            POINTER(c_size_t),  # size_t *len
        ],
    ),
    "ttlkv_key_list_value": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_key_list),  # const struct ttlkv_key_list *l
            c_size_t,  # size_t i
            POINTER(c_void_p),  # const uint8_t **value
            POINTER(c_size_t),  # size_t *len
        ],
    ),
    "ttlkv_key_list_free": (
        None,  # void
        [
            POINTER(ttlkv_key_list),  # struct ttlkv_key_list *l
        ],
    ),
    "ttlkv_origin": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            POINTER(c_uint64),  # uint64_t *out
        ],
    ),
    "ttlkv_set_replicated": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            c_int32,  # int32_t enabled
        ],
    ),
    "ttlkv_replicated": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            POINTER(c_int32),  # int32_t *out
        ],
    ),
    "ttlkv_records": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            POINTER(ttlkv_replica_record),  # const struct ttlkv_replica_record *keys
            c_size_t,  # size_t n
            POINTER(POINTER(ttlkv_replica_list)),  # struct ttlkv_replica_list **out
        ],
    ),
    "ttlkv_merge": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            POINTER(ttlkv_replica_record),  # const struct ttlkv_replica_record *records
            c_size_t,  # size_t n
            POINTER(c_uint64),  # uint64_t *applied
        ],
    ),
    "ttlkv_digest": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            c_uint32,  # uint32_t buckets
            c_uint64,  # uint64_t cutoff
            POINTER(c_uint64),  # uint64_t *out
            c_size_t,  # size_t out_len
        ],
    ),
    "ttlkv_versions": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            c_uint32,  # uint32_t buckets
            POINTER(c_uint32),  # const uint32_t *which
            c_size_t,  # size_t n
            c_uint64,  # uint64_t cutoff
            POINTER(POINTER(ttlkv_replica_list)),  # struct ttlkv_replica_list **out
        ],
    ),
    "ttlkv_bucket_records": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_store),  # struct ttlkv_store *s
            c_uint32,  # uint32_t buckets
            POINTER(c_uint32),  # const uint32_t *which
            c_size_t,  # size_t n
            c_uint64,  # uint64_t cutoff
            POINTER(POINTER(ttlkv_replica_list)),  # struct ttlkv_replica_list **out
        ],
    ),
    "ttlkv_replica_list_len": (
        c_size_t,  # size_t
        [
            POINTER(ttlkv_replica_list),  # const struct ttlkv_replica_list *l
        ],
    ),
    "ttlkv_replica_list_get": (
        c_uint32,  # ttlkv_status
        [
            POINTER(ttlkv_replica_list),  # const struct ttlkv_replica_list *l
            c_size_t,  # size_t i
            POINTER(ttlkv_replica_record),  # struct ttlkv_replica_record *out
        ],
    ),
    "ttlkv_replica_list_free": (
        None,  # void
        [
            POINTER(ttlkv_replica_list),  # struct ttlkv_replica_list *l
        ],
    ),
}
