/* yell_plugin.h: write a yell-host plugin in C as one per-line function.
 *
 * The host hands a plugin whole batches of lines (see wit/plugin.wit);
 * yell_plugin.c speaks that batch contract and calls your function once per
 * line, so a plugin is:
 *
 *     #include "yell_plugin.h"
 *
 *     int yell_transform(const uint8_t *line, size_t len, yell_reply *out) {
 *         uint8_t *dst = yell_line_begin(out, len);
 *         for (size_t i = 0; i < len; i++)
 *             dst[i] = (line[i] >= 'a' && line[i] <= 'z') ? line[i] - 32 : line[i];
 *         yell_line_end(out, len);
 *         return 0;
 *     }
 *
 * A line is bytes without its line ending ('\n' or "\r\n" removed by the
 * host); it may hold any byte but '\n', NUL and invalid UTF-8 included, and
 * is NOT NUL-terminated. Push zero reply lines to drop the line, several to
 * expand it. Return 0, or `return yell_error(out, "why");` to answer this
 * one line with an error (reply lines pushed for it before are discarded).
 *
 * Optional functions a plugin may define (the helper has defaults):
 *   const char *yell_setup(const yell_config *config);
 *       init: NULL accepts the configuration, a message refuses it (the
 *       host does not load the plugin). Default: refuse every key.
 *   void yell_opened(uint64_t conn, yell_reply *out);   greeting lines
 *   void yell_closed(uint64_t conn, yell_reply *out);   last words
 *   int yell_transform_raw(const uint8_t *chunk, size_t len, yell_reply *out);
 *       --framing raw: write the bytes to send back with yell_write (no
 *       framing). Default: the chunk through yell_transform as one line,
 *       the reply lines joined by '\n' (no '\n' after the last).
 *
 * Plugin instances are pooled: globals are per instance, not per connection
 * (out->conn tells connections apart). One call at a time per instance.
 */
#ifndef YELL_PLUGIN_H
#define YELL_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The reply lines being built. During a batch one buffer holds the replies
 * of every line of the batch: pushing costs a copy, rarely an allocation. */
typedef struct yell_reply {
    uint8_t *buf;   /* reply bytes of the whole batch so far */
    size_t len;     /* bytes used in buf */
    size_t cap;     /* bytes allocated in buf */
    uint64_t conn;  /* the connection the line came from */
    char *error;    /* set by yell_error (internal) */
    size_t error_len;
} yell_reply;

/* One key/value pair of the configuration, NUL-terminated copies (a value
 * holding a NUL is cut there; the lengths are the full ones). Valid only
 * during yell_setup: strdup what you keep. */
typedef struct yell_config_entry {
    const char *key;
    const char *value;
    size_t key_len;
    size_t value_len;
} yell_config_entry;

typedef struct yell_config {
    const yell_config_entry *entries; /* in the order given */
    size_t count;
} yell_config;

/* ---- What the plugin defines ------------------------------------------ */

int yell_transform(const uint8_t *line, size_t len, yell_reply *out);
const char *yell_setup(const yell_config *config);
void yell_opened(uint64_t conn, yell_reply *out);
void yell_closed(uint64_t conn, yell_reply *out);
int yell_transform_raw(const uint8_t *chunk, size_t len, yell_reply *out);

/* ---- Building replies -------------------------------------------------- */

/* Makes room for `extra` more bytes (traps with a message if memory runs
 * out, as the host's memory cap can make it). */
void yell_reserve(yell_reply *out, size_t extra);

/* Appends bytes to the current reply line without ending it. */
static inline void yell_write(yell_reply *out, const void *bytes, size_t n) {
    if (out->cap - out->len < n) yell_reserve(out, n);
    if (n) memcpy(out->buf + out->len, bytes, n);
    out->len += n;
}

static inline void yell_write_byte(yell_reply *out, uint8_t byte) {
    if (out->cap == out->len) yell_reserve(out, 1);
    out->buf[out->len++] = byte;
}

/* Ends the current reply line (adds its '\n'). */
static inline void yell_newline(yell_reply *out) { yell_write_byte(out, '\n'); }

/* Pushes one whole reply line: the bytes and a '\n'. The bytes must not
 * hold a '\n' (it would split them into two lines on the wire). */
static inline void yell_push(yell_reply *out, const void *bytes, size_t n) {
    if (out->cap - out->len < n + 1) yell_reserve(out, n + 1);
    if (n) memcpy(out->buf + out->len, bytes, n);
    out->len += n;
    out->buf[out->len++] = '\n';
}

static inline void yell_push_str(yell_reply *out, const char *s) {
    yell_push(out, s, strlen(s));
}

/* The fastest way to write a byte-wise transform: room for one line of up
 * to `max` bytes, written in place, then yell_line_end with its length. */
static inline uint8_t *yell_line_begin(yell_reply *out, size_t max) {
    if (out->cap - out->len < max + 1) yell_reserve(out, max + 1);
    return out->buf + out->len;
}

static inline void yell_line_end(yell_reply *out, size_t n) {
    out->len += n;
    out->buf[out->len++] = '\n';
}

/* Fails this line with `message` (copied): `return yell_error(out, "...");`
 * Returns -1. */
int yell_error(yell_reply *out, const char *message);
/* The same with a printf format (links vsnprintf: some 20 KB more). */
int yell_errorf(yell_reply *out, const char *format, ...)
    __attribute__((__format__(__printf__, 2, 3)));

/* ---- Configuration ----------------------------------------------------- */

/* The value of `key` (the last one wins if repeated), NULL if absent. */
const char *yell_config_get(const yell_config *config, const char *key);

/* Refuses any key not in `known` (a NULL-terminated list; NULL for none),
 * so a typo is an error at load time: NULL, or the message to return from
 * yell_setup. */
const char *yell_config_allow_only(const yell_config *config, const char *const *known);

/* The value of `key` as a decimal integer in *value, or `fallback` when
 * absent: NULL, or the message to return from yell_setup. */
const char *yell_config_long(const yell_config *config, const char *key, long fallback,
                             long *value);

/* The value of `key` as a boolean (true/false/yes/no/on/off/1/0), or
 * `fallback` when absent: NULL, or the message to return from yell_setup. */
const char *yell_config_bool(const yell_config *config, const char *key, int fallback,
                             int *value);

/* A message formatted into a static buffer (valid until the next call), for
 * yell_setup to return. */
const char *yell_format(const char *format, ...) __attribute__((__format__(__printf__, 1, 2)));

/* ---- The host ---------------------------------------------------------- */

typedef enum yell_level {
    YELL_TRACE = 0,
    YELL_DEBUG = 1,
    YELL_INFO = 2,
    YELL_WARN = 3,
    YELL_ERROR = 4,
} yell_level;

/* Writes `message` to the host's log, tagged with the plugin's name. Each
 * message is a call into the host: fine now and then, not for every line. */
void yell_log(yell_level level, const char *message);
void yell_logf(yell_level level, const char *format, ...)
    __attribute__((__format__(__printf__, 2, 3)));

/* The client address of connection `conn` (the real one behind a load
 * balancer sending the PROXY protocol) while it is open, NUL-terminated and
 * malloc'd (free it); NULL once it closed. `local` likewise gives the
 * address the client connected to (pass NULL if not wanted). */
char *yell_peer(uint64_t conn, char **local);

/* Tells the host why, then traps: the host logs the message and the client
 * is told only that the plugin panicked. assert() failures come here too. */
__attribute__((__noreturn__)) void yell_panic(const char *message);
__attribute__((__noreturn__)) void yell_panicf(const char *format, ...)
    __attribute__((__format__(__printf__, 1, 2)));

/* ---- State: the host's wasi:keyvalue store ------------------------------ */
/* Buckets the operator grants (--plugin-bucket) open; any other answers
 * "access denied". A swap, another instance and another host on the same
 * store see what is written here. Each call returns NULL, or a message
 * saying why it failed (the store down or slow, a limit), valid until the
 * next state call:
 *
 *     yell_bucket hits;
 *     int64_t total;
 *     const char *why = yell_bucket_open("hits", &hits);
 *     if (!why) why = yell_state_increment(&hits, "all", 1, &total);
 *     yell_bucket_close(&hits);
 *     if (why) return yell_error(out, why);
 *
 * Keys are NUL-terminated strings; values are bytes. A plugin that calls
 * none of these imports no state; the batch functions are in the
 * bindings (bindings/plugin.h: wasi_keyvalue_batch_*). */
typedef struct yell_bucket {
    int32_t handle;
    char name[128]; /* for messages */
} yell_bucket;

const char *yell_bucket_open(const char *name, yell_bucket *bucket);
void yell_bucket_close(yell_bucket *bucket);

/* The value of `key`: *value malloc'd (free it) and *len set, or *value
 * NULL and *len 0 when unset. */
const char *yell_state_get(const yell_bucket *bucket, const char *key, uint8_t **value, size_t *len);
const char *yell_state_set(const yell_bucket *bucket, const char *key, const void *value, size_t len);
/* Sets `key` to expire `ttl_ms` milliseconds from now (at least 1). */
const char *yell_state_set_with_ttl(const yell_bucket *bucket, const char *key, const void *value,
                                    size_t len, uint64_t ttl_ms);
/* Makes `key` expire `ttl_ms` from now (0: at once); *was_set 0 if unset. */
const char *yell_state_expire(const yell_bucket *bucket, const char *key, uint64_t ttl_ms, int *was_set);
const char *yell_state_delete(const yell_bucket *bucket, const char *key);
const char *yell_state_exists(const yell_bucket *bucket, const char *key, int *exists);
/* Adds `delta` to the counter `key` (0 when unset), atomically in the
 * store: the new value in *total. Kept as decimal text. */
const char *yell_state_increment(const yell_bucket *bucket, const char *key, int64_t delta, int64_t *total);

/* Replaces the value of `key` by compare-and-swap: `change` gets the value
 * now (NULL when unset) and writes the new one with yell_write into `out`,
 * returning 1 to store it or 0 to leave the key as it is; when another
 * writer came first it is called again with the newer value. *written is
 * 1 if a value was stored (pass NULL if not wanted). */
typedef int (*yell_state_change)(const uint8_t *current, size_t len, void *context, yell_reply *out);
const char *yell_state_update(const yell_bucket *bucket, const char *key, yell_state_change change,
                              void *context, int *written);

/* ---- Metrics of the plugin's own ---------------------------------------- */
/* On the host's /metrics as yell_plugin_<name> (a counter's with _total),
 * labelled plugin="<the plugin's name>" and with the label values given.
 * Define in yell_setup: a definition the host refuses (a bad name, a name
 * already defined otherwise) traps, so the plugin is refused at load.
 * Label names and values are NULL-terminated arrays of strings (NULL for
 * none). What a call records counts when the call ends. Mistakes trap (the
 * wrong number of values, set on a counter); values the metric cannot
 * take record nothing, and the host warns once. */
typedef uint32_t yell_metric;

yell_metric yell_counter(const char *name, const char *help, const char *const *labels);
yell_metric yell_gauge(const char *name, const char *help, const char *const *labels);
/* `buckets`: `count` increasing upper bounds (the host adds +Inf). */
yell_metric yell_histogram(const char *name, const char *help, const char *const *labels,
                           const double *buckets, size_t count);

void yell_metric_add(yell_metric metric, const char *const *values, double amount);
void yell_metric_set(yell_metric metric, const char *const *values, double value);
void yell_metric_observe(yell_metric metric, const char *const *values, double value);

#ifdef __cplusplus
}
#endif

#endif /* YELL_PLUGIN_H */
