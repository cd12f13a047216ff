/* The C side of test_interop.py: one store, written and read by C and by Python.
 *
 *   interop DIR write N    writes interop/from-c-<i> = "c value <i>" (ttl 1 h), a never-expiring
 *                          key and a binary key, with ttlkv_put and ttlkv_put_many
 *   interop DIR read N     checks interop/from-py-<i> == "py value <i>" as Python wrote them
 *   interop DIR echo       waits (bounded) for interop/ping, answers interop/pong = ping's value
 *
 * Exit status 0 on success; every failure names the call and ttlkv_last_error().
 * Built by the test with -std=c11 -Wall -Wextra -Werror against include/ttlkv.h.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ttlkv.h"

static const char NS[] = "interop";
#define NS_ARGS (const uint8_t *)NS, sizeof NS - 1

static int failed(const char *what, ttlkv_status status) {
    fprintf(stderr, "interop.c: %s failed: %s (%u): %s\n", what, ttlkv_status_str(status),
            (unsigned)status, ttlkv_last_error());
    return 1;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int do_write(ttlkv_store *store, int n) {
    char key[64], value[64];
    for (int i = 0; i < n; i++) {
        int kl = snprintf(key, sizeof key, "from-c-%d", i);
        int vl = snprintf(value, sizeof value, "c value %d", i);
        ttlkv_status st = ttlkv_put(store, NS_ARGS, (const uint8_t *)key, (size_t)kl,
                                    (const uint8_t *)value, (size_t)vl, 3600 * 1000);
        if (st != TTLKV_OK) return failed("ttlkv_put", st);
    }
    static const uint8_t binary_key[] = {0, 1, 2, 0xff};
    static const uint8_t binary_value[] = {0xff, 0, 0xfe};
    ttlkv_record records[2] = {
        {NS_ARGS, (const uint8_t *)"c-forever", 9, (const uint8_t *)"forever", 7, TTLKV_TTL_NEVER},
        {NS_ARGS, binary_key, sizeof binary_key, binary_value, sizeof binary_value, 60000},
    };
    ttlkv_status st = ttlkv_put_many(store, records, 2);
    if (st != TTLKV_OK) return failed("ttlkv_put_many", st);
    return 0;
}

static int do_read(ttlkv_store *store, int n) {
    char key[64], expected[64];
    uint8_t small[8];
    for (int i = 0; i < n; i++) {
        int kl = snprintf(key, sizeof key, "from-py-%d", i);
        int el = snprintf(expected, sizeof expected, "py value %d", i);
        ttlkv_buf buf = {NULL, 0};
        ttlkv_status st = ttlkv_get(store, NS_ARGS, (const uint8_t *)key, (size_t)kl, &buf);
        if (st != TTLKV_OK) return failed("ttlkv_get", st);
        int same = buf.len == (size_t)el && memcmp(buf.data, expected, buf.len) == 0;
        ttlkv_buf_free(&buf);
        if (!same) {
            fprintf(stderr, "interop.c: %s has the wrong value\n", key);
            return 1;
        }
        /* The same value through a too-small caller buffer: the length comes back. */
        size_t len = 0;
        st = ttlkv_get_into(store, NS_ARGS, (const uint8_t *)key, (size_t)kl, small, sizeof small, &len);
        if (st != TTLKV_BUFFER_TOO_SMALL || len != (size_t)el) return failed("ttlkv_get_into", st);
    }
    /* Python's never-expiring key, its str key, and its key list. */
    uint64_t deadline = 0;
    ttlkv_status st = ttlkv_deadline(store, NS_ARGS, (const uint8_t *)"py-forever", 10, &deadline);
    if (st != TTLKV_OK) return failed("ttlkv_deadline", st);
    if (deadline != TTLKV_DEADLINE_NEVER) {
        fprintf(stderr, "interop.c: py-forever should never expire\n");
        return 1;
    }
    const char *utf8 = "cl\xc3\xa9";
    ttlkv_buf buf = {NULL, 0};
    st = ttlkv_get(store, NS_ARGS, (const uint8_t *)utf8, strlen(utf8), &buf);
    if (st != TTLKV_OK) return failed("ttlkv_get of a str key", st);
    ttlkv_buf_free(&buf);
    ttlkv_key_list *keys = NULL;
    st = ttlkv_keys(store, NS_ARGS, &keys);
    if (st != TTLKV_OK) return failed("ttlkv_keys", st);
    size_t count = ttlkv_key_list_len(keys);
    ttlkv_key_list_free(keys);
    printf("c read %d values; the namespace has %zu keys\n", n, count);
    return 0;
}

static int do_echo(ttlkv_store *store) {
    for (int tries = 0; tries < 3000; tries++) { /* 30 s at most */
        ttlkv_buf buf = {NULL, 0};
        ttlkv_status st = ttlkv_get(store, NS_ARGS, (const uint8_t *)"ping", 4, &buf);
        if (st == TTLKV_OK) {
            st = ttlkv_put(store, NS_ARGS, (const uint8_t *)"pong", 4, buf.data, buf.len, 60000);
            ttlkv_buf_free(&buf);
            if (st != TTLKV_OK) return failed("ttlkv_put pong", st);
            printf("c answered\n");
            return 0;
        }
        if (st != TTLKV_NOT_FOUND) return failed("ttlkv_get ping", st);
        sleep_ms(10);
    }
    fprintf(stderr, "interop.c: no ping within 30 s\n");
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s DIR write|read N | DIR echo\n", argv[0]);
        return 2;
    }
    if (ttlkv_abi_version() != TTLKV_ABI_VERSION) {
        fprintf(stderr, "interop.c: ABI %u, header %u\n", ttlkv_abi_version(), TTLKV_ABI_VERSION);
        return 1;
    }
    ttlkv_options *options = ttlkv_options_new();
    ttlkv_status st = ttlkv_options_set_durability(options, TTLKV_DURABILITY_SYNC);
    if (st != TTLKV_OK) return failed("ttlkv_options_set_durability", st);
    ttlkv_store *store = NULL;
    st = ttlkv_open(argv[1], options, &store);
    ttlkv_options_free(options);
    if (st != TTLKV_OK) return failed("ttlkv_open", st);
    int n = argc > 3 ? atoi(argv[3]) : 0;
    int rc;
    if (strcmp(argv[2], "write") == 0) rc = do_write(store, n);
    else if (strcmp(argv[2], "read") == 0) rc = do_read(store, n);
    else if (strcmp(argv[2], "echo") == 0) rc = do_echo(store);
    else rc = 2;
    st = ttlkv_close(store);
    ttlkv_free(store);
    if (st != TTLKV_OK) return failed("ttlkv_close", st);
    return rc;
}
