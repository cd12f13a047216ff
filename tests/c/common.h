/* Helpers shared by the C tests: a CHECK macro that names the failing line, and temp dirs.
 * Include it first: it sets _GNU_SOURCE before any system header. */
#ifndef TTLKV_TEST_COMMON_H
#define TTLKV_TEST_COMMON_H

#define _GNU_SOURCE

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ttlkv.h"

#define CHECK(cond)                                                                    \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s)\n", __FILE__, __LINE__, \
              #cond, ttlkv_last_error());                                              \
      exit(1);                                                                         \
    }                                                                                  \
  } while (0)

/* Checks a status and prints both texts when it differs. */
#define CHECK_STATUS(expr, want)                                                              \
  do {                                                                                        \
    ttlkv_status got_ = (expr);                                                               \
    if (got_ != (ttlkv_status)(want)) {                                                       \
      fprintf(stderr, "%s:%d: %s returned %u (%s), expected %u (%s); last error: %s\n",        \
              __FILE__, __LINE__, #expr, (unsigned)got_, ttlkv_status_str(got_),              \
              (unsigned)(want), ttlkv_status_str(want), ttlkv_last_error());                  \
      exit(1);                                                                                \
    }                                                                                         \
  } while (0)

#define STR(s) (const uint8_t *)(s), strlen(s)

/* The store directory: argv[1] if given, else a fresh directory under $TMPDIR. The caller
 * owns the returned string. */
static inline char *test_dir(int argc, char **argv, const char *name) {
  char *dir = malloc(4096);
  if (dir == NULL) abort();
  if (argc > 1) {
    snprintf(dir, 4096, "%s", argv[1]);
  } else {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, 4096, "%s/ttlkv-%s-XXXXXX", tmp ? tmp : "/tmp", name);
    if (mkdtemp(dir) == NULL) {
      perror("mkdtemp");
      exit(1);
    }
  }
  return dir;
}

#endif
