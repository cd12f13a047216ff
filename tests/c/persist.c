/* Entries, values and deadlines survive closing and reopening: in the same process
 * (`persist DIR`), and across processes (`persist DIR write`, then `persist DIR read`). */
#include "common.h"

#define N 200

static void write_all(ttlkv_store *s, uint64_t *deadlines) {
  char key[32], value[64];
  for (int i = 0; i < N; i++) {
    snprintf(key, sizeof key, "key-%03d", i);
    snprintf(value, sizeof value, "value-%d-%s", i, i % 2 ? "odd" : "even");
    uint64_t ttl = i % 10 == 0 ? TTLKV_TTL_NEVER : 3600000;
    CHECK_STATUS(ttlkv_put(s, STR("persist"), STR(key), STR(value), ttl), TTLKV_OK);
    if (deadlines) CHECK_STATUS(ttlkv_deadline(s, STR("persist"), STR(key), &deadlines[i]), TTLKV_OK);
  }
  CHECK_STATUS(ttlkv_put(s, STR("persist"), STR("deleted"), STR("x"), 3600000), TTLKV_OK);
  CHECK_STATUS(ttlkv_delete(s, STR("persist"), STR("deleted")), TTLKV_OK);
}

static void read_all(ttlkv_store *s, const uint64_t *deadlines) {
  char key[32], value[64];
  uint8_t out[64];
  size_t len;
  for (int i = 0; i < N; i++) {
    snprintf(key, sizeof key, "key-%03d", i);
    snprintf(value, sizeof value, "value-%d-%s", i, i % 2 ? "odd" : "even");
    CHECK_STATUS(ttlkv_get_into(s, STR("persist"), STR(key), out, sizeof out, &len), TTLKV_OK);
    CHECK(len == strlen(value) && memcmp(out, value, len) == 0);
    uint64_t d = 0;
    CHECK_STATUS(ttlkv_deadline(s, STR("persist"), STR(key), &d), TTLKV_OK);
    if (i % 10 == 0) CHECK(d == TTLKV_DEADLINE_NEVER);
    else CHECK(d != TTLKV_DEADLINE_NEVER);
    if (deadlines) CHECK(d == deadlines[i]);
  }
  CHECK_STATUS(ttlkv_delete(s, STR("persist"), STR("deleted")), TTLKV_NOT_FOUND);
  ttlkv_key_list *l = NULL;
  CHECK_STATUS(ttlkv_entries(s, STR("persist"), &l), TTLKV_OK);
  CHECK(ttlkv_key_list_len(l) == N);
  for (size_t i = 0; i < ttlkv_key_list_len(l); i++) {
    const uint8_t *k, *v;
    size_t kl, vl;
    CHECK_STATUS(ttlkv_key_list_get(l, i, &k, &kl), TTLKV_OK);
    CHECK_STATUS(ttlkv_key_list_value(l, i, &v, &vl), TTLKV_OK);
    snprintf(key, sizeof key, "key-%03zu", i); /* key order */
    CHECK(kl == strlen(key) && memcmp(k, key, kl) == 0);
    CHECK(vl > 6 && memcmp(v, "value-", 6) == 0);
  }
  ttlkv_key_list_free(l);
  uint64_t problems = 1;
  CHECK_STATUS(ttlkv_verify(s, &problems), TTLKV_OK);
  CHECK(problems == 0);
}

static ttlkv_store *open_store(const char *dir) {
  ttlkv_store *s = NULL;
  CHECK_STATUS(ttlkv_open(dir, NULL, &s), TTLKV_OK);
  return s;
}

static void close_store(ttlkv_store *s) {
  CHECK_STATUS(ttlkv_close(s), TTLKV_OK);
  ttlkv_free(s);
}

int main(int argc, char **argv) {
  char *dir = test_dir(argc, argv, "persist");
  const char *phase = argc > 2 ? argv[2] : "both";
  if (strcmp(phase, "write") == 0) {
    ttlkv_store *s = open_store(dir);
    write_all(s, NULL);
    close_store(s);
  } else if (strcmp(phase, "read") == 0) {
    ttlkv_store *s = open_store(dir);
    read_all(s, NULL);
    close_store(s);
  } else {
    uint64_t deadlines[N];
    ttlkv_store *s = open_store(dir);
    write_all(s, deadlines);
    close_store(s);
    /* Reopened: the environment was closed with the last handle and is opened again. */
    s = open_store(dir);
    read_all(s, deadlines);
    close_store(s);
    /* Free without close, then reopen at once: the new handle sees everything too. */
    s = open_store(dir);
    ttlkv_free(s);
    s = open_store(dir);
    read_all(s, deadlines);
    close_store(s);
  }
  printf("persist %s: ok\n", phase);
  free(dir);
  return 0;
}
