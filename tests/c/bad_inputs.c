/* Every kind of wrong input gets its documented status, never a crash, and outputs stay
 * untouched on failure: NULL handles and pointers, NULL with a length, bad lengths, bad
 * options, closed handles, double close, unknown status codes. */

#include "common.h"

#define SENTINEL ((ttlkv_store *)(uintptr_t)0x5a5a)

static void status_texts(void) {
  /* Every known code has its own text; any other number is "unknown status", including the
   * numbers between the ranges and the extremes of uint32_t. */
  const uint32_t known[] = {TTLKV_OK,           TTLKV_NOT_FOUND,      TTLKV_INVALID_ARGUMENT,
                            TTLKV_NAMESPACE_INVALID, TTLKV_KEY_TOO_LONG, TTLKV_VALUE_TOO_LARGE,
                            TTLKV_TTL_INVALID,  TTLKV_CLOSED,         TTLKV_BATCH_TOO_LARGE,
                            TTLKV_BUFFER_TOO_SMALL, TTLKV_PATH_INVALID, TTLKV_IO,
                            TTLKV_FULL,         TTLKV_CORRUPTED,      TTLKV_INCOMPATIBLE,
                            TTLKV_NO_SPACE,     TTLKV_PERMISSION,     TTLKV_READERS_FULL,
                            TTLKV_STORAGE,      TTLKV_PANIC};
  const size_t n = sizeof known / sizeof known[0];
  for (size_t i = 0; i < n; i++) {
    const char *t = ttlkv_status_str(known[i]);
    CHECK(t != NULL && t[0] != '\0' && strcmp(t, "unknown status") != 0);
    CHECK(strcmp(ttlkv_status_name(known[i]), "unknown") != 0);
    for (size_t j = 0; j < i; j++) CHECK(strcmp(t, ttlkv_status_str(known[j])) != 0);
  }
  CHECK(strcmp(ttlkv_status_name(TTLKV_KEY_TOO_LONG), "key_too_long") == 0);
  CHECK(strcmp(ttlkv_status_name(TTLKV_NOT_FOUND), "not_found") == 0);
  const uint32_t unknown[] = {3, 99, 111, 199, 208, 899, 901, 1000, 0x7fffffffu, 0x80000000u,
                              UINT32_MAX};
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    CHECK(strcmp(ttlkv_status_str(unknown[i]), "unknown status") == 0);
    CHECK(strcmp(ttlkv_status_name(unknown[i]), "unknown") == 0);
  }
  for (uint32_t c = 0; c < 2000; c++) CHECK(ttlkv_status_str(c) != NULL);
}

static void options(void) {
  CHECK_STATUS(ttlkv_options_set_map_size(NULL, 1 << 20), TTLKV_INVALID_ARGUMENT);
  CHECK(strstr(ttlkv_last_error(), "options is NULL") != NULL);
  CHECK_STATUS(ttlkv_options_set_max_map_size(NULL, 1 << 20), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_options_set_durability(NULL, 0), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_options_set_sync_interval_ms(NULL, 10), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_options_set_max_readers(NULL, 10), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_options_set_expiry_batch(NULL, 10), TTLKV_INVALID_ARGUMENT);
  ttlkv_options_free(NULL);

  ttlkv_options *o = ttlkv_options_new();
  CHECK(o != NULL);
  CHECK_STATUS(ttlkv_options_set_map_size(o, 0), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_options_set_map_size(o, 16383), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_options_set_map_size(o, UINT64_MAX), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_options_set_max_map_size(o, 100), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_options_set_durability(o, 2), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_options_set_durability(o, UINT32_MAX), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_options_set_sync_interval_ms(o, 0), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_options_set_sync_interval_ms(o, 86400001), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_options_set_max_readers(o, 0), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_options_set_max_readers(o, (1u << 20) + 1), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_options_set_expiry_batch(o, 0), TTLKV_INVALID_ARGUMENT);
  /* Valid values are accepted. */
  CHECK_STATUS(ttlkv_options_set_map_size(o, 1 << 20), TTLKV_OK);
  CHECK_STATUS(ttlkv_options_set_max_map_size(o, 1 << 30), TTLKV_OK);
  CHECK_STATUS(ttlkv_options_set_durability(o, TTLKV_DURABILITY_PERIODIC), TTLKV_OK);
  CHECK_STATUS(ttlkv_options_set_durability(o, TTLKV_DURABILITY_SYNC), TTLKV_OK);
  CHECK_STATUS(ttlkv_options_set_sync_interval_ms(o, 50), TTLKV_OK);
  CHECK_STATUS(ttlkv_options_set_max_readers(o, 126), TTLKV_OK);
  CHECK_STATUS(ttlkv_options_set_expiry_batch(o, 100), TTLKV_OK);
  ttlkv_options_free(o);
}

static void open_errors(const char *dir) {
  ttlkv_store *s = SENTINEL;
  /* Options that do not agree are refused by ttlkv_open, with the rule named. */
  ttlkv_options *disagree = ttlkv_options_new();
  CHECK_STATUS(ttlkv_options_set_sync_interval_ms(disagree, 50), TTLKV_OK);
  CHECK_STATUS(ttlkv_open(dir, disagree, &s), TTLKV_INVALID_ARGUMENT);
  CHECK(strstr(ttlkv_last_error(), "periodic") != NULL);
  CHECK_STATUS(ttlkv_options_set_durability(disagree, TTLKV_DURABILITY_PERIODIC), TTLKV_OK);
  CHECK_STATUS(ttlkv_options_set_max_map_size(disagree, 1 << 20), TTLKV_OK);
  CHECK_STATUS(ttlkv_options_set_map_size(disagree, 2 << 20), TTLKV_OK);
  CHECK_STATUS(ttlkv_open(dir, disagree, &s), TTLKV_INVALID_ARGUMENT);
  CHECK(strstr(ttlkv_last_error(), "max_map_size") != NULL);
  CHECK(s == SENTINEL);
  ttlkv_options_free(disagree);
  CHECK_STATUS(ttlkv_open(NULL, NULL, &s), TTLKV_INVALID_ARGUMENT);
  CHECK(s == SENTINEL); /* outputs only on success */
  CHECK_STATUS(ttlkv_open(dir, NULL, NULL), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_open("", NULL, &s), TTLKV_PATH_INVALID);
  CHECK_STATUS(ttlkv_open("\xff\xfe/not-utf8", NULL, &s), TTLKV_PATH_INVALID);
  CHECK(strstr(ttlkv_last_error(), "UTF-8") != NULL);
  CHECK(s == SENTINEL);

  /* A file where a directory should be. */
  char file[4200];
  snprintf(file, sizeof file, "%s/a-file", dir);
  FILE *f = fopen(file, "w");
  CHECK(f != NULL);
  fclose(f);
  CHECK_STATUS(ttlkv_open(file, NULL, &s), TTLKV_PATH_INVALID);
  CHECK(s == SENTINEL);

  /* Options that disagree: map size above the maximum. */
  ttlkv_options *o = ttlkv_options_new();
  CHECK_STATUS(ttlkv_options_set_map_size(o, 1 << 22), TTLKV_OK);
  CHECK_STATUS(ttlkv_options_set_max_map_size(o, 1 << 20), TTLKV_OK);
  char sub[4200];
  snprintf(sub, sizeof sub, "%s/disagree", dir);
  CHECK_STATUS(ttlkv_open(sub, o, &s), TTLKV_INVALID_ARGUMENT);
  CHECK(s == SENTINEL);
  ttlkv_options_free(o);
}

static void null_handles(void) {
  ttlkv_buf buf = {NULL, 0};
  size_t len = 7;
  uint64_t u = 7;
  ttlkv_key_list *l = NULL;
  ttlkv_record rec = {(const uint8_t *)"ns", 2, NULL, 0, NULL, 0, 1000};
  CHECK_STATUS(ttlkv_close(NULL), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_put(NULL, STR("ns"), STR("k"), STR("v"), 1000), TTLKV_INVALID_ARGUMENT);
  CHECK(strstr(ttlkv_last_error(), "store is NULL") != NULL);
  CHECK_STATUS(ttlkv_put_many(NULL, &rec, 1), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_get(NULL, STR("ns"), STR("k"), &buf), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_get_into(NULL, STR("ns"), STR("k"), NULL, 0, &len), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_delete(NULL, STR("ns"), STR("k")), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_deadline(NULL, STR("ns"), STR("k"), &u), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_keys(NULL, STR("ns"), &l), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_entries(NULL, STR("ns"), &l), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_purge_expired(NULL, &u), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_verify(NULL, &u), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_flush(NULL), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_sync(NULL), TTLKV_INVALID_ARGUMENT); /* the ABI-1.0 alias */
  CHECK_STATUS(ttlkv_max_key_len(NULL, STR("ns"), &len), TTLKV_INVALID_ARGUMENT);
  CHECK(buf.data == NULL && len == 7 && u == 7 && l == NULL);
  ttlkv_free(NULL);
  ttlkv_buf_free(NULL);
  ttlkv_buf_free(&buf); /* {NULL, 0}: nothing to do */
  ttlkv_key_list_free(NULL);

  /* Key lists. */
  const uint8_t *p = NULL;
  CHECK(ttlkv_key_list_len(NULL) == 0);
  CHECK_STATUS(ttlkv_key_list_get(NULL, 0, &p, &len), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_key_list_value(NULL, 0, &p, &len), TTLKV_INVALID_ARGUMENT);
  CHECK(p == NULL && len == 7);
}

static void bad_arguments(ttlkv_store *s) {
  ttlkv_buf buf = {NULL, 0};
  size_t len = 7;
  uint64_t u = 7;
  ttlkv_key_list *l = NULL;

  /* NULL with a length is an error; NULL with 0 is the empty string. */
  CHECK_STATUS(ttlkv_put(s, NULL, 2, STR("k"), STR("v"), 1000), TTLKV_INVALID_ARGUMENT);
  CHECK(strstr(ttlkv_last_error(), "ns is NULL with length 2") != NULL);
  CHECK_STATUS(ttlkv_put(s, STR("ns"), NULL, 1, STR("v"), 1000), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_put(s, STR("ns"), STR("k"), NULL, 5, 1000), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_put(s, STR("ns"), STR("k"), NULL, SIZE_MAX, 1000), TTLKV_INVALID_ARGUMENT);
  /* A real pointer with a length no allocation can have is named as such, not as NULL. */
  CHECK_STATUS(ttlkv_put(s, STR("ns"), STR("k"), (const uint8_t *)"v", SIZE_MAX, 1000),
               TTLKV_INVALID_ARGUMENT);
  CHECK(strstr(ttlkv_last_error(), "value has length") != NULL);
  CHECK(strstr(ttlkv_last_error(), "over isize::MAX") != NULL);
  CHECK_STATUS(ttlkv_put(s, NULL, 0, STR("k"), STR("v"), 1000), TTLKV_NAMESPACE_INVALID);
  CHECK_STATUS(ttlkv_put(s, STR("ns"), NULL, 0, NULL, 0, 1000), TTLKV_OK); /* empty key+value */
  CHECK_STATUS(ttlkv_get(s, STR("ns"), NULL, 0, &buf), TTLKV_OK);
  CHECK(buf.data != NULL && buf.len == 0);
  ttlkv_buf_free(&buf);
  CHECK_STATUS(ttlkv_get_into(s, STR("ns"), NULL, 0, NULL, 0, &len), TTLKV_OK);
  CHECK(len == 0);

  /* Namespace, key, value, TTL limits. */
  uint8_t big_ns[256];
  memset(big_ns, 'n', sizeof big_ns);
  CHECK_STATUS(ttlkv_put(s, big_ns, 256, STR("k"), STR("v"), 1000), TTLKV_NAMESPACE_INVALID);
  CHECK_STATUS(ttlkv_put(s, big_ns, 255, STR("k"), STR("v"), 1000), TTLKV_OK);
  size_t max = 0;
  CHECK_STATUS(ttlkv_max_key_len(s, STR("ns"), &max), TTLKV_OK);
  CHECK(max > 100 && max < 1000);
  size_t max255 = 0;
  CHECK_STATUS(ttlkv_max_key_len(s, big_ns, 255, &max255), TTLKV_OK);
  CHECK(max255 == max - 253);
  CHECK_STATUS(ttlkv_max_key_len(s, NULL, 0, &max), TTLKV_NAMESPACE_INVALID);
  CHECK_STATUS(ttlkv_max_key_len(s, STR("ns"), NULL), TTLKV_INVALID_ARGUMENT);
  uint8_t *key = calloc(max + 1, 1);
  CHECK(key != NULL);
  CHECK_STATUS(ttlkv_put(s, STR("ns"), key, max, STR("v"), 1000), TTLKV_OK);
  CHECK_STATUS(ttlkv_put(s, STR("ns"), key, max + 1, STR("v"), 1000), TTLKV_KEY_TOO_LONG);
  CHECK_STATUS(ttlkv_get(s, STR("ns"), key, max + 1, &buf), TTLKV_KEY_TOO_LONG);
  CHECK_STATUS(ttlkv_delete(s, STR("ns"), key, max + 1), TTLKV_KEY_TOO_LONG);
  CHECK_STATUS(ttlkv_deadline(s, STR("ns"), key, max + 1, &u), TTLKV_KEY_TOO_LONG);
  free(key);
  /* A value over 1 GiB is refused before it is read: the pointer only has to be non-NULL. */
  static const uint8_t one = 1;
  CHECK_STATUS(ttlkv_put(s, STR("ns"), STR("k"), &one, (size_t)TTLKV_MAX_VALUE_LEN + 1, 1000),
               TTLKV_VALUE_TOO_LARGE);
  CHECK_STATUS(ttlkv_put(s, STR("ns"), STR("k"), STR("v"), 0), TTLKV_TTL_INVALID);
  CHECK_STATUS(ttlkv_put(s, STR("ns"), STR("never"), STR("v"), TTLKV_TTL_NEVER), TTLKV_OK);
  CHECK_STATUS(ttlkv_deadline(s, STR("ns"), STR("never"), &u), TTLKV_OK);
  CHECK(u == TTLKV_DEADLINE_NEVER);

  /* NULL outputs. */
  CHECK_STATUS(ttlkv_get(s, STR("ns"), STR("never"), NULL), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_get_into(s, STR("ns"), STR("never"), NULL, 0, NULL), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_get_into(s, STR("ns"), STR("never"), NULL, 4, &len), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_deadline(s, STR("ns"), STR("never"), NULL), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_keys(s, STR("ns"), NULL), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_entries(s, STR("ns"), NULL), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_purge_expired(s, NULL), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_verify(s, NULL), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_keys(s, NULL, 3, &l), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_keys(s, NULL, 0, &l), TTLKV_NAMESPACE_INVALID);
  CHECK(l == NULL);

  /* get_into: too small leaves the buffer alone and reports the length needed. */
  CHECK_STATUS(ttlkv_put(s, STR("ns"), STR("k"), STR("0123456789"), 60000), TTLKV_OK);
  char small[4] = {'x', 'x', 'x', 'x'};
  len = 0;
  CHECK_STATUS(ttlkv_get_into(s, STR("ns"), STR("k"), (uint8_t *)small, 4, &len),
               TTLKV_BUFFER_TOO_SMALL);
  CHECK(len == 10 && memcmp(small, "xxxx", 4) == 0);
  CHECK(strstr(ttlkv_last_error(), "10 bytes") != NULL);
  len = 0;
  CHECK_STATUS(ttlkv_get_into(s, STR("ns"), STR("k"), NULL, 0, &len), TTLKV_BUFFER_TOO_SMALL);
  CHECK(len == 10);
  len = 99;
  CHECK_STATUS(ttlkv_get_into(s, STR("ns"), STR("missing"), NULL, 0, &len), TTLKV_NOT_FOUND);
  CHECK(len == 99);

  /* NOT_FOUND leaves outputs and the last error alone. */
  CHECK_STATUS(ttlkv_put(s, STR("ns"), STR("k"), STR("v"), 0), TTLKV_TTL_INVALID);
  const char *before = ttlkv_last_error();
  char saved[256];
  snprintf(saved, sizeof saved, "%s", before);
  u = 7;
  CHECK_STATUS(ttlkv_deadline(s, STR("ns"), STR("missing"), &u), TTLKV_NOT_FOUND);
  CHECK(u == 7);
  CHECK_STATUS(ttlkv_get(s, STR("ns"), STR("missing"), &buf), TTLKV_NOT_FOUND);
  CHECK(buf.data == NULL);
  CHECK_STATUS(ttlkv_get(s, STR("ns"), STR("k"), &buf), TTLKV_OK);
  ttlkv_buf_free(&buf);
  CHECK(strcmp(ttlkv_last_error(), saved) == 0);

  /* put_many: empty, NULL records, bad record, too large. */
  CHECK_STATUS(ttlkv_put_many(s, NULL, 0), TTLKV_OK);
  CHECK_STATUS(ttlkv_put_many(s, NULL, 1), TTLKV_INVALID_ARGUMENT);
  ttlkv_record recs[3] = {
      {(const uint8_t *)"ns", 2, (const uint8_t *)"a", 1, (const uint8_t *)"1", 1, 60000},
      {(const uint8_t *)"ns", 2, (const uint8_t *)"b", 1, NULL, 1, 60000},
      {(const uint8_t *)"ns", 2, (const uint8_t *)"c", 1, (const uint8_t *)"3", 1, 0},
  };
  CHECK_STATUS(ttlkv_put_many(s, recs, 3), TTLKV_INVALID_ARGUMENT);
  CHECK(strstr(ttlkv_last_error(), "record 1") != NULL);
  recs[1].value = (const uint8_t *)"2";
  CHECK_STATUS(ttlkv_put_many(s, recs, 3), TTLKV_TTL_INVALID);
  CHECK(strstr(ttlkv_last_error(), "record 2") != NULL);
  /* All or nothing: record 0 was not written. */
  CHECK_STATUS(ttlkv_get(s, STR("ns"), STR("a"), &buf), TTLKV_NOT_FOUND);
  recs[2].ttl_ms = 60000;
  CHECK_STATUS(ttlkv_put_many(s, recs, 3), TTLKV_OK);
  CHECK_STATUS(ttlkv_get_into(s, STR("ns"), STR("c"), (uint8_t *)small, 4, &len), TTLKV_OK);
  CHECK(len == 1 && small[0] == '3');
  CHECK_STATUS(ttlkv_put_many(s, recs, (size_t)TTLKV_MAX_BATCH_RECORDS + 1), TTLKV_BATCH_TOO_LARGE);

  /* Key lists: index out of range, values of a keys-only list. */
  CHECK_STATUS(ttlkv_keys(s, STR("ns"), &l), TTLKV_OK);
  const uint8_t *p = NULL;
  size_t n = ttlkv_key_list_len(l);
  CHECK(n >= 4);
  CHECK_STATUS(ttlkv_key_list_get(l, n, &p, &len), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_key_list_get(l, SIZE_MAX, &p, &len), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_key_list_get(l, 0, NULL, &len), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_key_list_get(l, 0, &p, NULL), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_key_list_value(l, 0, &p, &len), TTLKV_INVALID_ARGUMENT);
  CHECK(p == NULL);
  ttlkv_key_list_free(l);
  CHECK_STATUS(ttlkv_entries(s, STR("ns"), &l), TTLKV_OK);
  CHECK(ttlkv_key_list_len(l) == n);
  CHECK_STATUS(ttlkv_key_list_value(l, n, &p, &len), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_key_list_value(l, 0, NULL, &len), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_key_list_value(l, 0, &p, &len), TTLKV_OK);
  CHECK(p != NULL);
  ttlkv_key_list_free(l);
}

static void closed_handle(ttlkv_store *s) {
  CHECK_STATUS(ttlkv_close(s), TTLKV_OK);
  CHECK_STATUS(ttlkv_close(s), TTLKV_OK); /* idempotent */
  ttlkv_buf buf = {NULL, 0};
  size_t len = 7;
  uint64_t u = 7;
  ttlkv_key_list *l = NULL;
  ttlkv_record rec = {(const uint8_t *)"ns", 2, NULL, 0, NULL, 0, 1000};
  CHECK_STATUS(ttlkv_put(s, STR("ns"), STR("k"), STR("v"), 1000), TTLKV_CLOSED);
  CHECK(strstr(ttlkv_last_error(), "closed") != NULL);
  CHECK_STATUS(ttlkv_put_many(s, &rec, 1), TTLKV_CLOSED);
  CHECK_STATUS(ttlkv_put_many(s, &rec, (size_t)TTLKV_MAX_BATCH_RECORDS + 1), TTLKV_CLOSED);
  CHECK_STATUS(ttlkv_get(s, STR("ns"), STR("k"), &buf), TTLKV_CLOSED);
  CHECK_STATUS(ttlkv_get_into(s, STR("ns"), STR("k"), NULL, 0, &len), TTLKV_CLOSED);
  CHECK_STATUS(ttlkv_delete(s, STR("ns"), STR("k")), TTLKV_CLOSED);
  CHECK_STATUS(ttlkv_deadline(s, STR("ns"), STR("k"), &u), TTLKV_CLOSED);
  CHECK_STATUS(ttlkv_keys(s, STR("ns"), &l), TTLKV_CLOSED);
  CHECK_STATUS(ttlkv_entries(s, STR("ns"), &l), TTLKV_CLOSED);
  CHECK_STATUS(ttlkv_purge_expired(s, &u), TTLKV_CLOSED);
  CHECK_STATUS(ttlkv_verify(s, &u), TTLKV_CLOSED);
  CHECK_STATUS(ttlkv_flush(s), TTLKV_CLOSED);
  CHECK_STATUS(ttlkv_sync(s), TTLKV_CLOSED);
  CHECK_STATUS(ttlkv_max_key_len(s, STR("ns"), &len), TTLKV_CLOSED);
  CHECK(buf.data == NULL && len == 7 && u == 7 && l == NULL);
  CHECK_STATUS(ttlkv_close(s), TTLKV_OK);
  ttlkv_free(s);
}

int main(int argc, char **argv) {
  char *dir = test_dir(argc, argv, "bad-inputs");
  CHECK(strcmp(ttlkv_last_error(), "") == 0); /* nothing failed yet on this thread */
  status_texts();
  options();
  open_errors(dir);
  null_handles();

  char path[4200];
  snprintf(path, sizeof path, "%s/store", dir);
  ttlkv_store *s = NULL;
  CHECK_STATUS(ttlkv_open(path, NULL, &s), TTLKV_OK);
  bad_arguments(s);
  uint64_t problems = 99;
  CHECK_STATUS(ttlkv_verify(s, &problems), TTLKV_OK);
  CHECK(problems == 0);
  uint64_t removed = 99;
  CHECK_STATUS(ttlkv_purge_expired(s, &removed), TTLKV_OK);
  CHECK(removed == 0);
  CHECK_STATUS(ttlkv_flush(s), TTLKV_OK);
  CHECK_STATUS(ttlkv_sync(s), TTLKV_OK);

  /* A second handle on the same directory keeps working when the first closes. */
  ttlkv_store *s2 = NULL;
  CHECK_STATUS(ttlkv_open(path, NULL, &s2), TTLKV_OK);
  closed_handle(s);
  ttlkv_buf buf = {NULL, 0};
  CHECK_STATUS(ttlkv_get(s2, STR("ns"), STR("never"), &buf), TTLKV_OK);
  ttlkv_buf_free(&buf);
  ttlkv_buf_free(&buf); /* a reset buffer may be freed again */
  /* Free without close: closes in the background, never blocks. */
  ttlkv_free(s2);

  printf("bad_inputs: ok\n");
  free(dir);
  return 0;
}
