/* Processes share one store: the parent opens it, then forks children that each open their
 * own handle, write their keys and read everyone's; the parent, still using its handle, sees
 * every child's writes. In a child the parent's handle is closed: every call on it returns
 * TTLKV_CLOSED, and freeing it touches nothing of the parent's. */
#include "common.h"

#include <sys/wait.h>

#define CHILDREN 4
#define KEYS 50

static int child(const char *dir, int id, ttlkv_store *inherited) {
  uint8_t probe[8];
  size_t probe_len;
  CHECK_STATUS(ttlkv_get_into(inherited, STR("fork"), STR("parent"), probe, sizeof probe, &probe_len),
               TTLKV_CLOSED);
  CHECK(strstr(ttlkv_last_error(), "fork") != NULL);
  CHECK_STATUS(ttlkv_put(inherited, STR("fork"), STR("x"), STR("y"), 60000), TTLKV_CLOSED);
  CHECK_STATUS(ttlkv_close(inherited), TTLKV_OK);
  ttlkv_free(inherited);
  ttlkv_store *s = NULL;
  CHECK_STATUS(ttlkv_open(dir, NULL, &s), TTLKV_OK);
  char key[32], value[32];
  ttlkv_record recs[KEYS];
  char keys[KEYS][32], values[KEYS][32];
  for (int i = 0; i < KEYS; i++) {
    snprintf(keys[i], sizeof keys[i], "c%d-%02d", id, i);
    snprintf(values[i], sizeof values[i], "from child %d", id);
    recs[i] = (ttlkv_record){(const uint8_t *)"fork", 4, (const uint8_t *)keys[i], strlen(keys[i]),
                             (const uint8_t *)values[i], strlen(values[i]), 60000};
  }
  /* Half one by one, half in one batch. */
  for (int i = 0; i < KEYS / 2; i++)
    CHECK_STATUS(ttlkv_put(s, STR("fork"), STR(keys[i]), STR(values[i]), 60000), TTLKV_OK);
  CHECK_STATUS(ttlkv_put_many(s, recs + KEYS / 2, KEYS - KEYS / 2), TTLKV_OK);
  /* The parent's key, written before the fork. */
  uint8_t out[64];
  size_t len;
  CHECK_STATUS(ttlkv_get_into(s, STR("fork"), STR("parent"), out, sizeof out, &len), TTLKV_OK);
  CHECK(len == 6 && memcmp(out, "parent", 6) == 0);
  snprintf(key, sizeof key, "c%d-%02d", id, KEYS - 1);
  snprintf(value, sizeof value, "from child %d", id);
  CHECK_STATUS(ttlkv_get_into(s, STR("fork"), STR(key), out, sizeof out, &len), TTLKV_OK);
  CHECK(len == strlen(value) && memcmp(out, value, len) == 0);
  CHECK_STATUS(ttlkv_close(s), TTLKV_OK);
  ttlkv_free(s);
  return 0;
}

int main(int argc, char **argv) {
  char *dir = test_dir(argc, argv, "fork");
  ttlkv_store *s = NULL;
  CHECK_STATUS(ttlkv_open(dir, NULL, &s), TTLKV_OK);
  CHECK_STATUS(ttlkv_put(s, STR("fork"), STR("parent"), STR("parent"), 60000), TTLKV_OK);
  fflush(NULL);

  pid_t pids[CHILDREN];
  for (int id = 0; id < CHILDREN; id++) {
    pids[id] = fork();
    CHECK(pids[id] >= 0);
    if (pids[id] == 0) {
      int rc = child(dir, id, s);
      free(dir);
      /* _exit: nothing of the parent's (stdio buffers, atexit handlers) runs twice. */
      fflush(NULL);
      _exit(rc);
    }
  }
  /* The parent keeps writing while the children run. */
  for (int i = 0; i < 50; i++) {
    char key[32];
    snprintf(key, sizeof key, "p-%02d", i);
    CHECK_STATUS(ttlkv_put(s, STR("fork"), STR(key), STR("p"), 60000), TTLKV_OK);
  }
  for (int id = 0; id < CHILDREN; id++) {
    int status = 0;
    CHECK(waitpid(pids[id], &status, 0) == pids[id]);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  ttlkv_key_list *l = NULL;
  CHECK_STATUS(ttlkv_keys(s, STR("fork"), &l), TTLKV_OK);
  CHECK(ttlkv_key_list_len(l) == 1 + 50 + CHILDREN * KEYS);
  ttlkv_key_list_free(l);
  uint64_t problems = 1;
  CHECK_STATUS(ttlkv_verify(s, &problems), TTLKV_OK);
  CHECK(problems == 0);
  CHECK_STATUS(ttlkv_close(s), TTLKV_OK);
  ttlkv_free(s);
  printf("fork: ok (%d children)\n", CHILDREN);
  free(dir);
  return 0;
}
