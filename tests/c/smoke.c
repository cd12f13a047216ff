/* The smallest complete use of the ABI: open, put, get (both ways), deadline, keys, delete,
 * close, free. */
#include "common.h"

int main(int argc, char **argv) {
  char *dir = test_dir(argc, argv, "smoke");
  CHECK(ttlkv_abi_version() == TTLKV_ABI_VERSION);
  CHECK(ttlkv_version_number() == TTLKV_VERSION_NUMBER);
  CHECK(strncmp(ttlkv_version(), "ttlkv ", 6) == 0);
  CHECK(strstr(ttlkv_version(), "LMDB") != NULL);

  ttlkv_store *s = NULL;
  CHECK_STATUS(ttlkv_open(dir, NULL, &s), TTLKV_OK);
  CHECK(s != NULL);

  CHECK_STATUS(ttlkv_put(s, STR("ns"), STR("key"), STR("value"), 60000), TTLKV_OK);

  ttlkv_buf buf = {NULL, 0};
  CHECK_STATUS(ttlkv_get(s, STR("ns"), STR("key"), &buf), TTLKV_OK);
  CHECK(buf.len == 5 && memcmp(buf.data, "value", 5) == 0);
  ttlkv_buf_free(&buf);
  CHECK(buf.data == NULL && buf.len == 0);

  uint8_t small[8];
  size_t len = 0;
  CHECK_STATUS(ttlkv_get_into(s, STR("ns"), STR("key"), small, sizeof small, &len), TTLKV_OK);
  CHECK(len == 5 && memcmp(small, "value", 5) == 0);

  uint64_t deadline = 0;
  CHECK_STATUS(ttlkv_deadline(s, STR("ns"), STR("key"), &deadline), TTLKV_OK);
  CHECK(deadline > 1600000000000ull && deadline != TTLKV_DEADLINE_NEVER);

  ttlkv_key_list *keys = NULL;
  CHECK_STATUS(ttlkv_keys(s, STR("ns"), &keys), TTLKV_OK);
  CHECK(ttlkv_key_list_len(keys) == 1);
  const uint8_t *k = NULL;
  size_t klen = 0;
  CHECK_STATUS(ttlkv_key_list_get(keys, 0, &k, &klen), TTLKV_OK);
  CHECK(klen == 3 && memcmp(k, "key", 3) == 0);
  ttlkv_key_list_free(keys);

  CHECK_STATUS(ttlkv_delete(s, STR("ns"), STR("key")), TTLKV_OK);
  CHECK_STATUS(ttlkv_delete(s, STR("ns"), STR("key")), TTLKV_NOT_FOUND);
  CHECK_STATUS(ttlkv_get(s, STR("ns"), STR("key"), &buf), TTLKV_NOT_FOUND);

  CHECK_STATUS(ttlkv_close(s), TTLKV_OK);
  ttlkv_free(s);
  printf("smoke: ok (%s)\n", ttlkv_version());
  free(dir);
  return 0;
}
