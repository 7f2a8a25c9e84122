/* features: exercises every part of the helper, for tests. Each line is a
 * command:
 *   drop ...        no reply (the line is dropped)
 *   split a b c     one reply line per word
 *   fail [why]      this line fails (with `why`, or the default message)
 *   partial         pushes a line, then fails: the pushed line is discarded
 *   peer            the client's address (connection.info)
 *   log text        writes text to the host's log (yell_logf, info)
 *   stderr text     fprintf(stderr, ...): logged by the host at warn
 *                   (links wasi-libc's stdio: the core module imports
 *                   wasi_snapshot_preview1, adapted to WASI 0.2)
 *   stdout text     printf + fflush: logged by the host at info
 *   assert          a failed assert(): the host logs it as a panic
 *   panic           yell_panicf
 *   mem             the instance's linear memory size (to spot leaks)
 *   anything else   echoed back, prefixed by the `prefix` config
 * Config: prefix=TEXT, repeat=N (echo N times), greet=true (greets on
 * connect and says bye at end of input).
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yell_plugin.h"

static char *prefix;
static long repeat;
static int greet;

const char *yell_setup(const yell_config *config) {
    static const char *const known[] = {"prefix", "repeat", "greet", NULL};
    const char *error;
    if ((error = yell_config_allow_only(config, known))) return error;
    if ((error = yell_config_long(config, "repeat", 1, &repeat))) return error;
    if (repeat < 0 || repeat > 100) return yell_format("config `repeat`: %ld is not in 0..=100", repeat);
    if ((error = yell_config_bool(config, "greet", 0, &greet))) return error;
    const char *p = yell_config_get(config, "prefix");
    prefix = strdup(p ? p : "");
    return NULL;
}

static int starts(const uint8_t *line, size_t len, const char *word) {
    size_t n = strlen(word);
    return len >= n && memcmp(line, word, n) == 0 && (len == n || line[n] == ' ');
}

int yell_transform(const uint8_t *line, size_t len, yell_reply *out) {
    const uint8_t *space = len ? memchr(line, ' ', len) : NULL;
    const char *rest = space ? (const char *)space + 1 : "";
    int rest_len = space ? (int)(line + len - (space + 1)) : 0;
    if (starts(line, len, "drop")) return 0;
    if (starts(line, len, "split")) {
        size_t i = 5;
        while (i < len) {
            while (i < len && line[i] == ' ') i++;
            size_t start = i;
            while (i < len && line[i] != ' ') i++;
            if (i > start) yell_push(out, line + start, i - start);
        }
        return 0;
    }
    if (starts(line, len, "fail")) {
        if (rest_len) return yell_errorf(out, "failed on purpose: %.*s", rest_len, rest);
        return -1;
    }
    if (starts(line, len, "partial")) {
        yell_push_str(out, "this line must not be seen");
        return yell_error(out, "partial failure");
    }
    if (starts(line, len, "peer")) {
        char *local;
        char *peer = yell_peer(out->conn, &local);
        if (!peer) return yell_error(out, "no such connection");
        yell_write(out, peer, strlen(peer));
        yell_write(out, " -> ", 4);
        yell_write(out, local, strlen(local));
        yell_newline(out);
        free(peer);
        free(local);
        return 0;
    }
    if (starts(line, len, "log")) {
        yell_logf(YELL_INFO, "conn %llu says: %.*s", (unsigned long long)out->conn, rest_len, rest);
        yell_push_str(out, "logged");
        return 0;
    }
#ifndef NO_STDIO
    if (starts(line, len, "stderr")) {
        fprintf(stderr, "to stderr: %.*s\n", rest_len, rest);
        yell_push_str(out, "written to stderr");
        return 0;
    }
    if (starts(line, len, "stdout")) {
        printf("to stdout: %.*s\n", rest_len, rest);
        fflush(stdout); /* a reactor never exits: unflushed output stays */
        yell_push_str(out, "written to stdout");
        return 0;
    }
#endif
    if (starts(line, len, "assert")) {
        assert(len == 0 && "assert on purpose");
        return 0;
    }
    if (starts(line, len, "mem")) { /* linear memory size, to spot leaks */
        char text[64];
#ifdef __wasm__
        int n = snprintf(text, sizeof text, "memory %zu KiB", __builtin_wasm_memory_size(0) * 64);
#else /* a native unit test: no linear memory to measure */
        int n = snprintf(text, sizeof text, "memory unknown natively");
#endif
        yell_push(out, text, (size_t)n);
        return 0;
    }
    if (starts(line, len, "panic")) yell_panicf("panic on purpose at line of %zu bytes", len);
    for (long i = 0; i < repeat; i++) {
        yell_write(out, prefix, strlen(prefix));
        yell_write(out, line, len);
        yell_newline(out);
    }
    return 0;
}

void yell_opened(uint64_t conn, yell_reply *out) {
    if (!greet) return;
    char *peer = yell_peer(conn, NULL);
    yell_write(out, "hello ", 6);
    if (peer) yell_write(out, peer, strlen(peer));
    yell_newline(out);
    free(peer);
}

void yell_closed(uint64_t conn, yell_reply *out) {
    (void)conn;
    if (greet) yell_push_str(out, "bye");
}
