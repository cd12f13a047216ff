/* Expiry seen through the ABI: an entry is not found once its deadline passed (at once, not
 * when the background thread gets to it), the deadline is now + ttl, the background thread
 * removes expired entries on its own (bounded polling), and ttlkv_purge_expired removes them
 * on demand. */
#include "common.h"

#include <time.h>

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

int main(int argc, char **argv) {
  char *dir = test_dir(argc, argv, "expiry");
  ttlkv_store *s = NULL;
  CHECK_STATUS(ttlkv_open(dir, NULL, &s), TTLKV_OK);

  /* The deadline is now + ttl (within the time the call took). */
  uint64_t before = now_ms();
  CHECK_STATUS(ttlkv_put(s, STR("exp"), STR("short"), STR("v"), 1000), TTLKV_OK);
  uint64_t after = now_ms();
  uint64_t d = 0;
  CHECK_STATUS(ttlkv_deadline(s, STR("exp"), STR("short"), &d), TTLKV_OK);
  CHECK(d >= before + 1000 && d <= after + 1000);
  CHECK_STATUS(ttlkv_put(s, STR("exp"), STR("long"), STR("v"), 600000), TTLKV_OK);
  CHECK_STATUS(ttlkv_put(s, STR("exp"), STR("never"), STR("v"), TTLKV_TTL_NEVER), TTLKV_OK);

  /* Not found as soon as the deadline passed, whatever the expiry thread did. */
  while (now_ms() <= d) sleep_ms(5);
  ttlkv_buf buf = {NULL, 0};
  CHECK_STATUS(ttlkv_get(s, STR("exp"), STR("short"), &buf), TTLKV_NOT_FOUND);
  CHECK_STATUS(ttlkv_deadline(s, STR("exp"), STR("short"), &d), TTLKV_NOT_FOUND);
  ttlkv_key_list *l = NULL;
  CHECK_STATUS(ttlkv_keys(s, STR("exp"), &l), TTLKV_OK);
  CHECK(ttlkv_key_list_len(l) == 2); /* long, never */
  ttlkv_key_list_free(l);

  /* The background thread removes expired entries by itself: poll its counter, bounded. */
  uint64_t removed_before = 0, removed_now = 0, removed = 0;
  /* First remove "short" (expired above), so that the counter moves for the new ones only. */
  CHECK_STATUS(ttlkv_purge_expired(s, &removed), TTLKV_OK);
  CHECK_STATUS(ttlkv_stat(s, TTLKV_STAT_EXPIRED_REMOVED, &removed_before), TTLKV_OK);
  for (int i = 0; i < 20; i++) {
    char key[16];
    snprintf(key, sizeof key, "bg-%d", i);
    CHECK_STATUS(ttlkv_put(s, STR("bg"), STR(key), STR("v"), 50 + (uint64_t)i), TTLKV_OK);
  }
  for (int waited = 0; removed_now < removed_before + 20; waited += 20) {
    CHECK(waited < 20000);
    sleep_ms(20);
    CHECK_STATUS(ttlkv_stat(s, TTLKV_STAT_EXPIRED_REMOVED, &removed_now), TTLKV_OK);
  }
  removed = 1;
  CHECK_STATUS(ttlkv_purge_expired(s, &removed), TTLKV_OK);
  CHECK(removed == 0); /* nothing left: the thread got every one */
  CHECK_STATUS(ttlkv_keys(s, STR("bg"), &l), TTLKV_OK);
  CHECK(ttlkv_key_list_len(l) == 0);
  ttlkv_key_list_free(l);
  uint64_t batches = 0, map = 0, used = 0;
  CHECK_STATUS(ttlkv_stat(s, TTLKV_STAT_EXPIRY_BATCHES, &batches), TTLKV_OK);
  CHECK(batches >= 1);
  CHECK_STATUS(ttlkv_stat(s, TTLKV_STAT_MAP_SIZE, &map), TTLKV_OK);
  CHECK_STATUS(ttlkv_stat(s, TTLKV_STAT_USED_BYTES, &used), TTLKV_OK);
  CHECK(used > 0 && used <= map);
  /* Every counter has a name; the first number without one is refused. */
  uint32_t counters = 0;
  for (; ttlkv_stat_name(counters) != NULL; counters++) {
    uint64_t v = 0;
    CHECK(strlen(ttlkv_stat_name(counters)) > 0);
    CHECK_STATUS(ttlkv_stat(s, counters, &v), TTLKV_OK);
  }
  CHECK(counters == TTLKV_STAT_ROLLED_BACK_AT_OPEN + 1);
  CHECK(strcmp(ttlkv_stat_name(TTLKV_STAT_WRITE_CALLS), "write_calls") == 0);
  uint64_t calls = 0;
  CHECK_STATUS(ttlkv_stat(s, TTLKV_STAT_WRITE_CALLS, &calls), TTLKV_OK);
  CHECK(calls >= 20); /* this process's puts above */
  uint64_t untouched = 7;
  CHECK_STATUS(ttlkv_stat(s, counters, &untouched), TTLKV_INVALID_ARGUMENT);
  CHECK_STATUS(ttlkv_stat(s, TTLKV_STAT_MAP_SIZE, NULL), TTLKV_INVALID_ARGUMENT);
  CHECK(untouched == 7);

  /* ttlkv_purge_expired removes due entries on demand. */
  for (int i = 0; i < 10; i++) {
    char key[16];
    snprintf(key, sizeof key, "p-%d", i);
    CHECK_STATUS(ttlkv_put(s, STR("purge"), STR(key), STR("v"), 1), TTLKV_OK);
  }
  sleep_ms(5);
  CHECK_STATUS(ttlkv_purge_expired(s, &removed), TTLKV_OK);
  CHECK(removed <= 10); /* the expiry thread may have removed some first */
  CHECK_STATUS(ttlkv_purge_expired(s, &removed), TTLKV_OK);
  CHECK(removed == 0);

  CHECK_STATUS(ttlkv_get(s, STR("exp"), STR("long"), &buf), TTLKV_OK);
  ttlkv_buf_free(&buf);
  CHECK_STATUS(ttlkv_deadline(s, STR("exp"), STR("never"), &d), TTLKV_OK);
  CHECK(d == TTLKV_DEADLINE_NEVER);
  uint64_t problems = 1;
  CHECK_STATUS(ttlkv_verify(s, &problems), TTLKV_OK);
  CHECK(problems == 0);
  CHECK_STATUS(ttlkv_close(s), TTLKV_OK);
  ttlkv_free(s);
  printf("expiry: ok\n");
  free(dir);
  return 0;
}
