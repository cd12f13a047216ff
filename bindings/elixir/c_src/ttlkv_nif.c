/*
 * ttlkv_nif.c: the Elixir NIF, a thin shim over the ttlkv C ABI (include/ttlkv.h).
 *
 * Rules this file keeps (see bindings/elixir/README.md):
 *  - a store is a NIF resource; its destructor calls ttlkv_free, which never blocks for long;
 *  - every call that opens an LMDB transaction runs on a dirty I/O scheduler, except `get`
 *    of a value up to 4 KiB, measured to stay far under 1 ms (README, "Scheduler decision");
 *    `get_dirty` is the all-dirty read, chosen with `config :ttlkv, read_scheduler: :dirty`;
 *    `stats` is dirty too (a counter waits on the map's growth gate). The cache operations
 *    (touch ... backup) are all dirty: they write, read many entries, or copy values of any
 *    size inside the library call (get_versioned, get_many have no get_into to bound it);
 *  - every constant of the C ABI (TTLKV_INCR_CREATE, TTLKV_VERSION_ABSENT,
 *    TTLKV_EVICTION_*, TTLKV_BACKUP_COMPACT, TTLKV_MAX_KEYS_PER_CALL, TTLKV_ON_CORRUPTION_*)
 *    is used here, from the header; Elixir sees atoms (absent, soonest_deadline, none, reset,
 *    ...), never their numbers;
 *  - binaries go in without a copy (enif_inspect_binary; iolists are flattened once);
 *    values come out through ttlkv_get_into, straight into a BEAM binary;
 *  - atoms are made once, in load, the statuses' and counters' from the library's own names;
 *  - runtime failures are {error, closed} or {error, {StatusAtom, DetailBinary}};
 *    wrong argument types raise badarg (ArgumentError in Elixir).
 */
#include <erl_nif.h>
#include <stdint.h>
#include <string.h>

#include "ttlkv.h"

/* The ABI this shim was written for; the header and the linked library must both agree. */
#define TTLKV_NIF_EXPECTED_ABI 1

#if TTLKV_ABI_VERSION != TTLKV_NIF_EXPECTED_ABI
#error "ttlkv.h declares an ABI version this NIF was not written for"
#endif

/* Load failures: the code shows up in {load_failed, "... (Code)"}; TTLKV.NIF decodes it. */
#define LOAD_ERR_ABI_BASE 0x10000 /* + the library's ttlkv_abi_version() */
#define LOAD_ERR_RESOURCE 2
#define LOAD_ERR_LOAD_INFO 3
#define LOAD_ERR_STATS 4

/* Values up to this size are read into a stack buffer, then into a (possibly heap) binary. */
#define SMALL_VALUE 4096

typedef struct {
    ttlkv_store *store;
} nif_store;

static ErlNifResourceType *STORE_TYPE = NULL;
/* Live store resources in this VM: lets tests prove a handle is released. */
static volatile long LIVE_STORES = 0;

static ERL_NIF_TERM ATOM_OK;
static ERL_NIF_TERM ATOM_ERROR;
static ERL_NIF_TERM ATOM_NOT_FOUND;
static ERL_NIF_TERM ATOM_CLOSED;
static ERL_NIF_TERM ATOM_INFINITY;
static ERL_NIF_TERM ATOM_NIL;
static ERL_NIF_TERM ATOM_UNKNOWN_STATUS;
static ERL_NIF_TERM ATOM_TRUE;
static ERL_NIF_TERM ATOM_FALSE;
static ERL_NIF_TERM ATOM_CONFLICT;
static ERL_NIF_TERM ATOM_ABSENT;
static ERL_NIF_TERM ATOM_SOONEST_DEADLINE;
static ERL_NIF_TERM ATOM_NONE;
static ERL_NIF_TERM ATOM_UNKNOWN_EVICTION;
static ERL_NIF_TERM ATOM_RESET;

/* The non-NULL pointer of an empty `after` cursor for ttlkv_scan (NULL means "no cursor"). */
static const uint8_t EMPTY_KEY[1] = {0};

/* Every status's atom, by its number, made at load from the library's own names
 * (ttlkv_status_name): the table of statuses lives in the library alone, so a new status needs
 * no edit here. The header's families end at TTLKV_PANIC (900); a number past the bound still
 * reaches Elixir, as {unknown_status, N}. 0 marks "no such status". */
#define STATUS_LIMIT 1000
static ERL_NIF_TERM STATUS_ATOMS[STATUS_LIMIT];

/* Every counter's atom, by its number (TTLKV_STAT_*), made at load from ttlkv_stat_name(0..)
 * until NULL: the table of counters lives in the library alone, so stats/1 reports every
 * counter the linked library has, without a list here or in Elixir. */
static ERL_NIF_TERM *STAT_ATOMS = NULL;
static unsigned int STAT_COUNT = 0;

static ERL_NIF_TERM
make_detail(ErlNifEnv *env, const char *text)
{
    ERL_NIF_TERM bin;
    size_t len = text ? strlen(text) : 0;
    unsigned char *p = enif_make_new_binary(env, len, &bin);
    if (len > 0) {
        memcpy(p, text, len);
    }
    return bin;
}

/* {error, closed} | {error, {Status, Detail}}. Call on the thread that made the failing call:
 * ttlkv_last_error() is thread-local. */
static ERL_NIF_TERM
make_error(ErlNifEnv *env, ttlkv_status st)
{
    if (st == TTLKV_CLOSED) {
        return enif_make_tuple2(env, ATOM_ERROR, ATOM_CLOSED);
    }
    const char *detail = ttlkv_last_error();
    if ((uint32_t)st < STATUS_LIMIT && STATUS_ATOMS[st] != 0) {
        return enif_make_tuple2(env, ATOM_ERROR,
                                enif_make_tuple2(env, STATUS_ATOMS[st], make_detail(env, detail)));
    }
    /* A status newer than this shim: keep the number so nothing is lost. */
    return enif_make_tuple2(
        env, ATOM_ERROR,
        enif_make_tuple2(env, enif_make_tuple2(env, ATOM_UNKNOWN_STATUS, enif_make_uint(env, st)),
                         make_detail(env, detail)));
}

static void
store_dtor(ErlNifEnv *env, void *obj)
{
    (void)env;
    nif_store *s = (nif_store *)obj;
    /* ttlkv_free never blocks for long (ABI contract), so a normal scheduler may run it. */
    ttlkv_free(s->store);
    s->store = NULL;
    __atomic_sub_fetch(&LIVE_STORES, 1, __ATOMIC_SEQ_CST);
}

static int
get_store(ErlNifEnv *env, ERL_NIF_TERM term, nif_store **out)
{
    return enif_get_resource(env, term, STORE_TYPE, (void **)out);
}

/* A binary, or an iolist flattened once into a temporary binary owned by env. */
static int
get_bytes(ErlNifEnv *env, ERL_NIF_TERM term, ErlNifBinary *bin)
{
    if (enif_inspect_binary(env, term, bin)) {
        return 1;
    }
    return enif_inspect_iolist_as_binary(env, term, bin);
}

/* A non-negative integer in milliseconds, or the atom infinity (never expires). */
static int
get_ttl(ErlNifEnv *env, ERL_NIF_TERM term, uint64_t *ttl)
{
    ErlNifUInt64 v;
    if (enif_is_identical(term, ATOM_INFINITY)) {
        *ttl = TTLKV_TTL_NEVER;
        return 1;
    }
    if (!enif_get_uint64(env, term, &v)) {
        return 0;
    }
    *ttl = (uint64_t)v;
    return 1;
}

/* An optional unsigned option: nil means "library default". */
static int
get_opt_u64(ErlNifEnv *env, ERL_NIF_TERM term, int *present, uint64_t *v)
{
    ErlNifUInt64 u;
    if (enif_is_identical(term, ATOM_NIL)) {
        *present = 0;
        return 1;
    }
    if (!enif_get_uint64(env, term, &u)) {
        return 0;
    }
    *present = 1;
    *v = (uint64_t)u;
    return 1;
}

static ERL_NIF_TERM
make_binary_copy(ErlNifEnv *env, const uint8_t *data, size_t len)
{
    ERL_NIF_TERM term;
    unsigned char *p = enif_make_new_binary(env, len, &term);
    if (len > 0) {
        memcpy(p, data, len);
    }
    return term;
}

/* The value of a ttlkv_buf as a BEAM binary; the buffer is released. */
static ERL_NIF_TERM
buf_to_binary(ErlNifEnv *env, ttlkv_buf *buf)
{
    ERL_NIF_TERM bin = make_binary_copy(env, buf->data, buf->len);
    ttlkv_buf_free(buf);
    return bin;
}

/* --- functions that do not touch LMDB: normal schedulers ------------------------------ */

static ERL_NIF_TERM
nif_abi_version(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    (void)argc;
    (void)argv;
    return enif_make_uint(env, ttlkv_abi_version());
}

static ERL_NIF_TERM
nif_version(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    (void)argc;
    (void)argv;
    return make_detail(env, ttlkv_version());
}

static ERL_NIF_TERM
nif_status_str(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    unsigned int code;
    (void)argc;
    if (!enif_get_uint(env, argv[0], &code)) {
        return enif_make_badarg(env);
    }
    return make_detail(env, ttlkv_status_str(code));
}

/* stat_name(Which) -> Name :: binary() | nil: ttlkv_stat_name, for tests to list the
 * library's counters themselves. */
static ERL_NIF_TERM
nif_stat_name(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    unsigned int which;
    (void)argc;
    if (!enif_get_uint(env, argv[0], &which)) {
        return enif_make_badarg(env);
    }
    const char *name = ttlkv_stat_name(which);
    return name == NULL ? ATOM_NIL : make_detail(env, name);
}

/* max_key_len(Store, Ns) -> {ok, Bytes} | {error, _}. Arithmetic on the namespace's length
 * and LMDB's key limit (read at open): no transaction and no I/O, so a normal scheduler. */
static ERL_NIF_TERM
nif_max_key_len(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    nif_store *s;
    ErlNifBinary ns;
    size_t n = 0;
    (void)argc;
    if (!get_store(env, argv[0], &s) || !get_bytes(env, argv[1], &ns)) {
        return enif_make_badarg(env);
    }
    ttlkv_status st = ttlkv_max_key_len(s->store, ns.data, ns.size, &n);
    if (st != TTLKV_OK) {
        return make_error(env, st);
    }
    return enif_make_tuple2(env, ATOM_OK, enif_make_uint64(env, (ErlNifUInt64)n));
}

/* max_keys_per_call() -> TTLKV_MAX_KEYS_PER_CALL: the most keys of get_many/delete_many and
 * the largest scan limit, from the header (Elixir never copies the number). */
static ERL_NIF_TERM
nif_max_keys_per_call(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    (void)argc;
    (void)argv;
    return enif_make_uint64(env, (ErlNifUInt64)TTLKV_MAX_KEYS_PER_CALL);
}

static ERL_NIF_TERM
nif_live_stores(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    (void)argc;
    (void)argv;
    return enif_make_long(env, __atomic_load_n(&LIVE_STORES, __ATOMIC_SEQ_CST));
}

/* --- functions that open transactions or do I/O: dirty I/O schedulers ----------------- */

/* open(Path :: binary,
 *      {Durability, SyncIntervalMs, MapSize, MaxMapSize, MaxReaders, WriteMap, AllowSharedDir,
 *       OnCorruption}),
 * the first seven each nil (the library's default) or a non-negative integer (WriteMap and
 * AllowSharedDir: non-zero turns the option on); OnCorruption nil, error or reset
 * (TTLKV_ON_CORRUPTION_ERROR / TTLKV_ON_CORRUPTION_RESET); ClockOffsetMs nil or a signed
 * integer (the test hook ttlkv_options_set_clock_offset_ms). */
#define N_NUMERIC_OPEN_OPTS 8
#define N_OPEN_OPTS (N_NUMERIC_OPEN_OPTS + 2)
static ERL_NIF_TERM
nif_open(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    ErlNifBinary path;
    const ERL_NIF_TERM *opt;
    int arity;
    int present[N_NUMERIC_OPEN_OPTS];
    uint64_t val[N_NUMERIC_OPEN_OPTS];
    int on_corruption_set = 0;
    uint32_t on_corruption = TTLKV_ON_CORRUPTION_ERROR;
    char *cpath;
    ttlkv_options *o;
    ttlkv_store *store = NULL;
    ttlkv_status st = TTLKV_OK;
    (void)argc;

    if (!get_bytes(env, argv[0], &path) || memchr(path.data, 0, path.size) != NULL) {
        return enif_make_badarg(env);
    }
    if (!enif_get_tuple(env, argv[1], &arity, &opt) || arity != N_OPEN_OPTS) {
        return enif_make_badarg(env);
    }
    for (int i = 0; i < N_NUMERIC_OPEN_OPTS; i++) {
        if (!get_opt_u64(env, opt[i], &present[i], &val[i])) {
            return enif_make_badarg(env);
        }
    }
    if (present[4] && val[4] > UINT32_MAX) {
        return enif_make_badarg(env);
    }
    if (enif_is_identical(opt[8], ATOM_ERROR)) {
        on_corruption_set = 1;
        on_corruption = TTLKV_ON_CORRUPTION_ERROR;
    } else if (enif_is_identical(opt[8], ATOM_RESET)) {
        on_corruption_set = 1;
        on_corruption = TTLKV_ON_CORRUPTION_RESET;
    } else if (!enif_is_identical(opt[8], ATOM_NIL)) {
        return enif_make_badarg(env);
    }
    ErlNifSInt64 clock_offset = 0;
    if (!enif_is_identical(opt[9], ATOM_NIL) && !enif_get_int64(env, opt[9], &clock_offset)) {
        return enif_make_badarg(env);
    }

    cpath = enif_alloc(path.size + 1);
    if (cpath == NULL) {
        return enif_raise_exception(env, enif_make_atom(env, "enomem"));
    }
    memcpy(cpath, path.data, path.size);
    cpath[path.size] = '\0';

    o = ttlkv_options_new();
    if (o == NULL) {
        enif_free(cpath);
        return enif_raise_exception(env, enif_make_atom(env, "enomem"));
    }
    if (present[0] && st == TTLKV_OK) {
        st = ttlkv_options_set_durability(o, (uint32_t)val[0]);
    }
    if (present[1] && st == TTLKV_OK) {
        st = ttlkv_options_set_sync_interval_ms(o, val[1]);
    }
    if (present[2] && st == TTLKV_OK) {
        st = ttlkv_options_set_map_size(o, val[2]);
    }
    if (present[3] && st == TTLKV_OK) {
        st = ttlkv_options_set_max_map_size(o, val[3]);
    }
    if (present[4] && st == TTLKV_OK) {
        st = ttlkv_options_set_max_readers(o, (uint32_t)val[4]);
    }
    if (present[5] && st == TTLKV_OK) {
        st = ttlkv_options_set_write_map(o, val[5] != 0);
    }
    if (present[6] && st == TTLKV_OK) {
        st = ttlkv_options_set_allow_shared_dir(o, val[6] != 0);
    }
    if (present[7] && st == TTLKV_OK) {
        st = ttlkv_options_set_crash_safe(o, val[7] != 0);
    }
    if (on_corruption_set && st == TTLKV_OK) {
        st = ttlkv_options_set_on_corruption(o, on_corruption);
    }
    if (clock_offset != 0 && st == TTLKV_OK) {
        st = ttlkv_options_set_clock_offset_ms(o, (int64_t)clock_offset);
    }
    if (st == TTLKV_OK) {
        st = ttlkv_open(cpath, o, &store);
    }
    ttlkv_options_free(o);
    enif_free(cpath);
    if (st != TTLKV_OK) {
        return make_error(env, st);
    }

    nif_store *res = enif_alloc_resource(STORE_TYPE, sizeof(nif_store));
    if (res == NULL) {
        ttlkv_free(store);
        return enif_raise_exception(env, enif_make_atom(env, "enomem"));
    }
    res->store = store;
    __atomic_add_fetch(&LIVE_STORES, 1, __ATOMIC_SEQ_CST);
    ERL_NIF_TERM term = enif_make_resource(env, res);
    enif_release_resource(res); /* the term now owns it */
    return enif_make_tuple2(env, ATOM_OK, term);
}

/* corruption_reset(Store) -> {ok, AsidePath} | not_found | {error, _}: where the damaged store
 * went when an open with TTLKV_ON_CORRUPTION_RESET replaced it. No transaction and no I/O (a
 * field the open set), so a normal scheduler, as max_key_len. */
static ERL_NIF_TERM
nif_corruption_reset(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    nif_store *s;
    ttlkv_buf buf = {NULL, 0};
    (void)argc;
    if (!get_store(env, argv[0], &s)) {
        return enif_make_badarg(env);
    }
    ttlkv_status st = ttlkv_corruption_reset(s->store, &buf);
    if (st == TTLKV_OK) {
        return enif_make_tuple2(env, ATOM_OK, buf_to_binary(env, &buf));
    }
    if (st == TTLKV_NOT_FOUND) {
        return ATOM_NOT_FOUND;
    }
    return make_error(env, st);
}

static ERL_NIF_TERM
nif_close(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    nif_store *s;
    (void)argc;
    if (!get_store(env, argv[0], &s)) {
        return enif_make_badarg(env);
    }
    ttlkv_status st = ttlkv_close(s->store);
    if (st != TTLKV_OK && st != TTLKV_CLOSED) {
        return make_error(env, st);
    }
    return ATOM_OK;
}

/* The put of put/5 and put_records/5: 0 for a bad argument, else 1 with the put's status in
 * `*st` (and the store, namespace and key, for what the caller does next). */
static int
put_args(ErlNifEnv *env, const ERL_NIF_TERM argv[], nif_store **s, ErlNifBinary *ns,
         ErlNifBinary *key, ttlkv_status *st)
{
    ErlNifBinary value;
    uint64_t ttl;
    if (!get_store(env, argv[0], s) || !get_bytes(env, argv[1], ns) ||
        !get_bytes(env, argv[2], key) || !get_bytes(env, argv[3], &value) ||
        !get_ttl(env, argv[4], &ttl)) {
        return 0;
    }
    *st = ttlkv_put((*s)->store, ns->data, ns->size, key->data, key->size, value.data, value.size,
                    ttl);
    return 1;
}

/* put(Store, Ns, Key, Value, Ttl) */
static ERL_NIF_TERM
nif_put(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    nif_store *s;
    ErlNifBinary ns, key;
    ttlkv_status st;
    (void)argc;
    if (!put_args(env, argv, &s, &ns, &key, &st)) {
        return enif_make_badarg(env);
    }
    return st == TTLKV_OK ? ATOM_OK : make_error(env, st);
}

/* put_many(Store, Ns, [{Key, Value}], Ttl): one atomic write transaction. */
static ERL_NIF_TERM
nif_put_many(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    nif_store *s;
    ErlNifBinary ns;
    uint64_t ttl;
    unsigned int count;
    (void)argc;
    if (!get_store(env, argv[0], &s) || !get_bytes(env, argv[1], &ns) ||
        !enif_get_list_length(env, argv[2], &count) || !get_ttl(env, argv[3], &ttl)) {
        return enif_make_badarg(env);
    }
    ttlkv_record *recs = enif_alloc(sizeof(ttlkv_record) * (count > 0 ? count : 1));
    if (recs == NULL) {
        return enif_raise_exception(env, enif_make_atom(env, "enomem"));
    }
    ERL_NIF_TERM list = argv[2], head;
    for (unsigned int i = 0; i < count; i++) {
        const ERL_NIF_TERM *pair;
        int arity;
        ErlNifBinary key, value;
        enif_get_list_cell(env, list, &head, &list);
        if (!enif_get_tuple(env, head, &arity, &pair) || arity != 2 ||
            !get_bytes(env, pair[0], &key) || !get_bytes(env, pair[1], &value)) {
            enif_free(recs);
            return enif_make_badarg(env);
        }
        recs[i].ns = ns.data;
        recs[i].ns_len = ns.size;
        recs[i].key = key.data;
        recs[i].key_len = key.size;
        recs[i].value = value.data;
        recs[i].value_len = value.size;
        recs[i].ttl_ms = ttl;
    }
    ttlkv_status st = ttlkv_put_many(s->store, recs, count);
    enif_free(recs);
    return st == TTLKV_OK ? ATOM_OK : make_error(env, st);
}

/* get(Store, Ns, Key) -> {ok, Value} | not_found | {error, _}.
 * Small values land in a stack buffer (then a heap or refc binary); large ones go straight
 * into a BEAM binary sized from BUFFER_TOO_SMALL's answer. */
static ERL_NIF_TERM
do_get(ErlNifEnv *env, const ERL_NIF_TERM argv[])
{
    nif_store *s;
    ErlNifBinary ns, key;
    uint8_t small[SMALL_VALUE];
    size_t len = 0;
    if (!get_store(env, argv[0], &s) || !get_bytes(env, argv[1], &ns) ||
        !get_bytes(env, argv[2], &key)) {
        return enif_make_badarg(env);
    }
    ttlkv_status st =
        ttlkv_get_into(s->store, ns.data, ns.size, key.data, key.size, small, sizeof small, &len);
    if (st == TTLKV_OK) {
        return enif_make_tuple2(env, ATOM_OK, make_binary_copy(env, small, len));
    }
    /* The value may change size between calls: retry with the size last reported. */
    while (st == TTLKV_BUFFER_TOO_SMALL) {
        ErlNifBinary out;
        size_t cap = len;
        if (!enif_alloc_binary(cap, &out)) {
            return enif_raise_exception(env, enif_make_atom(env, "enomem"));
        }
        st = ttlkv_get_into(s->store, ns.data, ns.size, key.data, key.size, out.data, cap, &len);
        if (st == TTLKV_OK) {
            if (len != cap && !enif_realloc_binary(&out, len)) {
                enif_release_binary(&out);
                return enif_raise_exception(env, enif_make_atom(env, "enomem"));
            }
            return enif_make_tuple2(env, ATOM_OK, enif_make_binary(env, &out));
        }
        enif_release_binary(&out);
    }
    if (st == TTLKV_NOT_FOUND) {
        return ATOM_NOT_FOUND;
    }
    return make_error(env, st);
}

/* get on a dirty I/O scheduler, whatever the value's size. */
static ERL_NIF_TERM
nif_get_dirty(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    (void)argc;
    return do_get(env, argv);
}

/* get on a normal scheduler (README, "Scheduler decision"): one B-tree lookup and a copy of
 * at most SMALL_VALUE bytes. A larger value is not copied here: the call moves to a dirty I/O
 * scheduler and reads it there. */
static ERL_NIF_TERM
nif_get(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    nif_store *s;
    ErlNifBinary ns, key;
    uint8_t small[SMALL_VALUE];
    size_t len = 0;
    if (!get_store(env, argv[0], &s) || !get_bytes(env, argv[1], &ns) ||
        !get_bytes(env, argv[2], &key)) {
        return enif_make_badarg(env);
    }
    ttlkv_status st =
        ttlkv_get_into(s->store, ns.data, ns.size, key.data, key.size, small, sizeof small, &len);
    switch (st) {
    case TTLKV_OK:
        return enif_make_tuple2(env, ATOM_OK, make_binary_copy(env, small, len));
    case TTLKV_NOT_FOUND:
        return ATOM_NOT_FOUND;
    case TTLKV_BUFFER_TOO_SMALL:
        return enif_schedule_nif(env, "get_dirty", ERL_NIF_DIRTY_JOB_IO_BOUND, nif_get_dirty,
                                 argc, argv);
    default:
        return make_error(env, st);
    }
}

/* The delete of delete/3 and delete_records/3, as put_args. */
static int
delete_args(ErlNifEnv *env, const ERL_NIF_TERM argv[], nif_store **s, ErlNifBinary *ns,
            ErlNifBinary *key, ttlkv_status *st)
{
    if (!get_store(env, argv[0], s) || !get_bytes(env, argv[1], ns) ||
        !get_bytes(env, argv[2], key)) {
        return 0;
    }
    *st = ttlkv_delete((*s)->store, ns->data, ns->size, key->data, key->size);
    return 1;
}

/* delete(Store, Ns, Key) -> ok (a live entry was removed) | not_found | {error, _} */
static ERL_NIF_TERM
nif_delete(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    nif_store *s;
    ErlNifBinary ns, key;
    ttlkv_status st;
    (void)argc;
    if (!delete_args(env, argv, &s, &ns, &key, &st)) {
        return enif_make_badarg(env);
    }
    if (st == TTLKV_OK) {
        return ATOM_OK;
    }
    if (st == TTLKV_NOT_FOUND) {
        return ATOM_NOT_FOUND;
    }
    return make_error(env, st);
}

/* deadline(Store, Ns, Key) -> {ok, UnixMs | infinity} | not_found | {error, _} */
static ERL_NIF_TERM
nif_deadline(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    nif_store *s;
    ErlNifBinary ns, key;
    uint64_t deadline = 0;
    (void)argc;
    if (!get_store(env, argv[0], &s) || !get_bytes(env, argv[1], &ns) ||
        !get_bytes(env, argv[2], &key)) {
        return enif_make_badarg(env);
    }
    ttlkv_status st = ttlkv_deadline(s->store, ns.data, ns.size, key.data, key.size, &deadline);
    if (st == TTLKV_OK) {
        ERL_NIF_TERM d = deadline == TTLKV_DEADLINE_NEVER
                             ? ATOM_INFINITY
                             : enif_make_uint64(env, (ErlNifUInt64)deadline);
        return enif_make_tuple2(env, ATOM_OK, d);
    }
    if (st == TTLKV_NOT_FOUND) {
        return ATOM_NOT_FOUND;
    }
    return make_error(env, st);
}

/* The list's keys (and values, for ttlkv_entries) as [Key] or [{Key, Value}], in key order.
 * with_values 2: [{Key, Term}], each value decoded as binary_to_term(V, [safe]) would, or
 * {Key} when it is no term this VM can safely make (PowCache.all/2: one pass). */
static ERL_NIF_TERM
key_list_to_term(ErlNifEnv *env, ttlkv_key_list *kl, int with_values)
{
    size_t n = ttlkv_key_list_len(kl);
    ERL_NIF_TERM list = enif_make_list(env, 0);
    /* Built back to front so the list comes out in the library's key order. */
    for (size_t i = n; i > 0; i--) {
        const uint8_t *k = NULL, *v = NULL;
        size_t klen = 0, vlen = 0;
        ttlkv_status st = ttlkv_key_list_get(kl, i - 1, &k, &klen);
        if (st == TTLKV_OK && with_values) {
            st = ttlkv_key_list_value(kl, i - 1, &v, &vlen);
        }
        if (st != TTLKV_OK) {
            return make_error(env, st);
        }
        ERL_NIF_TERM item = make_binary_copy(env, k, klen);
        if (with_values == 2) {
            ERL_NIF_TERM term;
            item = enif_binary_to_term(env, v, vlen, &term, ERL_NIF_BIN2TERM_SAFE) == 0
                       ? enif_make_tuple1(env, item)
                       : enif_make_tuple2(env, item, term);
        } else if (with_values) {
            item = enif_make_tuple2(env, item, make_binary_copy(env, v, vlen));
        }
        list = enif_make_list_cell(env, item, list);
    }
    return enif_make_tuple2(env, ATOM_OK, list);
}

/* keys(Store, Ns) -> {ok, [Key]} | {error, _};
 * entries(Store, Ns) -> {ok, [{Key, Value}]} | {error, _}: one snapshot, key order. */
static ERL_NIF_TERM
list_ns(ErlNifEnv *env, const ERL_NIF_TERM argv[], int with_values)
{
    nif_store *s;
    ErlNifBinary ns;
    ttlkv_key_list *kl = NULL;
    if (!get_store(env, argv[0], &s) || !get_bytes(env, argv[1], &ns)) {
        return enif_make_badarg(env);
    }
    ttlkv_status st = with_values ? ttlkv_entries(s->store, ns.data, ns.size, &kl)
                                  : ttlkv_keys(s->store, ns.data, ns.size, &kl);
    if (st != TTLKV_OK) {
        return make_error(env, st);
    }
    ERL_NIF_TERM out = key_list_to_term(env, kl, with_values);
    ttlkv_key_list_free(kl);
    return out;
}

static ERL_NIF_TERM
nif_keys(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    (void)argc;
    return list_ns(env, argv, 0);
}

static ERL_NIF_TERM
nif_entries(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    (void)argc;
    return list_ns(env, argv, 1);
}

/* flush(Store) -> ok | {error, _}: committed writes to disk now (periodic mode). */
static ERL_NIF_TERM
nif_flush(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    nif_store *s;
    (void)argc;
    if (!get_store(env, argv[0], &s)) {
        return enif_make_badarg(env);
    }
    ttlkv_status st = ttlkv_flush(s->store);
    return st == TTLKV_OK ? ATOM_OK : make_error(env, st);
}

/* purge_expired(Store) -> {ok, Removed} | {error, _} */
static ERL_NIF_TERM
nif_purge_expired(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    nif_store *s;
    uint64_t removed = 0;
    (void)argc;
    if (!get_store(env, argv[0], &s)) {
        return enif_make_badarg(env);
    }
    ttlkv_status st = ttlkv_purge_expired(s->store, &removed);
    if (st != TTLKV_OK) {
        return make_error(env, st);
    }
    return enif_make_tuple2(env, ATOM_OK, enif_make_uint64(env, (ErlNifUInt64)removed));
}

/* stats(Store) -> {ok, #{CounterAtom => integer()}} | {error, _}. Dirty: a counter such as
 * used_bytes takes the environment's growth gate, which waits while the map grows. */
static ERL_NIF_TERM
nif_stats(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    nif_store *s;
    ERL_NIF_TERM map;
    (void)argc;
    if (!get_store(env, argv[0], &s)) {
        return enif_make_badarg(env);
    }
    map = enif_make_new_map(env);
    for (unsigned int i = 0; i < STAT_COUNT; i++) {
        uint64_t v = 0;
        ttlkv_status st = ttlkv_stat(s->store, (uint32_t)i, &v);
        if (st != TTLKV_OK) {
            return make_error(env, st);
        }
        enif_make_map_put(env, map, STAT_ATOMS[i], enif_make_uint64(env, (ErlNifUInt64)v), &map);
    }
    return enif_make_tuple2(env, ATOM_OK, map);
}

/* verify(Store) -> {ok, Problems, Detail} | {error, _}. Detail is ttlkv_last_error() read
 * right after the call on this thread (it describes the problems although the call returned
 * TTLKV_OK), or <<>> when there are none; TTLKV.verify/1 splits it into lines. */
static ERL_NIF_TERM
nif_verify(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    nif_store *s;
    uint64_t problems = 0;
    (void)argc;
    if (!get_store(env, argv[0], &s)) {
        return enif_make_badarg(env);
    }
    ttlkv_status st = ttlkv_verify(s->store, &problems);
    if (st != TTLKV_OK) {
        return make_error(env, st);
    }
    ERL_NIF_TERM detail = make_detail(env, problems > 0 ? ttlkv_last_error() : "");
    return enif_make_tuple3(env, ATOM_OK, enif_make_uint64(env, (ErlNifUInt64)problems), detail);
}

/* --- cache operations (README "Cache operations"): dirty I/O schedulers --------------- */

/* A proper list of keys (binaries or iolists) as slices, in list order, in memory owned by
 * the caller (enif_free): SLICES_OK; SLICES_BADARG when the term is not such a list, or
 * SLICES_NOMEM (nothing to free, and nothing must be called then). */
#define SLICES_OK 0
#define SLICES_BADARG 1
#define SLICES_NOMEM 2
static int
get_slices(ErlNifEnv *env, ERL_NIF_TERM list, ttlkv_slice **out, unsigned int *count)
{
    unsigned int n;
    ERL_NIF_TERM head;
    if (!enif_get_list_length(env, list, &n)) {
        return SLICES_BADARG;
    }
    ttlkv_slice *slices = enif_alloc(sizeof(ttlkv_slice) * (n > 0 ? n : 1));
    if (slices == NULL) {
        return SLICES_NOMEM;
    }
    for (unsigned int i = 0; i < n; i++) {
        ErlNifBinary key;
        if (!enif_get_list_cell(env, list, &head, &list) || !get_bytes(env, head, &key)) {
            enif_free(slices);
            return SLICES_BADARG;
        }
        slices[i].ptr = key.data;
        slices[i].len = key.size;
    }
    *out = slices;
    *count = n;
    return SLICES_OK;
}

/* The arguments (Store, Ns, [Key]) of get_many and delete_many; on failure `*fail` is the
 * term to return (badarg or an enomem exception). */
static int
get_many_args(ErlNifEnv *env, const ERL_NIF_TERM argv[], nif_store **s, ErlNifBinary *ns,
              ttlkv_slice **keys, unsigned int *n, ERL_NIF_TERM *fail)
{
    if (!get_store(env, argv[0], s) || !get_bytes(env, argv[1], ns)) {
        *fail = enif_make_badarg(env);
        return 0;
    }
    switch (get_slices(env, argv[2], keys, n)) {
    case SLICES_OK:
        return 1;
    case SLICES_NOMEM:
        *fail = enif_raise_exception(env, enif_make_atom(env, "enomem"));
        return 0;
    default:
        *fail = enif_make_badarg(env);
        return 0;
    }
}

/* touch(Store, Ns, Key, Ttl) -> {ok, true} (a live entry got the new deadline) |
 * {ok, false} (none) | {error, _} */
static ERL_NIF_TERM
nif_touch(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    nif_store *s;
    ErlNifBinary ns, key;
    uint64_t ttl;
    (void)argc;
    if (!get_store(env, argv[0], &s) || !get_bytes(env, argv[1], &ns) ||
        !get_bytes(env, argv[2], &key) || !get_ttl(env, argv[3], &ttl)) {
        return enif_make_badarg(env);
    }
    ttlkv_status st = ttlkv_touch(s->store, ns.data, ns.size, key.data, key.size, ttl);
    if (st == TTLKV_OK) {
        return enif_make_tuple2(env, ATOM_OK, ATOM_TRUE);
    }
    if (st == TTLKV_NOT_FOUND) {
        return enif_make_tuple2(env, ATOM_OK, ATOM_FALSE);
    }
    return make_error(env, st);
}

/* add(Store, Ns, Key, Value, Ttl) -> {ok, true} (written) | {ok, false} (a live entry has
 * the key: TTLKV_CONFLICT) | {error, _} */
static ERL_NIF_TERM
nif_add(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    nif_store *s;
    ErlNifBinary ns, key, value;
    uint64_t ttl;
    (void)argc;
    if (!get_store(env, argv[0], &s) || !get_bytes(env, argv[1], &ns) ||
        !get_bytes(env, argv[2], &key) || !get_bytes(env, argv[3], &value) ||
        !get_ttl(env, argv[4], &ttl)) {
        return enif_make_badarg(env);
    }
    ttlkv_status st =
        ttlkv_add(s->store, ns.data, ns.size, key.data, key.size, value.data, value.size, ttl);
    if (st == TTLKV_OK) {
        return enif_make_tuple2(env, ATOM_OK, ATOM_TRUE);
    }
    if (st == TTLKV_CONFLICT) {
        return enif_make_tuple2(env, ATOM_OK, ATOM_FALSE);
    }
    return make_error(env, st);
}

/* incr(Store, Ns, Key, Delta :: int64, Create :: nil | Ttl) -> {ok, NewValue} | not_found
 * (missing and Create nil) | {error, _}. Create is the TTL of a counter made when missing. */
static ERL_NIF_TERM
nif_incr(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    nif_store *s;
    ErlNifBinary ns, key;
    ErlNifSInt64 delta;
    uint32_t flags = 0;
    uint64_t create_ttl = 0;
    int64_t out = 0;
    (void)argc;
    if (!get_store(env, argv[0], &s) || !get_bytes(env, argv[1], &ns) ||
        !get_bytes(env, argv[2], &key) || !enif_get_int64(env, argv[3], &delta)) {
        return enif_make_badarg(env);
    }
    if (!enif_is_identical(argv[4], ATOM_NIL)) {
        if (!get_ttl(env, argv[4], &create_ttl)) {
            return enif_make_badarg(env);
        }
        flags = TTLKV_INCR_CREATE;
    }
    ttlkv_status st = ttlkv_incr(s->store, ns.data, ns.size, key.data, key.size, (int64_t)delta,
                                 flags, create_ttl, &out);
    if (st == TTLKV_OK) {
        return enif_make_tuple2(env, ATOM_OK, enif_make_int64(env, (ErlNifSInt64)out));
    }
    if (st == TTLKV_NOT_FOUND) {
        return ATOM_NOT_FOUND;
    }
    return make_error(env, st);
}

/* take(Store, Ns, Key) -> {ok, Value} | not_found | {error, _} */
static ERL_NIF_TERM
nif_take(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    nif_store *s;
    ErlNifBinary ns, key;
    ttlkv_buf buf = {NULL, 0};
    (void)argc;
    if (!get_store(env, argv[0], &s) || !get_bytes(env, argv[1], &ns) ||
        !get_bytes(env, argv[2], &key)) {
        return enif_make_badarg(env);
    }
    ttlkv_status st = ttlkv_take(s->store, ns.data, ns.size, key.data, key.size, &buf);
    if (st == TTLKV_OK) {
        return enif_make_tuple2(env, ATOM_OK, buf_to_binary(env, &buf));
    }
    if (st == TTLKV_NOT_FOUND) {
        return ATOM_NOT_FOUND;
    }
    return make_error(env, st);
}

/* get_versioned(Store, Ns, Key) -> {ok, {Value, Version}} | not_found | {error, _} */
static ERL_NIF_TERM
nif_get_versioned(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    nif_store *s;
    ErlNifBinary ns, key;
    ttlkv_buf buf = {NULL, 0};
    uint64_t version = 0;
    (void)argc;
    if (!get_store(env, argv[0], &s) || !get_bytes(env, argv[1], &ns) ||
        !get_bytes(env, argv[2], &key)) {
        return enif_make_badarg(env);
    }
    ttlkv_status st =
        ttlkv_get_versioned(s->store, ns.data, ns.size, key.data, key.size, &buf, &version);
    if (st == TTLKV_OK) {
        ERL_NIF_TERM value = buf_to_binary(env, &buf);
        return enif_make_tuple2(
            env, ATOM_OK,
            enif_make_tuple2(env, value, enif_make_uint64(env, (ErlNifUInt64)version)));
    }
    if (st == TTLKV_NOT_FOUND) {
        return ATOM_NOT_FOUND;
    }
    return make_error(env, st);
}

/* put_if_version(Store, Ns, Key, Value, Ttl, Expected :: absent | Version) ->
 * {ok, NewVersion} | {error, conflict} | {error, _}. A version is never 0 (0 is
 * TTLKV_VERSION_ABSENT in C, spelled `absent` here), so 0 is a bad argument. */
static ERL_NIF_TERM
nif_put_if_version(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    nif_store *s;
    ErlNifBinary ns, key, value;
    uint64_t ttl, expected, new_version = 0;
    ErlNifUInt64 v;
    (void)argc;
    if (!get_store(env, argv[0], &s) || !get_bytes(env, argv[1], &ns) ||
        !get_bytes(env, argv[2], &key) || !get_bytes(env, argv[3], &value) ||
        !get_ttl(env, argv[4], &ttl)) {
        return enif_make_badarg(env);
    }
    if (enif_is_identical(argv[5], ATOM_ABSENT)) {
        expected = TTLKV_VERSION_ABSENT;
    } else if (enif_get_uint64(env, argv[5], &v) && (uint64_t)v != TTLKV_VERSION_ABSENT) {
        expected = (uint64_t)v;
    } else {
        return enif_make_badarg(env);
    }
    ttlkv_status st = ttlkv_put_if_version(s->store, ns.data, ns.size, key.data, key.size,
                                           value.data, value.size, ttl, expected, &new_version);
    if (st == TTLKV_OK) {
        return enif_make_tuple2(env, ATOM_OK, enif_make_uint64(env, (ErlNifUInt64)new_version));
    }
    if (st == TTLKV_CONFLICT) {
        return enif_make_tuple2(env, ATOM_ERROR, ATOM_CONFLICT);
    }
    return make_error(env, st);
}

/* get_many(Store, Ns, [Key]) -> {ok, [Value | nil]} (in the order of the keys; nil: no live
 * entry) | {error, _}. More than TTLKV_MAX_KEYS_PER_CALL keys: the library's batch_too_large. */
static ERL_NIF_TERM
nif_get_many(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    nif_store *s;
    ErlNifBinary ns;
    ttlkv_slice *keys = NULL;
    unsigned int n = 0;
    ttlkv_key_list *kl = NULL;
    ERL_NIF_TERM fail;
    (void)argc;
    if (!get_many_args(env, argv, &s, &ns, &keys, &n, &fail)) {
        return fail;
    }
    ttlkv_status st = ttlkv_get_many(s->store, ns.data, ns.size, keys, n, &kl);
    enif_free(keys);
    if (st != TTLKV_OK) {
        return make_error(env, st);
    }
    ERL_NIF_TERM list = enif_make_list(env, 0);
    size_t len = ttlkv_key_list_len(kl);
    for (size_t i = len; i > 0; i--) {
        const uint8_t *v = NULL;
        size_t vlen = 0;
        ERL_NIF_TERM item;
        st = ttlkv_key_list_value(kl, i - 1, &v, &vlen);
        if (st == TTLKV_OK) {
            item = make_binary_copy(env, v, vlen);
        } else if (st == TTLKV_NOT_FOUND) {
            item = ATOM_NIL;
        } else {
            ttlkv_key_list_free(kl);
            return make_error(env, st);
        }
        list = enif_make_list_cell(env, item, list);
    }
    ttlkv_key_list_free(kl);
    return enif_make_tuple2(env, ATOM_OK, list);
}

/* delete_many(Store, Ns, [Key]) -> {ok, Removed} | {error, _}: one transaction. */
static ERL_NIF_TERM
nif_delete_many(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    nif_store *s;
    ErlNifBinary ns;
    ttlkv_slice *keys = NULL;
    unsigned int n = 0;
    uint64_t removed = 0;
    ERL_NIF_TERM fail;
    (void)argc;
    if (!get_many_args(env, argv, &s, &ns, &keys, &n, &fail)) {
        return fail;
    }
    ttlkv_status st = ttlkv_delete_many(s->store, ns.data, ns.size, keys, n, &removed);
    enif_free(keys);
    if (st != TTLKV_OK) {
        return make_error(env, st);
    }
    return enif_make_tuple2(env, ATOM_OK, enif_make_uint64(env, (ErlNifUInt64)removed));
}

/* clear(Store, Ns) -> {ok, Removed} | {error, _}; count(Store, Ns) -> {ok, N} | {error, _} */
static ERL_NIF_TERM
ns_number(ErlNifEnv *env, const ERL_NIF_TERM argv[], int clear)
{
    nif_store *s;
    ErlNifBinary ns;
    uint64_t n = 0;
    if (!get_store(env, argv[0], &s) || !get_bytes(env, argv[1], &ns)) {
        return enif_make_badarg(env);
    }
    ttlkv_status st = clear ? ttlkv_clear(s->store, ns.data, ns.size, &n)
                            : ttlkv_count(s->store, ns.data, ns.size, &n);
    if (st != TTLKV_OK) {
        return make_error(env, st);
    }
    return enif_make_tuple2(env, ATOM_OK, enif_make_uint64(env, (ErlNifUInt64)n));
}

static ERL_NIF_TERM
nif_clear(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    (void)argc;
    return ns_number(env, argv, 1);
}

static ERL_NIF_TERM
nif_count(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    (void)argc;
    return ns_number(env, argv, 0);
}

/* namespaces(Store) -> {ok, [Ns]} (byte order) | {error, _} */
static ERL_NIF_TERM
nif_namespaces(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    nif_store *s;
    ttlkv_key_list *kl = NULL;
    (void)argc;
    if (!get_store(env, argv[0], &s)) {
        return enif_make_badarg(env);
    }
    ttlkv_status st = ttlkv_namespaces(s->store, &kl);
    if (st != TTLKV_OK) {
        return make_error(env, st);
    }
    ERL_NIF_TERM out = key_list_to_term(env, kl, 0);
    ttlkv_key_list_free(kl);
    return out;
}

/* scan(Store, Ns, Prefix, After :: nil | Key, Limit) -> {ok, [{Key, Value}]} | {error, _}.
 * After nil is the first page (a NULL pointer); any key, the empty one included, is a cursor
 * (a non-NULL pointer, as the header requires). */
static ERL_NIF_TERM
scan_common(ErlNifEnv *env, const ERL_NIF_TERM argv[], int with_values)
{
    nif_store *s;
    ErlNifBinary ns, prefix, after;
    const uint8_t *after_ptr = NULL;
    size_t after_len = 0;
    ErlNifUInt64 limit;
    ttlkv_key_list *kl = NULL;
    if (!get_store(env, argv[0], &s) || !get_bytes(env, argv[1], &ns) ||
        !get_bytes(env, argv[2], &prefix) || !enif_get_uint64(env, argv[4], &limit)) {
        return enif_make_badarg(env);
    }
#if SIZE_MAX < UINT64_MAX
    if ((uint64_t)limit > SIZE_MAX) {
        return enif_make_badarg(env);
    }
#endif
    if (!enif_is_identical(argv[3], ATOM_NIL)) {
        if (!get_bytes(env, argv[3], &after)) {
            return enif_make_badarg(env);
        }
        after_ptr = after.size > 0 ? after.data : EMPTY_KEY;
        after_len = after.size;
    }
    ttlkv_status st = ttlkv_scan(s->store, ns.data, ns.size, prefix.data, prefix.size, after_ptr,
                                 after_len, (size_t)limit, &kl);
    if (st != TTLKV_OK) {
        return make_error(env, st);
    }
    ERL_NIF_TERM out = key_list_to_term(env, kl, with_values);
    ttlkv_key_list_free(kl);
    return out;
}

static ERL_NIF_TERM
nif_scan(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    (void)argc;
    return scan_common(env, argv, 1);
}

/* scan_terms(...) -> as scan, each value decoded (see key_list_to_term). */
static ERL_NIF_TERM
nif_scan_terms(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    (void)argc;
    return scan_common(env, argv, 2);
}

/* set_max_bytes(Store, Bytes :: nil | pos_integer, Eviction :: soonest_deadline | none) ->
 * ok | {error, _}. nil is no bound (0 in C, refused here: Elixir spells "none" nil). */
static ERL_NIF_TERM
nif_set_max_bytes(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    nif_store *s;
    ErlNifUInt64 bytes = 0;
    uint32_t eviction;
    (void)argc;
    if (!get_store(env, argv[0], &s)) {
        return enif_make_badarg(env);
    }
    if (!enif_is_identical(argv[1], ATOM_NIL) &&
        (!enif_get_uint64(env, argv[1], &bytes) || bytes == 0)) {
        return enif_make_badarg(env);
    }
    if (enif_is_identical(argv[2], ATOM_SOONEST_DEADLINE)) {
        eviction = TTLKV_EVICTION_SOONEST_DEADLINE;
    } else if (enif_is_identical(argv[2], ATOM_NONE)) {
        eviction = TTLKV_EVICTION_NONE;
    } else {
        return enif_make_badarg(env);
    }
    ttlkv_status st = ttlkv_set_max_bytes(s->store, (uint64_t)bytes, eviction);
    return st == TTLKV_OK ? ATOM_OK : make_error(env, st);
}

/* max_bytes(Store) -> {ok, {Bytes | nil, Eviction}} | {error, _} */
static ERL_NIF_TERM
nif_max_bytes(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    nif_store *s;
    uint64_t bytes = 0;
    uint32_t eviction = 0;
    ERL_NIF_TERM bound, policy;
    (void)argc;
    if (!get_store(env, argv[0], &s)) {
        return enif_make_badarg(env);
    }
    ttlkv_status st = ttlkv_max_bytes(s->store, &bytes, &eviction);
    if (st != TTLKV_OK) {
        return make_error(env, st);
    }
    bound = bytes == 0 ? ATOM_NIL : enif_make_uint64(env, (ErlNifUInt64)bytes);
    switch (eviction) {
    case TTLKV_EVICTION_SOONEST_DEADLINE:
        policy = ATOM_SOONEST_DEADLINE;
        break;
    case TTLKV_EVICTION_NONE:
        policy = ATOM_NONE;
        break;
    default:
        /* A policy newer than this shim: keep the number so nothing is lost. */
        policy = enif_make_tuple2(env, ATOM_UNKNOWN_EVICTION, enif_make_uint(env, eviction));
    }
    return enif_make_tuple2(env, ATOM_OK, enif_make_tuple2(env, bound, policy));
}

/* backup(Store, Dest :: binary, Compact :: boolean) -> ok | {error, _} */
static ERL_NIF_TERM
nif_backup(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    nif_store *s;
    ErlNifBinary dest;
    uint32_t flags;
    (void)argc;
    if (!get_store(env, argv[0], &s) || !get_bytes(env, argv[1], &dest) ||
        memchr(dest.data, 0, dest.size) != NULL) {
        return enif_make_badarg(env);
    }
    if (enif_is_identical(argv[2], ATOM_TRUE)) {
        flags = TTLKV_BACKUP_COMPACT;
    } else if (enif_is_identical(argv[2], ATOM_FALSE)) {
        flags = 0;
    } else {
        return enif_make_badarg(env);
    }
    char *cdest = enif_alloc(dest.size + 1);
    if (cdest == NULL) {
        return enif_raise_exception(env, enif_make_atom(env, "enomem"));
    }
    memcpy(cdest, dest.data, dest.size);
    cdest[dest.size] = '\0';
    ttlkv_status st = ttlkv_backup(s->store, cdest, flags);
    enif_free(cdest);
    return st == TTLKV_OK ? ATOM_OK : make_error(env, st);
}

/* --- load ----------------------------------------------------------------------------- */


/* --- replication: the order of records, merge, anti-entropy -------------------------- */

/* origin(Store) -> {ok, Origin} | {error, _}: no transaction (read at open). */
static ERL_NIF_TERM
nif_origin(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    nif_store *s;
    uint64_t origin = 0;
    (void)argc;
    if (!get_store(env, argv[0], &s)) {
        return enif_make_badarg(env);
    }
    ttlkv_status st = ttlkv_origin(s->store, &origin);
    if (st != TTLKV_OK) {
        return make_error(env, st);
    }
    return enif_make_tuple2(env, ATOM_OK, enif_make_uint64(env, (ErlNifUInt64)origin));
}

/* set_replicated(Store, true | false) -> ok | {error, _} */
static ERL_NIF_TERM
nif_set_replicated(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    nif_store *s;
    int on;
    (void)argc;
    if (!get_store(env, argv[0], &s)) {
        return enif_make_badarg(env);
    }
    if (enif_is_identical(argv[1], ATOM_TRUE)) {
        on = 1;
    } else if (enif_is_identical(argv[1], ATOM_FALSE)) {
        on = 0;
    } else {
        return enif_make_badarg(env);
    }
    ttlkv_status st = ttlkv_set_replicated(s->store, on);
    return st == TTLKV_OK ? ATOM_OK : make_error(env, st);
}

/* replicated(Store) -> {ok, boolean()} | {error, _} */
static ERL_NIF_TERM
nif_replicated(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    nif_store *s;
    int32_t on = 0;
    (void)argc;
    if (!get_store(env, argv[0], &s)) {
        return enif_make_badarg(env);
    }
    ttlkv_status st = ttlkv_replicated(s->store, &on);
    if (st != TTLKV_OK) {
        return make_error(env, st);
    }
    return enif_make_tuple2(env, ATOM_OK, on ? ATOM_TRUE : ATOM_FALSE);
}

/* A list of records as Erlang terms: {Ns, Key, Value, Deadline, Version, Origin, Tombstone}. */
static ERL_NIF_TERM
replica_list_to_term(ErlNifEnv *env, ttlkv_replica_list *l)
{
    size_t n = ttlkv_replica_list_len(l);
    ERL_NIF_TERM list = enif_make_list(env, 0);
    for (size_t i = n; i > 0; i--) {
        ttlkv_replica_record r;
        if (ttlkv_replica_list_get(l, i - 1, &r) != TTLKV_OK) {
            return make_error(env, TTLKV_PANIC);
        }
        ERL_NIF_TERM t[7] = {
            make_binary_copy(env, r.ns, r.ns_len),
            make_binary_copy(env, r.key, r.key_len),
            make_binary_copy(env, r.value, r.value_len),
            enif_make_uint64(env, (ErlNifUInt64)r.deadline),
            enif_make_uint64(env, (ErlNifUInt64)r.version),
            enif_make_uint64(env, (ErlNifUInt64)r.origin),
            (r.flags & TTLKV_REPLICA_TOMBSTONE) ? ATOM_TRUE : ATOM_FALSE,
        };
        list = enif_make_list_cell(env, enif_make_tuple_from_array(env, t, 7), list);
    }
    return enif_make_tuple2(env, ATOM_OK, list);
}

/* Decodes a list of {Ns, Key} (keys = 1) or of whole record tuples (keys = 0) into an array
 * (enif_alloc'd, *out; the byte strings point into env's binaries). */
static int
get_replica_records(ErlNifEnv *env, ERL_NIF_TERM list, int keys, ttlkv_replica_record **out,
                    unsigned int *n)
{
    ERL_NIF_TERM head, tail = list;
    if (!enif_get_list_length(env, list, n)) {
        return 0;
    }
    *out = enif_alloc(sizeof(ttlkv_replica_record) * (*n > 0 ? *n : 1));
    if (*out == NULL) {
        return 0;
    }
    for (unsigned int i = 0; i < *n; i++) {
        const ERL_NIF_TERM *t;
        int arity;
        ErlNifBinary ns, key, value;
        ErlNifUInt64 deadline = 0, version = 0, origin = 0;
        ttlkv_replica_record *r = &(*out)[i];
        if (!enif_get_list_cell(env, tail, &head, &tail) || !enif_get_tuple(env, head, &arity, &t) ||
            arity != (keys ? 2 : 7) || !get_bytes(env, t[0], &ns) || !get_bytes(env, t[1], &key)) {
            enif_free(*out);
            return 0;
        }
        memset(r, 0, sizeof(*r));
        r->ns = ns.data;
        r->ns_len = ns.size;
        r->key = key.size > 0 ? key.data : EMPTY_KEY;
        r->key_len = key.size;
        r->value = EMPTY_KEY;
        if (!keys) {
            if (!get_bytes(env, t[2], &value) || !enif_get_uint64(env, t[3], &deadline) ||
                !enif_get_uint64(env, t[4], &version) || !enif_get_uint64(env, t[5], &origin) ||
                !(enif_is_identical(t[6], ATOM_TRUE) || enif_is_identical(t[6], ATOM_FALSE))) {
                enif_free(*out);
                return 0;
            }
            r->value = value.size > 0 ? value.data : EMPTY_KEY;
            r->value_len = value.size;
            r->deadline = (uint64_t)deadline;
            r->version = (uint64_t)version;
            r->origin = (uint64_t)origin;
            r->flags = enif_is_identical(t[6], ATOM_TRUE) ? TTLKV_REPLICA_TOMBSTONE : 0;
        }
    }
    return 1;
}

/* What ttlkv_records() gave, as records/2 returns it; frees the list. */
static ERL_NIF_TERM
records_term(ErlNifEnv *env, ttlkv_status st, ttlkv_replica_list *l)
{
    if (st != TTLKV_OK) {
        return make_error(env, st);
    }
    ERL_NIF_TERM out = replica_list_to_term(env, l);
    ttlkv_replica_list_free(l);
    return out;
}

/* records(Store, [{Ns, Key}]) -> {ok, [Record]} | {error, _}: the stored, unexpired record
 * (entry or tombstone) of each key asked, in that order; keys without one are left out. */
static ERL_NIF_TERM
nif_records(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    nif_store *s;
    ttlkv_replica_record *keys = NULL;
    unsigned int n = 0;
    ttlkv_replica_list *l = NULL;
    (void)argc;
    if (!get_store(env, argv[0], &s) || !get_replica_records(env, argv[1], 1, &keys, &n)) {
        return enif_make_badarg(env);
    }
    ttlkv_status st = ttlkv_records(s->store, keys, n, &l);
    enif_free(keys);
    return records_term(env, st, l);
}

/* The stored record of one key, as records/2 gives it: {ok, [Record]} (empty when none). */
static ERL_NIF_TERM
records_of(ErlNifEnv *env, nif_store *s, const ErlNifBinary *ns, const ErlNifBinary *key)
{
    ttlkv_replica_record k;
    ttlkv_replica_list *l = NULL;
    memset(&k, 0, sizeof(k));
    k.ns = ns->data;
    k.ns_len = ns->size;
    k.key = key->size > 0 ? key->data : EMPTY_KEY;
    k.key_len = key->size;
    k.value = EMPTY_KEY;
    ttlkv_status st = ttlkv_records(s->store, &k, 1, &l);
    return records_term(env, st, l);
}

/* put_records(Store, Ns, Key, Value, Ttl) -> {ok, [Record]} | {error, _}: put/5, then the
 * key's record as records/2 reads it, in one call (one dirty-scheduler hop for a replicated
 * write where put/5 and records/2 take two). */
static ERL_NIF_TERM
nif_put_records(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    nif_store *s;
    ErlNifBinary ns, key;
    ttlkv_status st;
    (void)argc;
    if (!put_args(env, argv, &s, &ns, &key, &st)) {
        return enif_make_badarg(env);
    }
    return st == TTLKV_OK ? records_of(env, s, &ns, &key) : make_error(env, st);
}

/* delete_records(Store, Ns, Key) -> {ok, [Record]} | {error, _}: delete/3 (a key that was not
 * there is no error), then the key's record, in one call (see put_records). */
static ERL_NIF_TERM
nif_delete_records(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    nif_store *s;
    ErlNifBinary ns, key;
    ttlkv_status st;
    (void)argc;
    if (!delete_args(env, argv, &s, &ns, &key, &st)) {
        return enif_make_badarg(env);
    }
    if (st != TTLKV_OK && st != TTLKV_NOT_FOUND) {
        return make_error(env, st);
    }
    return records_of(env, s, &ns, &key);
}

/* merge(Store, [Record]) -> {ok, Applied} | {error, _} */
static ERL_NIF_TERM
nif_merge(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    nif_store *s;
    ttlkv_replica_record *recs = NULL;
    unsigned int n = 0;
    uint64_t applied = 0;
    (void)argc;
    if (!get_store(env, argv[0], &s) || !get_replica_records(env, argv[1], 0, &recs, &n)) {
        return enif_make_badarg(env);
    }
    ttlkv_status st = ttlkv_merge(s->store, recs, n, &applied);
    enif_free(recs);
    if (st != TTLKV_OK) {
        return make_error(env, st);
    }
    return enif_make_tuple2(env, ATOM_OK, enif_make_uint64(env, (ErlNifUInt64)applied));
}

/* digest(Store, Buckets, Cutoff) -> {ok, Binary of Buckets big-endian 64-bit hashes} |
 * {error, _}. A binary: compact on the wire, compared bucket by bucket. */
static ERL_NIF_TERM
nif_digest(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    nif_store *s;
    unsigned int buckets;
    ErlNifUInt64 cutoff;
    (void)argc;
    if (!get_store(env, argv[0], &s) || !enif_get_uint(env, argv[1], &buckets) ||
        buckets == 0 || buckets > TTLKV_MAX_DIGEST_BUCKETS || !enif_get_uint64(env, argv[2], &cutoff)) {
        return enif_make_badarg(env);
    }
    uint64_t *d = enif_alloc(sizeof(uint64_t) * buckets);
    if (d == NULL) {
        return enif_raise_exception(env, enif_make_atom(env, "enomem"));
    }
    ttlkv_status st = ttlkv_digest(s->store, buckets, (uint64_t)cutoff, d, buckets);
    if (st != TTLKV_OK) {
        enif_free(d);
        return make_error(env, st);
    }
    ERL_NIF_TERM bin;
    unsigned char *p = enif_make_new_binary(env, (size_t)buckets * 8, &bin);
    for (unsigned int i = 0; i < buckets; i++) {
        for (int b = 0; b < 8; b++) {
            p[i * 8 + b] = (unsigned char)(d[i] >> (56 - 8 * b));
        }
    }
    enif_free(d);
    return enif_make_tuple2(env, ATOM_OK, bin);
}

/* versions(Store, Buckets, [Bucket], Cutoff) -> {ok, [Record without value]} | {error, _};
 * bucket_records(...) the same with the values (values = 1). */
static ERL_NIF_TERM
of_buckets(ErlNifEnv *env, const ERL_NIF_TERM argv[], int values)
{
    nif_store *s;
    unsigned int buckets, n = 0;
    ErlNifUInt64 cutoff;
    ERL_NIF_TERM head, tail;
    ttlkv_replica_list *l = NULL;
    if (!get_store(env, argv[0], &s) || !enif_get_uint(env, argv[1], &buckets) ||
        !enif_get_list_length(env, argv[2], &n) || !enif_get_uint64(env, argv[3], &cutoff)) {
        return enif_make_badarg(env);
    }
    uint32_t *which = enif_alloc(sizeof(uint32_t) * (n > 0 ? n : 1));
    if (which == NULL) {
        return enif_raise_exception(env, enif_make_atom(env, "enomem"));
    }
    tail = argv[2];
    for (unsigned int i = 0; i < n; i++) {
        unsigned int b;
        if (!enif_get_list_cell(env, tail, &head, &tail) || !enif_get_uint(env, head, &b)) {
            enif_free(which);
            return enif_make_badarg(env);
        }
        which[i] = b;
    }
    ttlkv_status st = values ? ttlkv_bucket_records(s->store, buckets, which, n, (uint64_t)cutoff, &l)
                            : ttlkv_versions(s->store, buckets, which, n, (uint64_t)cutoff, &l);
    enif_free(which);
    if (st != TTLKV_OK) {
        return make_error(env, st);
    }
    ERL_NIF_TERM out = replica_list_to_term(env, l);
    ttlkv_replica_list_free(l);
    return out;
}

static ERL_NIF_TERM
nif_versions(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    (void)argc;
    return of_buckets(env, argv, 0);
}

static ERL_NIF_TERM
nif_bucket_records(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    (void)argc;
    return of_buckets(env, argv, 1);
}

static int
on_load(ErlNifEnv *env, void **priv, ERL_NIF_TERM load_info)
{
    unsigned int expected;
    (void)priv;
    /* load_info: the ABI version the Elixir side was written for. */
    if (!enif_get_uint(env, load_info, &expected) || expected != TTLKV_NIF_EXPECTED_ABI) {
        return LOAD_ERR_LOAD_INFO;
    }
    uint32_t lib_abi = ttlkv_abi_version();
    if (lib_abi != TTLKV_ABI_VERSION) {
        return LOAD_ERR_ABI_BASE + (int)(lib_abi & 0xffff);
    }
    STORE_TYPE = enif_open_resource_type(env, NULL, "ttlkv_store", store_dtor,
                                         ERL_NIF_RT_CREATE | ERL_NIF_RT_TAKEOVER, NULL);
    if (STORE_TYPE == NULL) {
        return LOAD_ERR_RESOURCE;
    }
    ATOM_OK = enif_make_atom(env, "ok");
    ATOM_ERROR = enif_make_atom(env, "error");
    ATOM_NOT_FOUND = enif_make_atom(env, "not_found");
    ATOM_CLOSED = enif_make_atom(env, "closed");
    ATOM_INFINITY = enif_make_atom(env, "infinity");
    ATOM_NIL = enif_make_atom(env, "nil");
    ATOM_UNKNOWN_STATUS = enif_make_atom(env, "unknown_status");
    ATOM_TRUE = enif_make_atom(env, "true");
    ATOM_FALSE = enif_make_atom(env, "false");
    ATOM_CONFLICT = enif_make_atom(env, ttlkv_status_name(TTLKV_CONFLICT));
    ATOM_ABSENT = enif_make_atom(env, "absent");
    ATOM_SOONEST_DEADLINE = enif_make_atom(env, "soonest_deadline");
    ATOM_NONE = enif_make_atom(env, "none");
    ATOM_UNKNOWN_EVICTION = enif_make_atom(env, "unknown_eviction");
    ATOM_RESET = enif_make_atom(env, "reset");
    for (uint32_t code = 0; code < STATUS_LIMIT; code++) {
        const char *name = ttlkv_status_name(code);
        STATUS_ATOMS[code] = strcmp(name, "unknown") == 0 ? 0 : enif_make_atom(env, name);
    }
    /* An upgrade within the same image finds the table made: the library, and so its list of
     * counters, is the same one. */
    if (STAT_ATOMS == NULL) {
        unsigned int n = 0;
        while (ttlkv_stat_name(n) != NULL) {
            n++;
        }
        ERL_NIF_TERM *atoms = enif_alloc(sizeof(ERL_NIF_TERM) * (n > 0 ? n : 1));
        if (atoms == NULL) {
            return LOAD_ERR_STATS;
        }
        for (unsigned int i = 0; i < n; i++) {
            atoms[i] = enif_make_atom(env, ttlkv_stat_name(i));
        }
        STAT_ATOMS = atoms;
        STAT_COUNT = n;
    }
    return 0;
}

static int
on_upgrade(ErlNifEnv *env, void **priv, void **old_priv, ERL_NIF_TERM load_info)
{
    (void)old_priv;
    return on_load(env, priv, load_info);
}

#define DIRTY_IO ERL_NIF_DIRTY_JOB_IO_BOUND

static ErlNifFunc nif_funcs[] = {
    {"abi_version", 0, nif_abi_version, 0},
    {"version", 0, nif_version, 0},
    {"status_str", 1, nif_status_str, 0},
    {"live_stores", 0, nif_live_stores, 0},
    {"stat_name", 1, nif_stat_name, 0},
    {"max_key_len", 2, nif_max_key_len, 0},
    {"corruption_reset", 1, nif_corruption_reset, 0},
    {"open", 2, nif_open, DIRTY_IO},
    {"close", 1, nif_close, DIRTY_IO},
    {"put", 5, nif_put, DIRTY_IO},
    {"put_many", 4, nif_put_many, DIRTY_IO},
    /* Reads of small values stay on normal schedulers (measured: README); see nif_get. */
    {"get", 3, nif_get, 0},
    {"get_dirty", 3, nif_get_dirty, DIRTY_IO},
    {"delete", 3, nif_delete, DIRTY_IO},
    {"deadline", 3, nif_deadline, DIRTY_IO},
    {"keys", 2, nif_keys, DIRTY_IO},
    {"entries", 2, nif_entries, DIRTY_IO},
    {"flush", 1, nif_flush, DIRTY_IO},
    {"purge_expired", 1, nif_purge_expired, DIRTY_IO},
    {"stats", 1, nif_stats, DIRTY_IO},
    {"verify", 1, nif_verify, DIRTY_IO},
    {"max_keys_per_call", 0, nif_max_keys_per_call, 0},
    /* The cache operations: each writes, reads a namespace, or copies values of any size. */
    {"touch", 4, nif_touch, DIRTY_IO},
    {"add", 5, nif_add, DIRTY_IO},
    {"incr", 5, nif_incr, DIRTY_IO},
    {"take", 3, nif_take, DIRTY_IO},
    {"get_versioned", 3, nif_get_versioned, DIRTY_IO},
    {"put_if_version", 6, nif_put_if_version, DIRTY_IO},
    {"get_many", 3, nif_get_many, DIRTY_IO},
    {"delete_many", 3, nif_delete_many, DIRTY_IO},
    {"clear", 2, nif_clear, DIRTY_IO},
    {"count", 2, nif_count, DIRTY_IO},
    {"namespaces", 1, nif_namespaces, DIRTY_IO},
    {"scan", 5, nif_scan, DIRTY_IO},
    {"scan_terms", 5, nif_scan_terms, DIRTY_IO},
    {"set_max_bytes", 3, nif_set_max_bytes, DIRTY_IO},
    {"max_bytes", 1, nif_max_bytes, DIRTY_IO},
    {"backup", 3, nif_backup, DIRTY_IO},
    {"origin", 1, nif_origin, 0},
    {"set_replicated", 2, nif_set_replicated, DIRTY_IO},
    {"replicated", 1, nif_replicated, DIRTY_IO},
    {"records", 2, nif_records, DIRTY_IO},
    {"put_records", 5, nif_put_records, DIRTY_IO},
    {"delete_records", 3, nif_delete_records, DIRTY_IO},
    {"merge", 2, nif_merge, DIRTY_IO},
    {"digest", 3, nif_digest, DIRTY_IO},
    {"versions", 4, nif_versions, DIRTY_IO},
    {"bucket_records", 4, nif_bucket_records, DIRTY_IO},
};

ERL_NIF_INIT(Elixir.TTLKV.NIF, nif_funcs, on_load, NULL, on_upgrade, NULL)
