/* ttlkv from C: open a store, put, get (two ways), watch a key expire, list a namespace, close.
 *
 *   make demo-c
 *   cc demo.c $(pkg-config --cflags --libs ttlkv) -o demo && ./demo    # after `make install`
 *
 * The store directory is $TTLKV_DEMO_DIR when set (the Rust, Python and Elixir demos use the
 * same one, so each shows what the others left in the shared namespace "demo"), else a new
 * temporary directory. Exits non-zero if anything behaves unexpectedly.
 */
#define _GNU_SOURCE /* mkdtemp, nanosleep, clock_gettime */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ttlkv.h>

/* Any status other than TTLKV_OK (and TTLKV_NOT_FOUND where expected) is a failure: print
 * its text and this thread's detail. */
static int failed(const char *what, ttlkv_status st) {
  fprintf(stderr, "c demo: %s: %s (%s)\n", what, ttlkv_status_str(st), ttlkv_last_error());
  return 1;
}

#define TRY(what, call)                          \
  do {                                           \
    ttlkv_status st_ = (call);                   \
    if (st_ != TTLKV_OK) return failed(what, st_); \
  } while (0)

/* (pointer, length) of a C string, as every byte-string argument takes. */
#define BYTES(s) (const uint8_t *)(s), strlen(s)

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int run(const char *dir) {
  if (ttlkv_abi_version() != TTLKV_ABI_VERSION) {
    fprintf(stderr, "c demo: library ABI %u, header ABI %d\n", ttlkv_abi_version(), TTLKV_ABI_VERSION);
    return 1;
  }
  printf("c demo: store %s\nc demo: %s\n", dir, ttlkv_version());

  /* Options are a builder: set what you need, open, free the builder. */
  ttlkv_options *opts = ttlkv_options_new();
  if (opts == NULL) return failed("options", TTLKV_PANIC);
  TRY("durability", ttlkv_options_set_durability(opts, TTLKV_DURABILITY_SYNC));
  ttlkv_store *store = NULL;
  ttlkv_status st = ttlkv_open(dir, opts, &store);
  ttlkv_options_free(opts);
  if (st != TTLKV_OK) return failed("open", st);

  /* Put: namespace, key, value, TTL in milliseconds. */
  char hello[64];
  snprintf(hello, sizeof hello, "hello from C (ttlkv %d.%d.%d)", TTLKV_VERSION_MAJOR, TTLKV_VERSION_MINOR,
           TTLKV_VERSION_PATCH);
  TRY("put demo/c", ttlkv_put(store, BYTES("demo"), BYTES("c"), BYTES(hello), 3600 * 1000));
  TRY("put demo/c:counter", ttlkv_put(store, BYTES("demo"), BYTES("c:counter"), BYTES("42"), 5 * 60 * 1000));
  TRY("put demo/c:forever", ttlkv_put(store, BYTES("demo"), BYTES("c:forever"), BYTES("no TTL"), TTLKV_TTL_NEVER));

  /* Get, ttlkv allocating: the value is ours until ttlkv_buf_free. */
  ttlkv_buf value = {NULL, 0};
  TRY("get demo/c", ttlkv_get(store, BYTES("demo"), BYTES("c"), &value));
  printf("c demo: get demo/c -> \"%.*s\"\n", (int)value.len, (const char *)value.data);
  ttlkv_buf_free(&value);

  /* Get into our own buffer: no allocation; a too-small buffer reports the length needed. */
  uint8_t small[1];
  size_t len = 0;
  st = ttlkv_get_into(store, BYTES("demo"), BYTES("c:counter"), small, sizeof small, &len);
  if (st != TTLKV_BUFFER_TOO_SMALL) return failed("get_into (small)", st);
  uint8_t buf[64];
  TRY("get_into", ttlkv_get_into(store, BYTES("demo"), BYTES("c:counter"), buf, sizeof buf, &len));
  printf("c demo: get_into demo/c:counter -> \"%.*s\" (%zu bytes; a 1-byte buffer was too small)\n",
         (int)len, (const char *)buf, len);

  /* Expiry: a 200 ms entry is gone once its deadline passes, at once. */
  TRY("put short", ttlkv_put(store, BYTES("demo"), BYTES("c:short"), BYTES("gone soon"), 200));
  uint64_t deadline = 0;
  TRY("deadline", ttlkv_deadline(store, BYTES("demo"), BYTES("c:short"), &deadline));
  uint64_t start = now_ms();
  while ((st = ttlkv_get(store, BYTES("demo"), BYTES("c:short"), &value)) == TTLKV_OK) {
    ttlkv_buf_free(&value);
    if (now_ms() - start > 10000) {
      fprintf(stderr, "c demo: demo/c:short did not expire\n");
      return 1;
    }
    struct timespec pause = {0, 5 * 1000000L};
    nanosleep(&pause, NULL);
  }
  if (st != TTLKV_NOT_FOUND) return failed("get short", st);
  printf("c demo: demo/c:short expired after %llu ms (TTL 200 ms, deadline %llu)\n",
         (unsigned long long)(now_ms() - start), (unsigned long long)deadline);

  /* Errors are statuses, with a detail for this thread. */
  st = ttlkv_put(store, BYTES("demo"), BYTES("x"), BYTES("y"), 0);
  printf("c demo: ttl 0 refused: %s (%s): %s\n", ttlkv_status_name(st), ttlkv_status_str(st),
         ttlkv_last_error());

  /* Every live entry of the namespace, including what the other demos left there. */
  ttlkv_key_list *entries = NULL;
  TRY("entries", ttlkv_entries(store, BYTES("demo"), &entries));
  printf("c demo: namespace \"demo\" holds %zu entries:\n", ttlkv_key_list_len(entries));
  for (size_t i = 0; i < ttlkv_key_list_len(entries); i++) {
    const uint8_t *k, *v;
    size_t klen, vlen;
    TRY("key", ttlkv_key_list_get(entries, i, &k, &klen));
    TRY("value", ttlkv_key_list_value(entries, i, &v, &vlen));
    TRY("deadline", ttlkv_deadline(store, BYTES("demo"), k, klen, &deadline));
    if (deadline == TTLKV_DEADLINE_NEVER)
      printf("c demo:   %.*s = \"%.*s\" (never expires)\n", (int)klen, (const char *)k, (int)vlen, (const char *)v);
    else
      printf("c demo:   %.*s = \"%.*s\" (expires in %lld s)\n", (int)klen, (const char *)k, (int)vlen,
             (const char *)v, (long long)(deadline - now_ms()) / 1000);
  }
  ttlkv_key_list_free(entries);

  TRY("close", ttlkv_close(store));
  st = ttlkv_get(store, BYTES("demo"), BYTES("c"), &value);
  printf("c demo: after close: %s\n", ttlkv_status_name(st));
  ttlkv_free(store);
  return st == TTLKV_CLOSED ? 0 : 1;
}

int main(void) {
  char tmp[] = "/tmp/ttlkv-c-demo-XXXXXX";
  const char *dir = getenv("TTLKV_DEMO_DIR");
  if (dir == NULL || dir[0] == '\0') {
    dir = mkdtemp(tmp);
    if (dir == NULL) {
      perror("mkdtemp");
      return 1;
    }
  }
  int rc = run(dir);
  if (rc == 0) printf("c demo: ok\n");
  return rc;
}
