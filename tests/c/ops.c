/* The cache operations through the ABI: touch, add, incr, take, versions and compare-and-set,
 * many keys, namespaces, scan with a cursor, the size bound, backup — each result and each
 * refusal, and what a refusal leaves in place. */
#include "common.h"

static void check_value(ttlkv_store *s, const char *ns, const char *key, const char *want) {
  ttlkv_buf buf = {NULL, 0};
  CHECK_STATUS(ttlkv_get(s, STR(ns), STR(key), &buf), TTLKV_OK);
  CHECK(buf.len == strlen(want) && memcmp(buf.data, want, buf.len) == 0);
  ttlkv_buf_free(&buf);
}

int main(int argc, char **argv) {
  char *dir = test_dir(argc, argv, "ops");
  ttlkv_store *s = NULL;
  CHECK_STATUS(ttlkv_open(dir, NULL, &s), TTLKV_OK);

  /* touch */
  CHECK_STATUS(ttlkv_put(s, STR("n"), STR("k"), STR("v"), 60000), TTLKV_OK);
  CHECK_STATUS(ttlkv_touch(s, STR("n"), STR("k"), TTLKV_TTL_NEVER), TTLKV_OK);
  uint64_t d = 0;
  CHECK_STATUS(ttlkv_deadline(s, STR("n"), STR("k"), &d), TTLKV_OK);
  CHECK(d == TTLKV_DEADLINE_NEVER);
  CHECK_STATUS(ttlkv_touch(s, STR("n"), STR("missing"), 1000), TTLKV_NOT_FOUND);
  CHECK_STATUS(ttlkv_touch(s, STR("n"), STR("k"), 0), TTLKV_TTL_INVALID);

  /* add */
  CHECK_STATUS(ttlkv_add(s, STR("n"), STR("k"), STR("other"), 60000), TTLKV_CONFLICT);
  check_value(s, "n", "k", "v");
  CHECK_STATUS(ttlkv_add(s, STR("n"), STR("new"), STR("first"), 60000), TTLKV_OK);

  /* incr */
  int64_t n = 99;
  CHECK_STATUS(ttlkv_incr(s, STR("n"), STR("c"), 5, 0, 0, &n), TTLKV_NOT_FOUND);
  CHECK(n == 99);
  CHECK_STATUS(ttlkv_incr(s, STR("n"), STR("c"), 5, TTLKV_INCR_CREATE, 60000, &n), TTLKV_OK);
  CHECK(n == 5);
  CHECK_STATUS(ttlkv_incr(s, STR("n"), STR("c"), -7, 0, 0, &n), TTLKV_OK);
  CHECK(n == -2);
  check_value(s, "n", "c", "-2");
  CHECK_STATUS(ttlkv_incr(s, STR("n"), STR("k"), 1, 0, 0, &n), TTLKV_NOT_A_COUNTER);
  CHECK(strstr(ttlkv_last_error(), "not a counter") != NULL);
  CHECK_STATUS(ttlkv_put(s, STR("n"), STR("max"), STR("9223372036854775807"), 60000), TTLKV_OK);
  CHECK_STATUS(ttlkv_incr(s, STR("n"), STR("max"), 1, 0, 0, &n), TTLKV_OVERFLOW);
  check_value(s, "n", "max", "9223372036854775807");
  CHECK_STATUS(ttlkv_incr(s, STR("n"), STR("c"), 1, 2, 0, &n), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_incr(s, STR("n"), STR("c"), 1, 0, 0, NULL), TTLKV_INVALID_ARGUMENT);

  /* versions */
  ttlkv_buf buf = {NULL, 0};
  uint64_t v1 = 0, v2 = 0, v3 = 0;
  CHECK_STATUS(ttlkv_get_versioned(s, STR("n"), STR("k"), &buf, &v1), TTLKV_OK);
  ttlkv_buf_free(&buf);
  CHECK(v1 != TTLKV_VERSION_ABSENT);
  CHECK_STATUS(ttlkv_put_if_version(s, STR("n"), STR("k"), STR("w"), 60000, v1, &v2), TTLKV_OK);
  CHECK(v2 > v1);
  CHECK_STATUS(ttlkv_put_if_version(s, STR("n"), STR("k"), STR("x"), 60000, v1, &v3), TTLKV_CONFLICT);
  CHECK_STATUS(ttlkv_put_if_version(s, STR("n"), STR("k"), STR("x"), 60000, TTLKV_VERSION_ABSENT, &v3),
               TTLKV_CONFLICT);
  check_value(s, "n", "k", "w");
  CHECK_STATUS(ttlkv_put_if_version(s, STR("n"), STR("fresh"), STR("x"), 60000, TTLKV_VERSION_ABSENT, &v3),
               TTLKV_OK);

  /* take */
  CHECK_STATUS(ttlkv_take(s, STR("n"), STR("fresh"), &buf), TTLKV_OK);
  CHECK(buf.len == 1 && buf.data[0] == 'x');
  ttlkv_buf_free(&buf);
  CHECK_STATUS(ttlkv_take(s, STR("n"), STR("fresh"), &buf), TTLKV_NOT_FOUND);

  /* get_many / delete_many */
  ttlkv_slice keys[3] = {{(const uint8_t *)"k", 1}, {(const uint8_t *)"nope", 4}, {(const uint8_t *)"c", 1}};
  ttlkv_key_list *l = NULL;
  CHECK_STATUS(ttlkv_get_many(s, STR("n"), keys, 3, &l), TTLKV_OK);
  CHECK(ttlkv_key_list_len(l) == 3);
  const uint8_t *p = NULL;
  size_t len = 0;
  CHECK_STATUS(ttlkv_key_list_get(l, 1, &p, &len), TTLKV_OK);
  CHECK(len == 4 && memcmp(p, "nope", 4) == 0);
  CHECK_STATUS(ttlkv_key_list_value(l, 0, &p, &len), TTLKV_OK);
  CHECK(len == 1 && p[0] == 'w');
  CHECK_STATUS(ttlkv_key_list_value(l, 1, &p, &len), TTLKV_NOT_FOUND);
  CHECK_STATUS(ttlkv_key_list_value(l, 3, &p, &len), TTLKV_INVALID_ARGUMENT);
  ttlkv_key_list_free(l);
  ttlkv_slice bad[1] = {{NULL, 3}};
  CHECK_STATUS(ttlkv_get_many(s, STR("n"), bad, 1, &l), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_get_many(s, STR("n"), NULL, 2, &l), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_get_many(s, STR("n"), NULL, 0, &l), TTLKV_OK);
  CHECK(ttlkv_key_list_len(l) == 0);
  ttlkv_key_list_free(l);
  CHECK_STATUS(ttlkv_get_many(s, STR("n"), keys, TTLKV_MAX_KEYS_PER_CALL + 1, &l), TTLKV_BATCH_TOO_LARGE);
  /* get_many_into: the values one after another in the caller's buffer */
  uint8_t vals[8];
  uint64_t lens[3] = {7, 7, 7};
  size_t needed = 0;
  CHECK_STATUS(ttlkv_get_many_into(s, STR("n"), keys, 3, vals, 1, lens, &needed), TTLKV_BUFFER_TOO_SMALL);
  CHECK(needed == 3 && lens[0] == 7); /* "w" and "-2": nothing else written */
  CHECK_STATUS(ttlkv_get_many_into(s, STR("n"), keys, 3, vals, sizeof vals, lens, &needed), TTLKV_OK);
  CHECK(needed == 3 && lens[0] == 1 && lens[1] == TTLKV_LEN_NOT_FOUND && lens[2] == 2);
  CHECK(memcmp(vals, "w-2", 3) == 0);
  CHECK_STATUS(ttlkv_get_many_into(s, STR("n"), keys, 3, NULL, 4, lens, &needed), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_get_many_into(s, STR("n"), NULL, 0, NULL, 0, NULL, &needed), TTLKV_OK);
  CHECK(needed == 0);
  uint64_t removed = 0;
  CHECK_STATUS(ttlkv_delete_many(s, STR("n"), keys, 3, &removed), TTLKV_OK);
  CHECK(removed == 2);

  /* namespaces, count, clear */
  CHECK_STATUS(ttlkv_put(s, STR("other"), STR("a"), STR("1"), 60000), TTLKV_OK);
  CHECK_STATUS(ttlkv_namespaces(s, &l), TTLKV_OK);
  CHECK(ttlkv_key_list_len(l) == 2);
  CHECK_STATUS(ttlkv_key_list_get(l, 0, &p, &len), TTLKV_OK);
  CHECK(len == 1 && p[0] == 'n');
  CHECK_STATUS(ttlkv_key_list_value(l, 0, &p, &len), TTLKV_INVALID_ARGUMENT);
  ttlkv_key_list_free(l);
  uint64_t count = 0;
  CHECK_STATUS(ttlkv_count(s, STR("n"), &count), TTLKV_OK);
  CHECK(count == 2); /* "new" and "max": delete_many took "k" and "c" */
  CHECK_STATUS(ttlkv_clear(s, STR("n"), &removed), TTLKV_OK);
  CHECK(removed == count);
  CHECK_STATUS(ttlkv_count(s, STR("n"), &count), TTLKV_OK);
  CHECK(count == 0);

  /* scan with a cursor; after NULL is no cursor, after "" (non-NULL, length 0) the empty key */
  const char *names[] = {"", "u:1", "u:2", "u:3", "v"};
  for (int i = 0; i < 5; i++) {
    CHECK_STATUS(ttlkv_put(s, STR("sc"), STR(names[i]), STR("val"), 60000), TTLKV_OK);
  }
  CHECK_STATUS(ttlkv_scan(s, STR("sc"), STR("u:"), NULL, 0, 2, &l), TTLKV_OK);
  CHECK(ttlkv_key_list_len(l) == 2);
  CHECK_STATUS(ttlkv_key_list_get(l, 1, &p, &len), TTLKV_OK);
  CHECK(len == 3 && memcmp(p, "u:2", 3) == 0);
  char cursor[8];
  memcpy(cursor, p, len);
  ttlkv_key_list_free(l);
  CHECK_STATUS(ttlkv_scan(s, STR("sc"), STR("u:"), (const uint8_t *)cursor, 3, 2, &l), TTLKV_OK);
  CHECK(ttlkv_key_list_len(l) == 1);
  CHECK_STATUS(ttlkv_key_list_value(l, 0, &p, &len), TTLKV_OK);
  CHECK(len == 3 && memcmp(p, "val", 3) == 0);
  ttlkv_key_list_free(l);
  CHECK_STATUS(ttlkv_scan(s, STR("sc"), NULL, 0, (const uint8_t *)"", 0, 10, &l), TTLKV_OK);
  CHECK(ttlkv_key_list_len(l) == 4); /* everything after the empty key */
  ttlkv_key_list_free(l);
  CHECK_STATUS(ttlkv_scan(s, STR("sc"), NULL, 0, NULL, 0, 0, &l), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_scan(s, STR("sc"), NULL, 0, NULL, 4, 1, &l), TTLKV_INVALID_ARGUMENT);

  /* the size bound */
  uint64_t bound = 1;
  uint32_t eviction = 7;
  CHECK_STATUS(ttlkv_max_bytes(s, &bound, &eviction), TTLKV_OK);
  CHECK(bound == 0 && eviction == TTLKV_EVICTION_SOONEST_DEADLINE);
  CHECK_STATUS(ttlkv_set_max_bytes(s, TTLKV_MIN_MAX_BYTES - 1, TTLKV_EVICTION_NONE), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_set_max_bytes(s, 1 << 20, 5), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_set_max_bytes(s, 1 << 20, TTLKV_EVICTION_NONE), TTLKV_OK);
  CHECK_STATUS(ttlkv_max_bytes(s, &bound, &eviction), TTLKV_OK);
  CHECK(bound == 1 << 20 && eviction == TTLKV_EVICTION_NONE);
  static uint8_t big[4000];
  ttlkv_status st = TTLKV_OK;
  int written = 0;
  for (; st == TTLKV_OK && written < 10000; written++) {
    char key[32];
    snprintf(key, sizeof key, "big-%d", written);
    st = ttlkv_put(s, STR("b"), STR(key), big, sizeof big, 60000);
  }
  CHECK(st == TTLKV_FULL);
  CHECK_STATUS(ttlkv_set_max_bytes(s, 1 << 20, TTLKV_EVICTION_SOONEST_DEADLINE), TTLKV_OK);
  CHECK_STATUS(ttlkv_put(s, STR("b"), STR("after"), big, sizeof big, 60000), TTLKV_OK);
  uint64_t evicted = 0, tree = 0;
  CHECK_STATUS(ttlkv_stat(s, TTLKV_STAT_EVICTED, &evicted), TTLKV_OK);
  CHECK_STATUS(ttlkv_stat(s, TTLKV_STAT_TREE_BYTES, &tree), TTLKV_OK);
  CHECK(evicted >= 1 && tree <= (1 << 20) + 65536);
  CHECK_STATUS(ttlkv_set_max_bytes(s, 0, TTLKV_EVICTION_SOONEST_DEADLINE), TTLKV_OK);

  /* backup */
  char dest[4200];
  snprintf(dest, sizeof dest, "%s.backup", dir);
  CHECK_STATUS(ttlkv_backup(s, dest, 4), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_backup(s, NULL, 0), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_backup(s, dest, TTLKV_BACKUP_COMPACT), TTLKV_OK);
  CHECK_STATUS(ttlkv_backup(s, dest, 0), TTLKV_PATH_INVALID); /* not empty now */
  ttlkv_store *b = NULL;
  CHECK_STATUS(ttlkv_open(dest, NULL, &b), TTLKV_OK);
  ttlkv_buf got = {NULL, 0};
  CHECK_STATUS(ttlkv_get(b, STR("b"), STR("after"), &got), TTLKV_OK); /* the newest entry */
  CHECK(got.len == sizeof big);
  ttlkv_buf_free(&got);
  uint64_t problems = 1;
  CHECK_STATUS(ttlkv_verify(b, &problems), TTLKV_OK);
  CHECK(problems == 0);
  CHECK_STATUS(ttlkv_close(b), TTLKV_OK);
  ttlkv_free(b);
  char cmd[8500];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dest);
  CHECK(system(cmd) == 0);

  /* on_corruption: a damaged store fails clearly by default, and reset replaces it */
  char damaged[4200], datafile[4300];
  snprintf(damaged, sizeof damaged, "%s.damaged", dir);
  ttlkv_store *ds = NULL;
  CHECK_STATUS(ttlkv_open(damaged, NULL, &ds), TTLKV_OK);
  CHECK_STATUS(ttlkv_put(ds, STR("n"), STR("k"), big, sizeof big, TTLKV_TTL_NEVER), TTLKV_OK);
  CHECK_STATUS(ttlkv_corruption_reset(ds, &got), TTLKV_NOT_FOUND);
  CHECK_STATUS(ttlkv_close(ds), TTLKV_OK);
  ttlkv_free(ds);
  snprintf(datafile, sizeof datafile, "%s/data.mdb", damaged);
  CHECK(truncate(datafile, 8192 + 17) == 0);
  CHECK_STATUS(ttlkv_open(damaged, NULL, &ds), TTLKV_CORRUPTED);
  CHECK(strstr(ttlkv_last_error(), damaged) != NULL);
  ttlkv_options *o = ttlkv_options_new();
  CHECK_STATUS(ttlkv_options_set_on_corruption(o, 7), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_options_set_on_corruption(o, TTLKV_ON_CORRUPTION_RESET), TTLKV_OK);
  CHECK_STATUS(ttlkv_open(damaged, o, &ds), TTLKV_OK);
  ttlkv_options_free(o);
  CHECK_STATUS(ttlkv_corruption_reset(ds, &got), TTLKV_OK);
  CHECK(got.len > strlen(damaged) && memcmp(got.data, damaged, strlen(damaged)) == 0);
  ttlkv_buf_free(&got);
  uint64_t resets = 0;
  CHECK_STATUS(ttlkv_stat(ds, TTLKV_STAT_CORRUPTION_RESETS, &resets), TTLKV_OK);
  CHECK(resets == 1);
  CHECK_STATUS(ttlkv_count(ds, STR("n"), &count), TTLKV_OK);
  CHECK(count == 0);
  CHECK_STATUS(ttlkv_close(ds), TTLKV_OK);
  ttlkv_free(ds);
  snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'.corrupted-*", damaged, damaged);
  CHECK(system(cmd) == 0);

  /* crash_safe: periodic only; its flushes keep a meta page in the flush mark */
  char safe[4200], markfile[4300], mark[600];
  snprintf(safe, sizeof safe, "%s.safe", dir);
  o = ttlkv_options_new();
  CHECK_STATUS(ttlkv_options_set_crash_safe(o, 1), TTLKV_OK);
  CHECK_STATUS(ttlkv_open(safe, o, &ds), TTLKV_INVALID_ARGUMENT); /* sync durability */
  CHECK(strstr(ttlkv_last_error(), "crash_safe") != NULL);
  CHECK_STATUS(ttlkv_options_set_durability(o, TTLKV_DURABILITY_PERIODIC), TTLKV_OK);
  CHECK_STATUS(ttlkv_open(safe, o, &ds), TTLKV_OK);
  ttlkv_options_free(o);
  CHECK_STATUS(ttlkv_put(ds, STR("n"), STR("k"), STR("v"), TTLKV_TTL_NEVER), TTLKV_OK);
  CHECK_STATUS(ttlkv_flush(ds), TTLKV_OK);
  snprintf(markfile, sizeof markfile, "%s/flush.mark", safe);
  FILE *mf = fopen(markfile, "r");
  CHECK(mf != NULL);
  size_t mlen = fread(mark, 1, sizeof mark - 1, mf);
  fclose(mf);
  mark[mlen] = '\0';
  CHECK(strncmp(mark, "ttlkv-flush 2 ", 14) == 0 && strstr(mark, " - ") == NULL); /* a meta page */
  uint64_t rolled = 7;
  CHECK_STATUS(ttlkv_stat(ds, TTLKV_STAT_ROLLED_BACK_AT_OPEN, &rolled), TTLKV_OK);
  CHECK(rolled == 0);
  CHECK_STATUS(ttlkv_close(ds), TTLKV_OK);
  ttlkv_free(ds);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", safe);
  CHECK(system(cmd) == 0);

  ttlkv_close(s);
  CHECK_STATUS(ttlkv_touch(s, STR("n"), STR("k"), 1000), TTLKV_CLOSED);
  CHECK_STATUS(ttlkv_clear(s, STR("n"), &removed), TTLKV_CLOSED);
  ttlkv_free(s);
  free(dir);
  printf("ops: ok\n");
  return 0;
}
