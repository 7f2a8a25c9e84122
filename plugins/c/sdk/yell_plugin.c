/* yell_plugin.c: the batch contract of wit/plugin.wit around a per-line
 * yell_transform (see yell_plugin.h). It implements the exports that
 * `wit-bindgen c` declares in plugin.h.
 *
 * Ownership, as the generated plugin.c has it:
 * - export arguments (the `lines`, `chunk` and `config` lists) belong to the
 *   export: the generated code never frees them, so this file does
 *   (plugin_list_u8_free...), or every batch would leak its input;
 * - what an export returns is freed by the generated post-return function
 *   with free(), and only when its length is > 0: every returned list or
 *   string is malloc'd, and an empty one is returned as {NULL, 0} (its
 *   buffer freed here, else it would leak);
 * - strings an import returns (connection.info) are the caller's to free.
 */
#include "yell_plugin.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "plugin.h"

#ifdef __wasm_simd128__
#include <wasm_simd128.h>
#endif

/* The generated plugin.c links against this symbol, which wit-bindgen's
 * binary object of the world's types would define. The types are embedded
 * by `wasm-tools component embed` instead (no binary object to keep), so
 * the symbol is defined here, empty. */
void __component_type_object_force_link_plugin(void) {}

static int initialized;

/* The next '\n' in [p, end), or NULL. With -msimd128, 16 bytes a step
 * (wasi-libc's memchr is scalar). */
static const uint8_t *find_newline(const uint8_t *p, const uint8_t *end) {
#ifdef __wasm_simd128__
    const v128_t newline = wasm_i8x16_splat('\n');
    for (; end - p >= 16; p += 16) {
        uint32_t hits = wasm_i8x16_bitmask(wasm_i8x16_eq(wasm_v128_load(p), newline));
        if (hits) return p + __builtin_ctz(hits);
    }
    for (; p < end; p++)
        if (*p == '\n') return p;
    return NULL;
#else
    return p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
#endif
}

/* ---- Traps ------------------------------------------------------------- */

__attribute__((__noreturn__)) void yell_panic(const char *message) {
    plugin_string_t text;
    plugin_string_set(&text, message);
    yell_plugin_log_panicked(&text);
    __builtin_trap();
}

/* Formats into `small`, or into a malloc'd buffer when it does not fit. */
static char *vformat(char *small, size_t size, size_t *len, const char *format, va_list args) {
    va_list again;
    va_copy(again, args);
    int n = vsnprintf(small, size, format, args);
    char *text = small;
    if (n < 0) {
        n = 0;
        small[0] = 0;
    } else if ((size_t)n >= size) {
        text = malloc((size_t)n + 1);
        if (!text) yell_panic("yell-plugin: out of memory");
        vsnprintf(text, (size_t)n + 1, format, again);
    }
    va_end(again);
    if (len) *len = (size_t)n;
    return text;
}

__attribute__((__noreturn__)) void yell_panicf(const char *format, ...) {
    char small[512];
    va_list args;
    va_start(args, format);
    char *text = vformat(small, sizeof small, NULL, format, args);
    va_end(args);
    yell_panic(text);
}

/* A small text builder into a static buffer, for the messages this file
 * makes itself without linking printf. */
static char message[1024];
static size_t message_len;

static void msg_reset(void) {
    message_len = 0;
    message[0] = 0;
}

static void msg_add(const char *text) {
    size_t n = strlen(text);
    if (n > sizeof message - 1 - message_len) n = sizeof message - 1 - message_len;
    memcpy(message + message_len, text, n);
    message_len += n;
    message[message_len] = 0;
}

static void msg_add_number(long value) {
    char digits[24];
    size_t i = sizeof digits;
    unsigned long magnitude = value < 0 ? 0UL - (unsigned long)value : (unsigned long)value;
    digits[--i] = 0;
    do {
        digits[--i] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude);
    if (value < 0) digits[--i] = '-';
    msg_add(digits + i);
}

/* assert() lands here instead of wasi-libc's, which would fprintf to stderr
 * (importing WASI) and then trap with the reason lost. */
__attribute__((__noreturn__)) void __assert_fail(const char *expr, const char *file, int line, const char *func) {
    msg_reset();
    msg_add("assertion failed: ");
    msg_add(expr);
    msg_add(" at ");
    msg_add(file);
    msg_add(":");
    msg_add_number(line);
    msg_add(" in ");
    msg_add(func);
    yell_panic(message);
}

static void require_init(void) {
    /* The host always calls init first; anything else is a host bug. */
    if (!initialized) yell_panic("yell-plugin: called before init");
}

/* ---- Replies ----------------------------------------------------------- */

void yell_reserve(yell_reply *out, size_t extra) {
    if (out->cap - out->len >= extra) return;
    size_t need = out->len + extra;
    if (need < out->len) yell_panic("yell-plugin: reply too large");
    size_t cap = out->cap ? out->cap * 2 : 64;
    if (cap < need) cap = need;
    uint8_t *buf = realloc(out->buf, cap);
    if (!buf) yell_panic("yell-plugin: out of memory for the reply");
    out->buf = buf;
    out->cap = cap;
}

static int set_error(yell_reply *out, char *text, size_t len) {
    free(out->error);
    out->error = text;
    out->error_len = len;
    return -1;
}

int yell_error(yell_reply *out, const char *text) {
    size_t len = strlen(text);
    char *copy = malloc(len + 1);
    if (!copy) yell_panic("yell-plugin: out of memory");
    memcpy(copy, text, len + 1);
    return set_error(out, copy, len);
}

int yell_errorf(yell_reply *out, const char *format, ...) {
    char small[256];
    size_t len;
    va_list args;
    va_start(args, format);
    char *text = vformat(small, sizeof small, &len, format, args);
    va_end(args);
    if (text == small) return yell_error(out, small);
    return set_error(out, text, len);
}

/* Hands the reply bytes over as a returned list: the post-return function
 * frees them, except an empty list, freed here. */
static void give_list(yell_reply *out, plugin_list_u8_t *list) {
    if (out->len == 0) {
        free(out->buf);
        list->ptr = NULL;
        list->len = 0;
    } else {
        list->ptr = out->buf;
        list->len = out->len;
    }
    out->buf = NULL;
    out->len = out->cap = 0;
}

/* The error message of a failed line or chunk as a returned string. */
static plugin_string_t take_error(yell_reply *out) {
    plugin_string_t text;
    if (out->error && out->error_len > 0) {
        text.ptr = (uint8_t *)out->error;
        text.len = out->error_len;
    } else {
        free(out->error); /* an empty string is not freed by post-return */
        plugin_string_dup(&text, "transform failed");
    }
    out->error = NULL;
    out->error_len = 0;
    return text;
}

/* ---- Defaults a plugin may replace ------------------------------------- */

__attribute__((weak)) const char *yell_setup(const yell_config *config) {
    return yell_config_allow_only(config, NULL);
}

__attribute__((weak)) void yell_opened(uint64_t conn, yell_reply *out) {
    (void)conn;
    (void)out;
}

__attribute__((weak)) void yell_closed(uint64_t conn, yell_reply *out) {
    (void)conn;
    (void)out;
}

/* Raw mode: the chunk as one line, the reply lines joined by '\n', so a
 * byte-wise transform such as upper-casing works unchanged. */
__attribute__((weak)) int yell_transform_raw(const uint8_t *chunk, size_t len, yell_reply *out) {
    int failed = yell_transform(chunk, len, out);
    if (failed) return failed;
    if (out->len > 0) out->len--; /* the '\n' ending the last reply line */
    return 0;
}

/* ---- The exports ------------------------------------------------------- */

bool exports_yell_plugin_transform_init(plugin_list_tuple2_string_string_t *config,
                                        plugin_string_t *err) {
    size_t count = config->len;
    yell_config_entry *entries = calloc(count ? count : 1, sizeof *entries);
    if (!entries) yell_panic("yell-plugin: out of memory");
    for (size_t i = 0; i < count; i++) {
        plugin_string_t *key = &config->ptr[i].f0, *value = &config->ptr[i].f1;
        char *copy = malloc(key->len + value->len + 2);
        if (!copy) yell_panic("yell-plugin: out of memory");
        memcpy(copy, key->ptr, key->len);
        copy[key->len] = 0;
        memcpy(copy + key->len + 1, value->ptr, value->len);
        copy[key->len + 1 + value->len] = 0;
        entries[i] = (yell_config_entry){copy, copy + key->len + 1, key->len, value->len};
    }
    plugin_list_tuple2_string_string_free(config);

    yell_config view = {entries, count};
    const char *refused = yell_setup(&view);
    if (refused) plugin_string_dup(err, refused); /* before the copies go */
    for (size_t i = 0; i < count; i++) free((char *)entries[i].key);
    free(entries);
    if (refused) return false;
    initialized = 1;
    return true;
}

void exports_yell_plugin_transform_transform_batch(uint64_t conn, plugin_list_u8_t *lines,
                                                   exports_yell_plugin_transform_batch_reply_t *ret) {
    require_init();
    const uint8_t *input = lines->ptr;
    size_t size = lines->len;
    /* Every line, the last included, is ended by '\n' (the contract). */
    size_t body = size > 0 && input[size - 1] == '\n' ? size - 1 : size;

    /* Replies are usually about as long as their input. */
    yell_reply out = {0};
    out.conn = conn;
    yell_reserve(&out, size + 1);

    size_t ends_cap = size / 8 + 1, ends_len = 0;
    uint32_t *ends = malloc(ends_cap * sizeof *ends);
    if (!ends) yell_panic("yell-plugin: out of memory");
    size_t errors_cap = 0, errors_len = 0;
    yell_plugin_types_line_error_t *errors = NULL;

    size_t start = 0;
    for (uint32_t index = 0;; index++) {
        const uint8_t *newline = find_newline(input + start, input + body);
        size_t end = newline ? (size_t)(newline - input) : body;
        size_t mark = out.len;
        int failed = yell_transform(input + start, end - start, &out);
        if (failed || out.error) {
            out.len = mark; /* reply lines pushed before the error go */
            if (errors_len == errors_cap) {
                errors_cap = errors_cap ? errors_cap * 2 : 4;
                errors = realloc(errors, errors_cap * sizeof *errors);
                if (!errors) yell_panic("yell-plugin: out of memory");
            }
            errors[errors_len++] = (yell_plugin_types_line_error_t){index, take_error(&out)};
        }
        if (ends_len == ends_cap) {
            ends_cap *= 2;
            ends = realloc(ends, ends_cap * sizeof *ends);
            if (!ends) yell_panic("yell-plugin: out of memory");
        }
        ends[ends_len++] = (uint32_t)out.len;
        if (!newline) break;
        start = end + 1;
    }
    plugin_list_u8_free(lines);

    give_list(&out, &ret->output);
    ret->ends.ptr = ends;
    ret->ends.len = ends_len;
    if (errors_len == 0) {
        free(errors);
        errors = NULL;
    }
    ret->errors.ptr = errors;
    ret->errors.len = errors_len;
}

bool exports_yell_plugin_transform_transform_raw(uint64_t conn, plugin_list_u8_t *chunk,
                                                 plugin_list_u8_t *ret, plugin_string_t *err) {
    require_init();
    yell_reply out = {0};
    out.conn = conn;
    int failed = yell_transform_raw(chunk->ptr, chunk->len, &out);
    plugin_list_u8_free(chunk);
    if (failed || out.error) {
        free(out.buf);
        *err = take_error(&out);
        return false;
    }
    give_list(&out, ret);
    return true;
}

void exports_yell_plugin_transform_connection_opened(uint64_t conn, plugin_list_u8_t *ret) {
    require_init();
    yell_reply out = {0};
    out.conn = conn;
    yell_opened(conn, &out);
    free(out.error);
    give_list(&out, ret);
}

void exports_yell_plugin_transform_connection_closed(uint64_t conn, plugin_list_u8_t *ret) {
    require_init();
    yell_reply out = {0};
    out.conn = conn;
    yell_closed(conn, &out);
    free(out.error);
    give_list(&out, ret);
}

/* ---- Configuration ----------------------------------------------------- */

const char *yell_config_get(const yell_config *config, const char *key) {
    for (size_t i = config->count; i-- > 0;)
        if (strcmp(config->entries[i].key, key) == 0) return config->entries[i].value;
    return NULL;
}

const char *yell_config_allow_only(const yell_config *config, const char *const *known) {
    for (size_t i = 0; i < config->count; i++) {
        const char *key = config->entries[i].key;
        int found = 0;
        for (const char *const *k = known; k && *k && !found; k++) found = strcmp(*k, key) == 0;
        if (found) continue;
        msg_reset();
        msg_add("unknown config key `");
        msg_add(key);
        if (!known || !*known) {
            msg_add("`: this plugin takes no configuration");
        } else {
            msg_add("`: this plugin knows ");
            for (const char *const *k = known; *k; k++) {
                if (k != known) msg_add(", ");
                msg_add(*k);
            }
        }
        return message;
    }
    return NULL;
}

static const char *cannot_use(const char *key, const char *raw, const char *why) {
    msg_reset();
    msg_add("config `");
    msg_add(key);
    msg_add("`: cannot use \"");
    msg_add(raw);
    msg_add("\": ");
    msg_add(why);
    return message;
}

const char *yell_config_long(const yell_config *config, const char *key, long fallback,
                             long *value) {
    const char *raw = yell_config_get(config, key);
    if (!raw) {
        *value = fallback;
        return NULL;
    }
    char *end;
    errno = 0;
    long parsed = strtol(raw, &end, 10);
    if (end == raw || *end != 0) return cannot_use(key, raw, "not a decimal integer");
    if (errno == ERANGE) return cannot_use(key, raw, "out of range");
    *value = parsed;
    return NULL;
}

const char *yell_config_bool(const yell_config *config, const char *key, int fallback,
                             int *value) {
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
    const char *raw = yell_config_get(config, key);
    if (!raw) {
        *value = fallback;
        return NULL;
    }
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(raw, yes[i]) == 0) return (*value = 1, NULL);
        if (strcmp(raw, no[i]) == 0) return (*value = 0, NULL);
    }
    return cannot_use(key, raw, "not a boolean (true or false)");
}

const char *yell_format(const char *format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    return message;
}

/* ---- The host ---------------------------------------------------------- */

void yell_log(yell_level level, const char *text) {
    plugin_string_t s;
    plugin_string_set(&s, text);
    yell_plugin_log_log((yell_plugin_log_level_t)level, &s);
}

void yell_logf(yell_level level, const char *format, ...) {
    char small[256];
    va_list args;
    va_start(args, format);
    char *text = vformat(small, sizeof small, NULL, format, args);
    va_end(args);
    yell_log(level, text);
    if (text != small) free(text);
}

static char *c_string(const plugin_string_t *s) {
    char *copy = malloc(s->len + 1);
    if (!copy) yell_panic("yell-plugin: out of memory");
    memcpy(copy, s->ptr, s->len);
    copy[s->len] = 0;
    return copy;
}

char *yell_peer(uint64_t conn, char **local) {
    yell_plugin_connection_connection_info_t info;
    if (!yell_plugin_connection_info(conn, &info)) {
        if (local) *local = NULL;
        return NULL;
    }
    char *peer = c_string(&info.peer);
    if (local) *local = c_string(&info.local);
    yell_plugin_connection_connection_info_free(&info);
    return peer;
}

/* ---- State and metrics, through the host's imports ---------------------- *
 * Natively (a plugin's unit tests) testing/yell_test_host.c defines these
 * functions over a fake store instead. */
#ifdef __wasm__

static char state_why[512];

/* A string the bindings borrow: the text itself, not a copy. */
static plugin_string_t borrowed(const char *text) {
    plugin_string_t s = {(uint8_t *)text, strlen(text)};
    return s;
}

static plugin_list_u8_t borrowed_bytes(const void *bytes, size_t len) {
    plugin_list_u8_t list = {(uint8_t *)bytes, len};
    return list;
}

/* The message of a store error (freed here). */
static const char *store_why(const char *bucket, wasi_keyvalue_store_error_t *error) {
    switch (error->tag) {
    case WASI_KEYVALUE_STORE_ERROR_ACCESS_DENIED:
        snprintf(state_why, sizeof state_why,
                 "bucket %s: access denied (the operator grants buckets with --plugin-bucket)", bucket);
        break;
    case WASI_KEYVALUE_STORE_ERROR_NO_SUCH_STORE:
        snprintf(state_why, sizeof state_why, "bucket %s: no such store", bucket);
        break;
    default:
        snprintf(state_why, sizeof state_why, "%.*s", (int)error->val.other.len,
                 (const char *)error->val.other.ptr);
    }
    wasi_keyvalue_store_error_free(error);
    return state_why;
}

static wasi_keyvalue_store_borrow_bucket_t borrow(const yell_bucket *bucket) {
    wasi_keyvalue_store_borrow_bucket_t handle = {bucket->handle};
    return handle;
}

const char *yell_bucket_open(const char *name, yell_bucket *bucket) {
    plugin_string_t identifier = borrowed(name);
    wasi_keyvalue_store_own_bucket_t handle;
    wasi_keyvalue_store_error_t error;
    snprintf(bucket->name, sizeof bucket->name, "%s", name);
    bucket->handle = -1;
    if (!wasi_keyvalue_store_open(&identifier, &handle, &error)) return store_why(name, &error);
    bucket->handle = handle.__handle;
    return NULL;
}

void yell_bucket_close(yell_bucket *bucket) {
    if (bucket->handle < 0) return;
    wasi_keyvalue_store_own_bucket_t handle = {bucket->handle};
    wasi_keyvalue_store_bucket_drop_own(handle);
    bucket->handle = -1;
}

const char *yell_state_get(const yell_bucket *bucket, const char *key, uint8_t **value, size_t *len) {
    plugin_string_t k = borrowed(key);
    plugin_option_list_u8_t found;
    wasi_keyvalue_store_error_t error;
    *value = NULL;
    *len = 0;
    if (!wasi_keyvalue_store_method_bucket_get(borrow(bucket), &k, &found, &error))
        return store_why(bucket->name, &error);
    if (found.is_some) {
        /* The bindings' list is malloc'd for the plugin: it is handed on. */
        *value = found.val.ptr;
        *len = found.val.len;
    }
    return NULL;
}

const char *yell_state_set(const yell_bucket *bucket, const char *key, const void *value, size_t len) {
    plugin_string_t k = borrowed(key);
    plugin_list_u8_t v = borrowed_bytes(value, len);
    wasi_keyvalue_store_error_t error;
    if (!wasi_keyvalue_store_method_bucket_set(borrow(bucket), &k, &v, &error))
        return store_why(bucket->name, &error);
    return NULL;
}

const char *yell_state_set_with_ttl(const yell_bucket *bucket, const char *key, const void *value,
                                    size_t len, uint64_t ttl_ms) {
    plugin_string_t k = borrowed(key);
    plugin_list_u8_t v = borrowed_bytes(value, len);
    wasi_keyvalue_store_error_t error;
    if (!yell_plugin_expiry_set_with_ttl(borrow(bucket), &k, &v, ttl_ms ? ttl_ms : 1, &error))
        return store_why(bucket->name, &error);
    return NULL;
}

const char *yell_state_expire(const yell_bucket *bucket, const char *key, uint64_t ttl_ms, int *was_set) {
    plugin_string_t k = borrowed(key);
    bool set;
    wasi_keyvalue_store_error_t error;
    if (!yell_plugin_expiry_expire(borrow(bucket), &k, ttl_ms, &set, &error))
        return store_why(bucket->name, &error);
    if (was_set) *was_set = set;
    return NULL;
}

const char *yell_state_delete(const yell_bucket *bucket, const char *key) {
    plugin_string_t k = borrowed(key);
    wasi_keyvalue_store_error_t error;
    if (!wasi_keyvalue_store_method_bucket_delete(borrow(bucket), &k, &error))
        return store_why(bucket->name, &error);
    return NULL;
}

const char *yell_state_exists(const yell_bucket *bucket, const char *key, int *exists) {
    plugin_string_t k = borrowed(key);
    bool found;
    wasi_keyvalue_store_error_t error;
    if (!wasi_keyvalue_store_method_bucket_exists(borrow(bucket), &k, &found, &error))
        return store_why(bucket->name, &error);
    *exists = found;
    return NULL;
}

const char *yell_state_increment(const yell_bucket *bucket, const char *key, int64_t delta, int64_t *total) {
    plugin_string_t k = borrowed(key);
    wasi_keyvalue_store_error_t error;
    if (!wasi_keyvalue_atomics_increment(borrow(bucket), &k, delta, total, &error))
        return store_why(bucket->name, &error);
    return NULL;
}

/* How many times yell_state_update tries before it gives up. */
#define UPDATE_TRIES 1000

const char *yell_state_update(const yell_bucket *bucket, const char *key, yell_state_change change,
                              void *context, int *written) {
    plugin_string_t k = borrowed(key);
    wasi_keyvalue_atomics_own_cas_t cas;
    wasi_keyvalue_store_error_t error;
    if (written) *written = 0;
    if (!wasi_keyvalue_atomics_static_cas_new(borrow(bucket), &k, &cas, &error))
        return store_why(bucket->name, &error);
    yell_reply value = {0};
    for (int tries = 0; tries < UPDATE_TRIES; tries++) {
        plugin_option_list_u8_t current;
        wasi_keyvalue_atomics_borrow_cas_t seen = {cas.__handle};
        if (!wasi_keyvalue_atomics_method_cas_current(seen, &current, &error)) {
            wasi_keyvalue_atomics_cas_drop_own(cas);
            free(value.buf);
            return store_why(bucket->name, &error);
        }
        value.len = 0;
        int keep = change(current.is_some ? current.val.ptr : NULL, current.is_some ? current.val.len : 0,
                          context, &value);
        if (current.is_some) plugin_list_u8_free(&current.val);
        if (!keep) {
            wasi_keyvalue_atomics_cas_drop_own(cas);
            free(value.buf);
            return NULL;
        }
        plugin_list_u8_t v = borrowed_bytes(value.buf, value.len);
        wasi_keyvalue_atomics_cas_error_t failed;
        /* swap takes the handle, whatever it answers. */
        if (wasi_keyvalue_atomics_swap(cas, &v, &failed)) {
            free(value.buf);
            if (written) *written = 1;
            return NULL;
        }
        if (failed.tag != WASI_KEYVALUE_ATOMICS_CAS_ERROR_CAS_FAILED) {
            free(value.buf);
            return store_why(bucket->name, &failed.val.store_error);
        }
        cas = failed.val.cas_failed;
    }
    wasi_keyvalue_atomics_cas_drop_own(cas);
    free(value.buf);
    snprintf(state_why, sizeof state_why, "%s/%s: still contended after %d tries", bucket->name, key,
             UPDATE_TRIES);
    return state_why;
}

/* The NULL-terminated `strings` as a list the bindings borrow (its array
 * malloc'd: free it). */
static plugin_list_string_t borrowed_strings(const char *const *strings) {
    size_t count = 0;
    while (strings && strings[count]) count++;
    plugin_list_string_t list = {NULL, count};
    if (count) {
        list.ptr = malloc(count * sizeof *list.ptr);
        if (!list.ptr) yell_panic("yell-plugin: out of memory");
        for (size_t i = 0; i < count; i++) list.ptr[i] = borrowed(strings[i]);
    }
    return list;
}

static yell_metric define(const char *name, const char *help, yell_plugin_metrics_kind_t kind,
                          const char *const *labels, const double *buckets, size_t count) {
    yell_plugin_metrics_definition_t definition = {
        .name = borrowed(name),
        .help = borrowed(help),
        .kind = kind,
        .labels = borrowed_strings(labels),
        .buckets = {(double *)buckets, count},
    };
    yell_metric metric = yell_plugin_metrics_define(&definition);
    free(definition.labels.ptr);
    return metric;
}

yell_metric yell_counter(const char *name, const char *help, const char *const *labels) {
    return define(name, help, YELL_PLUGIN_METRICS_KIND_COUNTER, labels, NULL, 0);
}

yell_metric yell_gauge(const char *name, const char *help, const char *const *labels) {
    return define(name, help, YELL_PLUGIN_METRICS_KIND_GAUGE, labels, NULL, 0);
}

yell_metric yell_histogram(const char *name, const char *help, const char *const *labels,
                           const double *buckets, size_t count) {
    return define(name, help, YELL_PLUGIN_METRICS_KIND_HISTOGRAM, labels, buckets, count);
}

void yell_metric_add(yell_metric metric, const char *const *values, double amount) {
    plugin_list_string_t list = borrowed_strings(values);
    yell_plugin_metrics_add(metric, &list, amount);
    free(list.ptr);
}

void yell_metric_set(yell_metric metric, const char *const *values, double value) {
    plugin_list_string_t list = borrowed_strings(values);
    yell_plugin_metrics_set(metric, &list, value);
    free(list.ptr);
}

void yell_metric_observe(yell_metric metric, const char *const *values, double value) {
    plugin_list_string_t list = borrowed_strings(values);
    yell_plugin_metrics_observe(metric, &list, value);
    free(list.ptr);
}

#endif /* __wasm__ */
