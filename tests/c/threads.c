/* 8 pthreads share one handle and run mixed operations (put, get, get_into, deadline,
 * delete, keys, put_many) on their own keys and on keys shared by all; every result must be
 * one the operations allow. Then the store is verified and each thread's last error is its
 * own. */
#include "common.h"

#include <pthread.h>

#define THREADS 8
#define SHARED_KEYS 16

static ttlkv_store *store;
static int rounds = 300;

static void *worker(void *arg) {
  const int id = (int)(intptr_t)arg;
  char key[64], value[64], shared[32];
  uint8_t out[64];
  size_t len;
  ttlkv_buf buf;
  for (int i = 0; i < rounds; i++) {
    snprintf(key, sizeof key, "t%d-k%d", id, i % 50);
    snprintf(value, sizeof value, "t%d-v%d", id, i);
    CHECK_STATUS(ttlkv_put(store, STR("own"), STR(key), STR(value), 60000), TTLKV_OK);
    /* Only this thread writes its keys: the value read is the one just written. */
    CHECK_STATUS(ttlkv_get_into(store, STR("own"), STR(key), out, sizeof out, &len), TTLKV_OK);
    CHECK(len == strlen(value) && memcmp(out, value, len) == 0);

    snprintf(shared, sizeof shared, "shared-%d", i % SHARED_KEYS);
    switch ((i + id) % 5) {
      case 0:
        CHECK_STATUS(ttlkv_put(store, STR("shared"), STR(shared), STR(value), 60000), TTLKV_OK);
        break;
      case 1: {
        ttlkv_status st = ttlkv_get(store, STR("shared"), STR(shared), &buf);
        CHECK(st == TTLKV_OK || st == TTLKV_NOT_FOUND);
        if (st == TTLKV_OK) {
          /* Whoever wrote it, it is a whole value of the form tN-vM. */
          CHECK(buf.len >= 5 && buf.data[0] == 't' && memchr(buf.data, 'v', buf.len) != NULL);
          ttlkv_buf_free(&buf);
        }
        break;
      }
      case 2: {
        ttlkv_status st = ttlkv_delete(store, STR("shared"), STR(shared));
        CHECK(st == TTLKV_OK || st == TTLKV_NOT_FOUND);
        break;
      }
      case 3: {
        uint64_t d;
        ttlkv_status st = ttlkv_deadline(store, STR("shared"), STR(shared), &d);
        CHECK(st == TTLKV_OK || st == TTLKV_NOT_FOUND);
        break;
      }
      case 4: {
        if (i % 25 == 4) {
          ttlkv_key_list *l = NULL;
          CHECK_STATUS(ttlkv_keys(store, STR("shared"), &l), TTLKV_OK);
          CHECK(ttlkv_key_list_len(l) <= SHARED_KEYS);
          ttlkv_key_list_free(l);
        } else {
          ttlkv_record recs[2] = {
              {(const uint8_t *)"batch", 5, (const uint8_t *)key, strlen(key),
               (const uint8_t *)value, strlen(value), 60000},
              {(const uint8_t *)"batch", 5, (const uint8_t *)shared, strlen(shared),
               (const uint8_t *)value, strlen(value), 60000},
          };
          CHECK_STATUS(ttlkv_put_many(store, recs, 2), TTLKV_OK);
        }
        break;
      }
    }
  }
  /* Each thread's failure detail is its own. */
  char detail[64];
  snprintf(detail, sizeof detail, "thread %d", id);
  CHECK_STATUS(ttlkv_put(store, NULL, (size_t)id + 1, STR(detail), STR("v"), 1000),
               TTLKV_INVALID_ARGUMENT);
  char expect[64];
  snprintf(expect, sizeof expect, "ns is NULL with length %d ", id + 1);
  CHECK(strstr(ttlkv_last_error(), expect) != NULL);
  return NULL;
}

int main(int argc, char **argv) {
  char *dir = test_dir(argc, argv, "threads");
  if (getenv("TTLKV_TEST_ROUNDS")) rounds = atoi(getenv("TTLKV_TEST_ROUNDS"));
  ttlkv_options *o = ttlkv_options_new();
  /* Periodic durability keeps the test fast; the mode does not change the semantics. */
  CHECK_STATUS(ttlkv_options_set_durability(o, TTLKV_DURABILITY_PERIODIC), TTLKV_OK);
  CHECK_STATUS(ttlkv_open(dir, o, &store), TTLKV_OK);
  ttlkv_options_free(o);

  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++)
    CHECK(pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i) == 0);
  for (int i = 0; i < THREADS; i++) CHECK(pthread_join(t[i], NULL) == 0);

  ttlkv_key_list *l = NULL;
  CHECK_STATUS(ttlkv_keys(store, STR("own"), &l), TTLKV_OK);
  CHECK(ttlkv_key_list_len(l) == (size_t)THREADS * (rounds < 50 ? rounds : 50));
  ttlkv_key_list_free(l);
  uint64_t problems = 1;
  CHECK_STATUS(ttlkv_verify(store, &problems), TTLKV_OK);
  CHECK(problems == 0);
  CHECK_STATUS(ttlkv_close(store), TTLKV_OK);
  ttlkv_free(store);
  printf("threads: ok (%d threads x %d rounds)\n", THREADS, rounds);
  free(dir);
  return 0;
}
