/* Replication through the ABI, between two stores (argv[1] and argv[2], else two fresh temp
 * directories): origins and the replicating switch, records with their order and merge
 * (last writer wins on (version, origin)), tombstones, an anti-entropy exchange (digest ->
 * differing buckets -> versions -> records of the newer -> merge, both ways) until the digests
 * agree, and every refusal with what it leaves in place. Every list is freed: under valgrind
 * nothing may leak. */
#include "common.h"

#define BUCKETS 16
#define MAX_RECORDS 256

/* A record naming (ns, key), as ttlkv_records() takes it (the other fields are ignored). */
static ttlkv_replica_record key_of(const char *ns, const uint8_t *key, size_t key_len) {
  ttlkv_replica_record r;
  memset(&r, 0, sizeof r);
  r.ns = (const uint8_t *)ns;
  r.ns_len = strlen(ns);
  r.key = key;
  r.key_len = key_len;
  return r;
}

static int same_bytes(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len) {
  return a_len == b_len && (a_len == 0 || memcmp(a, b, a_len) == 0);
}

static int same_key(const ttlkv_replica_record *a, const ttlkv_replica_record *b) {
  return same_bytes(a->ns, a->ns_len, b->ns, b->ns_len) && same_bytes(a->key, a->key_len, b->key, b->key_len);
}

static int same_record(const ttlkv_replica_record *a, const ttlkv_replica_record *b) {
  return same_key(a, b) && same_bytes(a->value, a->value_len, b->value, b->value_len) &&
         a->deadline == b->deadline && a->version == b->version && a->origin == b->origin &&
         a->flags == b->flags;
}

/* (version, origin) of a is after that of b. */
static int newer(const ttlkv_replica_record *a, const ttlkv_replica_record *b) {
  return a->version > b->version || (a->version == b->version && a->origin > b->origin);
}

/* Every record of a list into out (its pointers stay the list's); returns how many. */
static size_t list_records(const ttlkv_replica_list *l, ttlkv_replica_record *out, size_t cap) {
  size_t n = ttlkv_replica_list_len(l);
  CHECK(n <= cap);
  for (size_t i = 0; i < n; i++) {
    memset(&out[i], 0xAB, sizeof out[i]); /* every field is written by the call */
    CHECK_STATUS(ttlkv_replica_list_get(l, i, &out[i]), TTLKV_OK);
    CHECK(out[i].ns != NULL && out[i].key != NULL && out[i].value != NULL);
    CHECK(out[i].flags == 0 || out[i].flags == TTLKV_REPLICA_TOMBSTONE);
  }
  return n;
}

static int digests_equal(ttlkv_store *a, ttlkv_store *b, uint32_t buckets) {
  uint64_t *da = calloc(buckets, sizeof *da), *db = calloc(buckets, sizeof *db);
  CHECK(da != NULL && db != NULL);
  CHECK_STATUS(ttlkv_digest(a, buckets, 0, da, buckets), TTLKV_OK);
  CHECK_STATUS(ttlkv_digest(b, buckets, 0, db, buckets), TTLKV_OK);
  int equal = memcmp(da, db, buckets * sizeof *da) == 0;
  free(da);
  free(db);
  return equal;
}

/* Copies the records of `keys` from one store into the other; returns how many were written. */
static uint64_t transfer(ttlkv_store *from, ttlkv_store *to, const ttlkv_replica_record *keys, size_t n) {
  static ttlkv_replica_record recs[MAX_RECORDS];
  ttlkv_replica_list *l = NULL;
  CHECK_STATUS(ttlkv_records(from, keys, n, &l), TTLKV_OK);
  size_t got = list_records(l, recs, MAX_RECORDS);
  CHECK(got == n); /* nothing expires meanwhile in this test */
  uint64_t applied = 99;
  CHECK_STATUS(ttlkv_merge(to, recs, got, &applied), TTLKV_OK);
  ttlkv_replica_list_free(l); /* only after the merge: recs points into the list */
  return applied;
}

/* One anti-entropy round between x and y; returns how many records the two merges wrote. */
static uint64_t sync_round(ttlkv_store *x, ttlkv_store *y) {
  uint64_t dx[BUCKETS], dy[BUCKETS];
  CHECK_STATUS(ttlkv_digest(x, BUCKETS, 0, dx, BUCKETS), TTLKV_OK);
  CHECK_STATUS(ttlkv_digest(y, BUCKETS, 0, dy, BUCKETS), TTLKV_OK);
  uint32_t differing[BUCKETS];
  size_t nd = 0;
  for (uint32_t b = 0; b < BUCKETS; b++) {
    if (dx[b] != dy[b]) differing[nd++] = b;
  }
  if (nd == 0) return 0;
  ttlkv_replica_list *lx = NULL, *ly = NULL;
  CHECK_STATUS(ttlkv_versions(x, BUCKETS, differing, nd, 0, &lx), TTLKV_OK);
  CHECK_STATUS(ttlkv_versions(y, BUCKETS, differing, nd, 0, &ly), TTLKV_OK);
  static ttlkv_replica_record vx[MAX_RECORDS], vy[MAX_RECORDS], want_x[MAX_RECORDS], want_y[MAX_RECORDS];
  size_t nx = list_records(lx, vx, MAX_RECORDS), ny = list_records(ly, vy, MAX_RECORDS);
  size_t nwx = 0, nwy = 0; /* the keys x has newer, and those y has newer */
  for (size_t i = 0; i < nx; i++) {
    CHECK(vx[i].value_len == 0); /* versions carry no values */
    size_t j = 0;
    while (j < ny && !same_key(&vx[i], &vy[j])) j++;
    if (j == ny || newer(&vx[i], &vy[j])) want_x[nwx++] = vx[i];
  }
  for (size_t j = 0; j < ny; j++) {
    CHECK(vy[j].value_len == 0);
    size_t i = 0;
    while (i < nx && !same_key(&vy[j], &vx[i])) i++;
    if (i == nx || newer(&vy[j], &vx[i])) want_y[nwy++] = vy[j];
  }
  uint64_t written = transfer(x, y, want_x, nwx) + transfer(y, x, want_y, nwy);
  ttlkv_replica_list_free(lx);
  ttlkv_replica_list_free(ly);
  return written;
}

static void check_value(ttlkv_store *s, const char *ns, const char *key, const char *want) {
  ttlkv_buf buf = {NULL, 0};
  CHECK_STATUS(ttlkv_get(s, STR(ns), STR(key), &buf), TTLKV_OK);
  CHECK(buf.len == strlen(want) && memcmp(buf.data, want, buf.len) == 0);
  ttlkv_buf_free(&buf);
}

static void check_absent(ttlkv_store *s, const char *ns, const char *key) {
  ttlkv_buf buf = {NULL, 0};
  CHECK_STATUS(ttlkv_get(s, STR(ns), STR(key), &buf), TTLKV_NOT_FOUND);
}

int main(int argc, char **argv) {
  char *dir_a = test_dir(argc, argv, "replica-a");
  char *dir_b = test_dir(argc > 2 ? argc - 1 : 1, argv + 1, "replica-b");
  ttlkv_store *a = NULL, *b = NULL;
  CHECK_STATUS(ttlkv_open(dir_a, NULL, &a), TTLKV_OK);
  CHECK_STATUS(ttlkv_open(dir_b, NULL, &b), TTLKV_OK);

  /* origins and the switch */
  uint64_t origin_a = 0, origin_b = 0;
  CHECK_STATUS(ttlkv_origin(a, &origin_a), TTLKV_OK);
  CHECK_STATUS(ttlkv_origin(b, &origin_b), TTLKV_OK);
  CHECK(origin_a != origin_b);
  int32_t on = 7;
  CHECK_STATUS(ttlkv_replicated(a, &on), TTLKV_OK);
  CHECK(on == 0);
  CHECK_STATUS(ttlkv_set_replicated(a, 1), TTLKV_OK);
  CHECK_STATUS(ttlkv_set_replicated(b, 2), TTLKV_OK); /* any non-zero */
  CHECK_STATUS(ttlkv_replicated(a, &on), TTLKV_OK);
  CHECK(on == 1);
  CHECK_STATUS(ttlkv_replicated(b, &on), TTLKV_OK);
  CHECK(on == 1);

  /* records: entries and a tombstone, in the order asked, a missing key left out */
  static const uint8_t bin_key[] = {'b', 0, 'k'};
  static const uint8_t bin_value[] = {0, 1, 0xff, 0};
  CHECK_STATUS(ttlkv_put(a, STR("n"), STR("k1"), STR("v1"), 60000), TTLKV_OK);
  CHECK_STATUS(ttlkv_put(a, STR("n"), bin_key, sizeof bin_key, bin_value, sizeof bin_value, 60000), TTLKV_OK);
  CHECK_STATUS(ttlkv_put(a, STR("n"), STR("forever"), STR("f"), TTLKV_TTL_NEVER), TTLKV_OK);
  CHECK_STATUS(ttlkv_put(a, STR("n"), STR("gone"), STR("soon deleted"), 60000), TTLKV_OK);
  ttlkv_replica_record gone_key = key_of("n", STR("gone"));
  ttlkv_replica_list *before = NULL; /* the write the delete beats, kept for later */
  CHECK_STATUS(ttlkv_records(a, &gone_key, 1, &before), TTLKV_OK);
  CHECK(ttlkv_replica_list_len(before) == 1);
  ttlkv_replica_record gone_write;
  CHECK_STATUS(ttlkv_replica_list_get(before, 0, &gone_write), TTLKV_OK);
  CHECK(gone_write.flags == 0 && same_bytes(gone_write.value, gone_write.value_len, STR("soon deleted")));
  CHECK_STATUS(ttlkv_delete(a, STR("n"), STR("gone")), TTLKV_OK);
  check_absent(a, "n", "gone");

  ttlkv_replica_record keys[5] = {
      key_of("n", STR("k1")),   key_of("n", bin_key, sizeof bin_key), key_of("n", STR("missing")),
      key_of("n", STR("gone")), key_of("n", STR("forever")),
  };
  ttlkv_replica_list *la = NULL;
  CHECK_STATUS(ttlkv_records(a, keys, 5, &la), TTLKV_OK);
  static ttlkv_replica_record ra[MAX_RECORDS], rb[MAX_RECORDS];
  size_t na = list_records(la, ra, MAX_RECORDS);
  CHECK(na == 4);
  CHECK(same_key(&ra[0], &keys[0]) && same_key(&ra[1], &keys[1]) && same_key(&ra[2], &keys[3]) &&
        same_key(&ra[3], &keys[4]));
  CHECK(same_bytes(ra[0].value, ra[0].value_len, STR("v1")) && ra[0].flags == 0);
  CHECK(same_bytes(ra[1].value, ra[1].value_len, bin_value, sizeof bin_value));
  CHECK(ra[2].flags == TTLKV_REPLICA_TOMBSTONE && ra[2].value_len == 0);
  CHECK(ra[2].version > gone_write.version && ra[2].deadline > gone_write.deadline);
  CHECK(ra[3].deadline == TTLKV_DEADLINE_NEVER && ra[0].deadline != TTLKV_DEADLINE_NEVER);
  for (size_t i = 0; i < na; i++) CHECK(ra[i].origin == origin_a && ra[i].version != 0);

  /* merge into B: everything is new there; the same again writes nothing */
  uint64_t applied = 99;
  CHECK_STATUS(ttlkv_merge(b, ra, na, &applied), TTLKV_OK);
  CHECK(applied == 4);
  CHECK_STATUS(ttlkv_merge(b, ra, na, &applied), TTLKV_OK);
  CHECK(applied == 0);
  CHECK_STATUS(ttlkv_merge(b, ra, na, NULL), TTLKV_OK); /* applied may be NULL */
  CHECK_STATUS(ttlkv_merge(b, NULL, 0, &applied), TTLKV_OK);
  CHECK(applied == 0);
  check_value(b, "n", "k1", "v1");
  check_value(b, "n", "forever", "f");
  check_absent(b, "n", "gone");
  ttlkv_replica_list *lb = NULL;
  CHECK_STATUS(ttlkv_records(b, keys, 5, &lb), TTLKV_OK);
  CHECK(list_records(lb, rb, MAX_RECORDS) == na);
  for (size_t i = 0; i < na; i++) CHECK(same_record(&ra[i], &rb[i])); /* A's origin kept */
  ttlkv_replica_list_free(lb);

  /* the deleted write, merged again, stays deleted (on A, and on B that has the tombstone) */
  CHECK_STATUS(ttlkv_merge(a, &gone_write, 1, &applied), TTLKV_OK);
  CHECK(applied == 0);
  CHECK_STATUS(ttlkv_merge(b, &gone_write, 1, &applied), TTLKV_OK);
  CHECK(applied == 0);
  check_absent(a, "n", "gone");
  check_absent(b, "n", "gone");
  ttlkv_replica_list_free(before);

  /* last writer wins: a newer version wins, an older or equal one does not, a higher origin
   * wins a tie */
  ttlkv_replica_record r = ra[0];
  r.version = ra[0].version + 1;
  r.value = (const uint8_t *)"newer";
  r.value_len = 5;
  CHECK_STATUS(ttlkv_merge(b, &r, 1, &applied), TTLKV_OK);
  CHECK(applied == 1);
  check_value(b, "n", "k1", "newer");
  CHECK_STATUS(ttlkv_merge(b, &ra[0], 1, &applied), TTLKV_OK); /* older */
  CHECK(applied == 0);
  r.value = (const uint8_t *)"equal";
  CHECK_STATUS(ttlkv_merge(b, &r, 1, &applied), TTLKV_OK);
  CHECK(applied == 0);
  r.origin = ra[0].origin - 1;
  r.value = (const uint8_t *)"lower";
  CHECK_STATUS(ttlkv_merge(b, &r, 1, &applied), TTLKV_OK);
  CHECK(applied == 0);
  r.origin = ra[0].origin + 1;
  r.value = (const uint8_t *)"upper";
  CHECK_STATUS(ttlkv_merge(b, &r, 1, &applied), TTLKV_OK);
  CHECK(applied == 1);
  check_value(b, "n", "k1", "upper");
  /* an expired record is dropped */
  r = ra[0];
  r.key = (const uint8_t *)"expired";
  r.key_len = 7;
  r.deadline = 1; /* 1 ms after the epoch */
  CHECK_STATUS(ttlkv_merge(b, &r, 1, &applied), TTLKV_OK);
  CHECK(applied == 0);
  check_absent(b, "n", "expired");

  /* anti-entropy: writes on both sides, one overlapping key each way, deletes on both */
  for (int i = 0; i < 40; i++) {
    char key[32];
    snprintf(key, sizeof key, "a-%d", i);
    CHECK_STATUS(ttlkv_put(a, STR("ae"), STR(key), STR("from a"), 600000), TTLKV_OK);
    snprintf(key, sizeof key, "b-%d", i);
    CHECK_STATUS(ttlkv_put(b, STR("ae"), STR(key), STR("from b"), 600000), TTLKV_OK);
  }
  usleep(5000); /* versions are milliseconds first: B's write of a-7 is in a later one */
  CHECK_STATUS(ttlkv_put(b, STR("ae"), STR("a-7"), STR("b wrote it last"), 600000), TTLKV_OK);
  CHECK_STATUS(ttlkv_delete(a, STR("ae"), STR("a-8")), TTLKV_OK);
  CHECK_STATUS(ttlkv_delete(b, STR("ae"), STR("b-9")), TTLKV_OK);
  CHECK(!digests_equal(a, b, BUCKETS));
  uint64_t written = sync_round(a, b);
  /* A: a-0..39 (a-8 a tombstone, a-7 older than B's), k1 older than B's; B: b-0..39 (b-9 a
   * tombstone), a-7, k1 */
  CHECK(written == 39 + 40 + 1 + 1);
  CHECK(digests_equal(a, b, BUCKETS));
  CHECK(digests_equal(a, b, 1));
  CHECK(digests_equal(a, b, 1000));
  CHECK(sync_round(a, b) == 0);
  check_value(a, "ae", "a-7", "b wrote it last");
  check_value(a, "ae", "b-3", "from b");
  check_value(b, "ae", "a-3", "from a");
  check_value(a, "n", "k1", "upper");
  check_absent(b, "ae", "a-8");
  check_absent(a, "ae", "b-9");
  uint64_t count_a = 0, count_b = 0;
  CHECK_STATUS(ttlkv_count(a, STR("ae"), &count_a), TTLKV_OK);
  CHECK_STATUS(ttlkv_count(b, STR("ae"), &count_b), TTLKV_OK);
  CHECK(count_a == 78 && count_b == 78);

  /* bad inputs: NULL handles and out pointers */
  uint64_t u = 0;
  uint64_t digest[BUCKETS];
  ttlkv_replica_list *l = NULL;
  CHECK_STATUS(ttlkv_origin(NULL, &u), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_origin(a, NULL), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_set_replicated(NULL, 1), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_replicated(NULL, &on), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_replicated(a, NULL), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_records(NULL, keys, 1, &l), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_records(a, keys, 1, NULL), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_records(a, NULL, 1, &l), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_merge(NULL, ra, 1, &applied), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_merge(a, NULL, 1, &applied), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_digest(NULL, BUCKETS, 0, digest, BUCKETS), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_digest(a, BUCKETS, 0, NULL, BUCKETS), TTLKV_INVALID_ARGUMENT);
  uint32_t which[2] = {0, BUCKETS};
  CHECK_STATUS(ttlkv_versions(NULL, BUCKETS, which, 1, 0, &l), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_versions(a, BUCKETS, which, 1, 0, NULL), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_versions(a, BUCKETS, NULL, 1, 0, &l), TTLKV_INVALID_ARGUMENT);
  CHECK(l == NULL); /* no call above made a list */
  /* ... and empty inputs, which are fine */
  CHECK_STATUS(ttlkv_records(a, NULL, 0, &l), TTLKV_OK);
  CHECK(ttlkv_replica_list_len(l) == 0);
  ttlkv_replica_list_free(l);
  l = NULL;
  CHECK_STATUS(ttlkv_versions(a, BUCKETS, NULL, 0, 0, &l), TTLKV_OK);
  CHECK(ttlkv_replica_list_len(l) == 0);
  ttlkv_replica_list_free(l);
  l = NULL;

  /* bad buckets and lengths */
  CHECK_STATUS(ttlkv_digest(a, BUCKETS, 0, digest, BUCKETS - 1), TTLKV_INVALID_ARGUMENT);
  CHECK(strstr(ttlkv_last_error(), "buckets") != NULL);
  CHECK_STATUS(ttlkv_digest(a, BUCKETS - 1, 0, digest, BUCKETS), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_digest(a, 0, 0, digest, 0), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_digest(a, TTLKV_MAX_DIGEST_BUCKETS + 1, 0, digest, TTLKV_MAX_DIGEST_BUCKETS + 1),
               TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_versions(a, BUCKETS, which, 2, 0, &l), TTLKV_INVALID_ARGUMENT); /* bucket 16 of 16 */
  CHECK_STATUS(ttlkv_versions(a, 0, NULL, 0, 0, &l), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_versions(a, TTLKV_MAX_DIGEST_BUCKETS + 1, which, 1, 0, &l), TTLKV_INVALID_ARGUMENT);
  CHECK(l == NULL);
  CHECK_STATUS(ttlkv_records(a, keys, TTLKV_MAX_KEYS_PER_CALL + 1, &l), TTLKV_BATCH_TOO_LARGE);
  ttlkv_replica_record bad_ns = key_of("n", STR("k"));
  bad_ns.ns_len = 0;
  CHECK_STATUS(ttlkv_records(a, &bad_ns, 1, &l), TTLKV_NAMESPACE_INVALID);
  bad_ns.ns = NULL;
  bad_ns.ns_len = 1;
  CHECK_STATUS(ttlkv_records(a, &bad_ns, 1, &l), TTLKV_INVALID_ARGUMENT);
  CHECK(l == NULL);

  /* a bad record fails the whole merge and writes nothing */
  ttlkv_replica_record batch[2];
  batch[0] = ra[0];
  batch[0].key = (const uint8_t *)"fresh";
  batch[0].key_len = 5;
  batch[1] = batch[0];
  batch[1].key = (const uint8_t *)"fresh-tomb";
  batch[1].key_len = 10;
  batch[1].flags = TTLKV_REPLICA_TOMBSTONE; /* with the value "v1": refused */
  applied = 99;
  CHECK_STATUS(ttlkv_merge(b, batch, 2, &applied), TTLKV_INVALID_ARGUMENT);
  CHECK(strstr(ttlkv_last_error(), "record 1") != NULL && strstr(ttlkv_last_error(), "tombstone") != NULL);
  CHECK(applied == 99);
  ttlkv_replica_record fresh_keys[2] = {key_of("n", STR("fresh")), key_of("n", STR("fresh-tomb"))};
  CHECK_STATUS(ttlkv_records(b, fresh_keys, 2, &l), TTLKV_OK);
  CHECK(ttlkv_replica_list_len(l) == 0);
  ttlkv_replica_list_free(l);
  l = NULL;
  check_absent(b, "n", "fresh");
  batch[1].flags = 0;
  batch[1].value = NULL; /* NULL with a length */
  CHECK_STATUS(ttlkv_merge(b, batch, 2, &applied), TTLKV_INVALID_ARGUMENT);
  batch[1].value_len = 0; /* NULL with length 0 is the empty value */
  batch[1].ns_len = 0;
  CHECK_STATUS(ttlkv_merge(b, batch, 2, &applied), TTLKV_NAMESPACE_INVALID);
  check_absent(b, "n", "fresh");
  batch[1].ns_len = 1;
  batch[1].flags = TTLKV_REPLICA_TOMBSTONE; /* a tombstone with an empty value: fine */
  CHECK_STATUS(ttlkv_merge(b, batch, 2, &applied), TTLKV_OK);
  CHECK(applied == 2);
  check_value(b, "n", "fresh", "v1");
  check_absent(b, "n", "fresh-tomb");
  CHECK_STATUS(ttlkv_records(b, fresh_keys, 2, &l), TTLKV_OK);
  CHECK(ttlkv_replica_list_len(l) == 2);
  ttlkv_replica_record got;
  CHECK_STATUS(ttlkv_replica_list_get(l, 1, &got), TTLKV_OK);
  CHECK(got.flags == TTLKV_REPLICA_TOMBSTONE && got.value_len == 0 && got.value != NULL);

  /* the list readers */
  CHECK_STATUS(ttlkv_replica_list_get(l, 2, &got), TTLKV_INVALID_ARGUMENT);
  CHECK(strstr(ttlkv_last_error(), "out of range") != NULL);
  CHECK_STATUS(ttlkv_replica_list_get(l, 0, NULL), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_replica_list_get(NULL, 0, &got), TTLKV_INVALID_ARGUMENT);
  CHECK(ttlkv_replica_list_len(NULL) == 0);
  ttlkv_replica_list_free(l);
  ttlkv_replica_list_free(NULL);

  /* a closed store */
  CHECK_STATUS(ttlkv_close(b), TTLKV_OK);
  CHECK_STATUS(ttlkv_origin(b, &u), TTLKV_CLOSED);
  CHECK_STATUS(ttlkv_merge(b, ra, 1, &applied), TTLKV_CLOSED);
  CHECK_STATUS(ttlkv_digest(b, BUCKETS, 0, digest, BUCKETS), TTLKV_CLOSED);
  ttlkv_free(b);

  CHECK_STATUS(ttlkv_close(a), TTLKV_OK);
  ttlkv_free(a);
  ttlkv_replica_list_free(la); /* ra pointed into it until here */
  free(dir_a);
  free(dir_b);
  printf("replica: ok\n");
  return 0;
}
