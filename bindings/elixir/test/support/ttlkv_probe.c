/*
 * ttlkv_probe: a tiny C program over include/ttlkv.h, used by the Elixir tests to prove that a
 * key written from C is read from Elixir and back. Every byte string is given and printed in
 * hex, so any bytes can cross.
 *
 *   ttlkv_probe put DIR NS_HEX KEY_HEX VALUE_HEX TTL_MS   -> exit 0
 *   ttlkv_probe get DIR NS_HEX KEY_HEX                    -> prints VALUE_HEX, exit 0; 3 if not found
 *   ttlkv_probe deadline DIR NS_HEX KEY_HEX               -> prints unix ms or "never"; 3 if not found
 *   ttlkv_probe keys DIR NS_HEX                           -> one KEY_HEX per line
 * Any failure: the status and ttlkv_last_error() on stderr, exit 2.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ttlkv.h"

static uint8_t *
unhex(const char *s, size_t *len)
{
    size_t n = strlen(s);
    uint8_t *out = malloc(n / 2 + 1);
    if (out == NULL || n % 2 != 0) {
        fprintf(stderr, "bad hex: %s\n", s);
        exit(2);
    }
    for (size_t i = 0; i < n / 2; i++) {
        unsigned int b;
        if (sscanf(s + 2 * i, "%2x", &b) != 1) {
            fprintf(stderr, "bad hex: %s\n", s);
            exit(2);
        }
        out[i] = (uint8_t)b;
    }
    *len = n / 2;
    return out;
}

static void
print_hex(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        printf("%02x", p[i]);
    }
    printf("\n");
}

static int
fail(const char *what, ttlkv_status st)
{
    fprintf(stderr, "%s: %s (%u): %s\n", what, ttlkv_status_str(st), (unsigned)st,
            ttlkv_last_error());
    return 2;
}

int
main(int argc, char **argv)
{
    ttlkv_store *store = NULL;
    ttlkv_status st;
    size_t ns_len = 0, key_len = 0, value_len = 0;
    uint8_t *ns, *key = NULL, *value = NULL;
    int rc = 0;

    if (argc < 4) {
        fprintf(stderr, "usage: ttlkv_probe put|get|deadline|keys DIR NS_HEX [KEY_HEX ...]\n");
        return 2;
    }
    if (ttlkv_abi_version() != TTLKV_ABI_VERSION) {
        fprintf(stderr, "ABI mismatch\n");
        return 2;
    }
    st = ttlkv_open(argv[2], NULL, &store);
    if (st != TTLKV_OK) {
        return fail("open", st);
    }
    ns = unhex(argv[3], &ns_len);
    if (argc > 4) {
        key = unhex(argv[4], &key_len);
    }

    if (strcmp(argv[1], "put") == 0 && argc == 7) {
        value = unhex(argv[5], &value_len);
        uint64_t ttl = strcmp(argv[6], "never") == 0 ? TTLKV_TTL_NEVER : strtoull(argv[6], NULL, 10);
        st = ttlkv_put(store, ns, ns_len, key, key_len, value, value_len, ttl);
        rc = st == TTLKV_OK ? 0 : fail("put", st);
    } else if (strcmp(argv[1], "get") == 0 && argc == 5) {
        ttlkv_buf buf = {NULL, 0};
        st = ttlkv_get(store, ns, ns_len, key, key_len, &buf);
        if (st == TTLKV_OK) {
            print_hex(buf.data, buf.len);
            ttlkv_buf_free(&buf);
        } else {
            rc = st == TTLKV_NOT_FOUND ? 3 : fail("get", st);
        }
    } else if (strcmp(argv[1], "deadline") == 0 && argc == 5) {
        uint64_t d = 0;
        st = ttlkv_deadline(store, ns, ns_len, key, key_len, &d);
        if (st == TTLKV_OK) {
            if (d == TTLKV_DEADLINE_NEVER) {
                printf("never\n");
            } else {
                printf("%" PRIu64 "\n", d);
            }
        } else {
            rc = st == TTLKV_NOT_FOUND ? 3 : fail("deadline", st);
        }
    } else if (strcmp(argv[1], "keys") == 0 && argc == 4) {
        ttlkv_key_list *l = NULL;
        st = ttlkv_keys(store, ns, ns_len, &l);
        if (st == TTLKV_OK) {
            for (size_t i = 0; i < ttlkv_key_list_len(l); i++) {
                const uint8_t *k;
                size_t klen;
                if (ttlkv_key_list_get(l, i, &k, &klen) == TTLKV_OK) {
                    print_hex(k, klen);
                }
            }
            ttlkv_key_list_free(l);
        } else {
            rc = fail("keys", st);
        }
    } else {
        fprintf(stderr, "bad command\n");
        rc = 2;
    }
    free(ns);
    free(key);
    free(value);
    ttlkv_free(store);
    return rc;
}
