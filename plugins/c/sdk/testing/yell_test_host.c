/* yell_test_host.c: the fake host of yell_test_host.h. It defines the
 * imports the bindings declare (which a component gets from the real host)
 * and drives the exports the SDK implements. */
#include "yell_test_host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

#define MAX_LOGS 256
#define MAX_PEERS 16

static char *logs[MAX_LOGS];
static size_t log_count;
static char last_error[1024];

static struct {
    uint64_t conn;
    char *peer, *local;
} peers[MAX_PEERS];
static size_t peer_count;

static char *copy(const uint8_t *bytes, size_t len) {
    char *out = malloc(len + 1);
    if (!out) abort();
    memcpy(out, bytes, len);
    out[len] = '\0';
    return out;
}

static void keep_log(const char *level, const uint8_t *message, size_t len) {
    if (log_count == MAX_LOGS) return;
    size_t size = strlen(level) + 2 + len + 1;
    char *line = malloc(size);
    if (!line) abort();
    snprintf(line, size, "%s: %.*s", level, (int)len, (const char *)message);
    logs[log_count++] = line;
}

/* The imports the bindings declare. */
void __wasm_import_yell_plugin_log_log(int32_t level, uint8_t *message, size_t len) {
    static const char *const names[] = {"trace", "debug", "info", "warn", "error"};
    keep_log(level >= 0 && level <= 4 ? names[level] : "?", message, len);
}

void __wasm_import_yell_plugin_log_panicked(uint8_t *message, size_t len) {
    keep_log("panicked", message, len);
}

void __wasm_import_yell_plugin_connection_info(int64_t conn, uint8_t *ret) {
    for (size_t i = 0; i < peer_count; i++) {
        if (peers[i].conn != (uint64_t)conn) continue;
        /* option<connection-info>, as the bindings read it: a tag, then
         * two strings the caller frees. */
        ret[0] = 1;
        *(uint8_t **)(ret + sizeof(void *)) = (uint8_t *)copy((uint8_t *)peers[i].peer, strlen(peers[i].peer));
        *(size_t *)(ret + 2 * sizeof(void *)) = strlen(peers[i].peer);
        *(uint8_t **)(ret + 3 * sizeof(void *)) = (uint8_t *)copy((uint8_t *)peers[i].local, strlen(peers[i].local));
        *(size_t *)(ret + 4 * sizeof(void *)) = strlen(peers[i].local);
        return;
    }
    ret[0] = 0;
}

/* Strings the host hands the plugin are the plugin's: malloc'd here. */
static plugin_string_t owned_string(const char *text) {
    plugin_string_t out = {(uint8_t *)copy((const uint8_t *)text, strlen(text)), strlen(text)};
    return out;
}

char *yell_test_start(const char *const *pairs) {
    size_t count = 0;
    while (pairs && pairs[2 * count]) count++;
    plugin_list_tuple2_string_string_t config = {NULL, count};
    if (count) {
        config.ptr = malloc(count * sizeof(*config.ptr));
        if (!config.ptr) abort();
        for (size_t i = 0; i < count; i++) {
            config.ptr[i].f0 = owned_string(pairs[2 * i]);
            config.ptr[i].f1 = owned_string(pairs[2 * i + 1]);
        }
    }
    plugin_string_t err;
    if (exports_yell_plugin_transform_init(&config, &err)) return NULL;
    char *message = copy(err.ptr, err.len);
    free(err.ptr);
    return message;
}

void yell_test_set_peer(uint64_t conn, const char *peer, const char *local) {
    if (peer_count == MAX_PEERS) abort();
    peers[peer_count].conn = conn;
    peers[peer_count].peer = copy((const uint8_t *)peer, strlen(peer));
    peers[peer_count].local = copy((const uint8_t *)local, strlen(local));
    peer_count++;
}

char *yell_test_line(uint64_t conn, const char *line) {
    size_t len = strlen(line);
    plugin_list_u8_t lines = {malloc(len + 1), len + 1};
    if (!lines.ptr) abort();
    memcpy(lines.ptr, line, len);
    lines.ptr[len] = '\n';
    exports_yell_plugin_transform_batch_reply_t reply;
    exports_yell_plugin_transform_transform_batch(conn, &lines, &reply);
    /* The host's reply check, for one line. */
    if (reply.ends.len != 1 || reply.ends.ptr[0] > reply.output.len) {
        fprintf(stderr, "yell_test_line: the reply breaks the contract\n");
        abort();
    }
    char *out = NULL;
    if (reply.errors.len) {
        plugin_string_t *message = &reply.errors.ptr[0].message;
        snprintf(last_error, sizeof last_error, "%.*s", (int)message->len, (const char *)message->ptr);
        for (size_t i = 0; i < reply.errors.len; i++) free(reply.errors.ptr[i].message.ptr);
    } else {
        out = copy(reply.output.ptr, reply.ends.ptr[0]);
    }
    free(reply.output.ptr);
    free(reply.ends.ptr);
    free(reply.errors.ptr);
    return out;
}

const char *yell_test_error(void) { return last_error; }

static char *reply_of(plugin_list_u8_t *bytes) {
    char *out = copy(bytes->ptr ? bytes->ptr : (const uint8_t *)"", bytes->len);
    free(bytes->ptr);
    return out;
}

char *yell_test_opened(uint64_t conn) {
    plugin_list_u8_t greeting;
    exports_yell_plugin_transform_connection_opened(conn, &greeting);
    return reply_of(&greeting);
}

char *yell_test_closed(uint64_t conn) {
    plugin_list_u8_t last_words;
    exports_yell_plugin_transform_connection_closed(conn, &last_words);
    return reply_of(&last_words);
}

size_t yell_test_log_count(void) { return log_count; }

const char *yell_test_log(size_t index) { return index < log_count ? logs[index] : NULL; }
