/* yell_test_host.c: the fake host of yell_test_host.h. It defines the
 * imports the bindings declare (which a component gets from the real host)
 * and drives the exports the SDK implements. */
#include "yell_test_host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"
#include "yell_plugin.h"

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

/* ---- State and metrics: the SDK's functions over a fake store ----------- */

#define MAX_BUCKETS 16
#define MAX_ENTRIES 1024
#define MAX_METRICS 64
#define MAX_SERIES 256
#define MAX_LABELS 8

static char *granted[MAX_BUCKETS];
static size_t granted_count;

static struct {
    char *bucket, *key;
    uint8_t *value;
    size_t len;
} entries[MAX_ENTRIES];
static size_t entry_count;

static char fake_why[512];

void yell_test_grant_bucket(const char *name) {
    if (granted_count == MAX_BUCKETS) abort();
    granted[granted_count++] = copy((const uint8_t *)name, strlen(name));
}

static int find_entry(const char *bucket, const char *key) {
    for (size_t i = 0; i < entry_count; i++)
        if (strcmp(entries[i].bucket, bucket) == 0 && strcmp(entries[i].key, key) == 0) return (int)i;
    return -1;
}

const uint8_t *yell_test_state_value(const char *bucket, const char *key, size_t *len) {
    int i = find_entry(bucket, key);
    if (i < 0) return NULL;
    *len = entries[i].len;
    return entries[i].value;
}

const char *yell_bucket_open(const char *name, yell_bucket *bucket) {
    snprintf(bucket->name, sizeof bucket->name, "%s", name);
    bucket->handle = -1;
    for (size_t i = 0; i < granted_count; i++) {
        if (strcmp(granted[i], name) == 0) {
            bucket->handle = (int32_t)i;
            return NULL;
        }
    }
    snprintf(fake_why, sizeof fake_why,
             "bucket %s: access denied (the operator grants buckets with --plugin-bucket)", name);
    return fake_why;
}

void yell_bucket_close(yell_bucket *bucket) { bucket->handle = -1; }

const char *yell_state_get(const yell_bucket *bucket, const char *key, uint8_t **value, size_t *len) {
    size_t found_len = 0;
    const uint8_t *found = yell_test_state_value(bucket->name, key, &found_len);
    *value = found ? (uint8_t *)copy(found, found_len) : NULL;
    *len = found ? found_len : 0;
    return NULL;
}

const char *yell_state_set(const yell_bucket *bucket, const char *key, const void *value, size_t len) {
    int i = find_entry(bucket->name, key);
    if (i < 0) {
        if (entry_count == MAX_ENTRIES) return "the fake store is full";
        i = (int)entry_count++;
        entries[i].bucket = copy((const uint8_t *)bucket->name, strlen(bucket->name));
        entries[i].key = copy((const uint8_t *)key, strlen(key));
    } else {
        free(entries[i].value);
    }
    entries[i].value = (uint8_t *)copy(value, len);
    entries[i].len = len;
    return NULL;
}

/* Expiry is not faked: the key is set and lasts. */
const char *yell_state_set_with_ttl(const yell_bucket *bucket, const char *key, const void *value,
                                    size_t len, uint64_t ttl_ms) {
    (void)ttl_ms;
    return yell_state_set(bucket, key, value, len);
}

const char *yell_state_expire(const yell_bucket *bucket, const char *key, uint64_t ttl_ms, int *was_set) {
    if (was_set) *was_set = find_entry(bucket->name, key) >= 0;
    if (ttl_ms == 0) return yell_state_delete(bucket, key);
    return NULL;
}

const char *yell_state_delete(const yell_bucket *bucket, const char *key) {
    int i = find_entry(bucket->name, key);
    if (i < 0) return NULL;
    free(entries[i].bucket);
    free(entries[i].key);
    free(entries[i].value);
    entries[i] = entries[--entry_count];
    return NULL;
}

const char *yell_state_exists(const yell_bucket *bucket, const char *key, int *exists) {
    *exists = find_entry(bucket->name, key) >= 0;
    return NULL;
}

const char *yell_state_increment(const yell_bucket *bucket, const char *key, int64_t delta, int64_t *total) {
    size_t len = 0;
    const uint8_t *found = yell_test_state_value(bucket->name, key, &len);
    char text[32] = "0";
    if (found) {
        if (len >= sizeof text) return "not a counter";
        memcpy(text, found, len);
        text[len] = 0;
    }
    char *end;
    long long now = strtoll(text, &end, 10);
    if (*end) {
        snprintf(fake_why, sizeof fake_why, "%s/%s is not a counter", bucket->name, key);
        return fake_why;
    }
    *total = now + delta;
    int n = snprintf(text, sizeof text, "%lld", (long long)*total);
    return yell_state_set(bucket, key, text, (size_t)n);
}

const char *yell_state_update(const yell_bucket *bucket, const char *key, yell_state_change change,
                              void *context, int *written) {
    size_t len = 0;
    const uint8_t *found = yell_test_state_value(bucket->name, key, &len);
    uint8_t *current = found ? (uint8_t *)copy(found, len) : NULL;
    yell_reply value = {0};
    int keep = change(current, len, context, &value);
    free(current);
    if (written) *written = keep;
    const char *why = keep ? yell_state_set(bucket, key, value.buf, value.len) : NULL;
    free(value.buf);
    return why;
}

static struct {
    char *name;
    int kind; /* 0 counter, 1 gauge, 2 histogram */
    size_t labels;
} metrics[MAX_METRICS];
static size_t metric_count;

static struct {
    size_t metric;
    char *values; /* the label values joined by '\n' */
    double value; /* a counter's or gauge's; a histogram's count */
} series[MAX_SERIES];
static size_t series_count;

static size_t count_strings(const char *const *strings) {
    size_t count = 0;
    while (strings && strings[count]) count++;
    return count;
}

static char *joined(const char *const *values) {
    size_t size = 1;
    for (size_t i = 0; values && values[i]; i++) size += strlen(values[i]) + 1;
    char *out = calloc(1, size);
    if (!out) abort();
    for (size_t i = 0; values && values[i]; i++) {
        if (i) strcat(out, "\n");
        strcat(out, values[i]);
    }
    return out;
}

static yell_metric fake_define(const char *name, int kind, const char *const *labels) {
    for (size_t i = 0; i < metric_count; i++) {
        if (strcmp(metrics[i].name, name) != 0) continue;
        if (metrics[i].kind != kind || metrics[i].labels != count_strings(labels)) {
            fprintf(stderr, "metric \"%s\": already defined otherwise (the host traps)\n", name);
            abort();
        }
        return (yell_metric)i;
    }
    if (metric_count == MAX_METRICS) abort();
    metrics[metric_count].name = copy((const uint8_t *)name, strlen(name));
    metrics[metric_count].kind = kind;
    metrics[metric_count].labels = count_strings(labels);
    return (yell_metric)metric_count++;
}

yell_metric yell_counter(const char *name, const char *help, const char *const *labels) {
    (void)help;
    return fake_define(name, 0, labels);
}

yell_metric yell_gauge(const char *name, const char *help, const char *const *labels) {
    (void)help;
    return fake_define(name, 1, labels);
}

yell_metric yell_histogram(const char *name, const char *help, const char *const *labels,
                           const double *buckets, size_t count) {
    (void)help, (void)buckets, (void)count;
    return fake_define(name, 2, labels);
}

static void fake_record(yell_metric metric, const char *const *values, double value, int kind, int set) {
    if (metric >= metric_count || metrics[metric].kind != kind ||
        metrics[metric].labels != count_strings(values)) {
        fprintf(stderr, "metric %u: recorded as it was not defined (the host traps)\n", metric);
        abort();
    }
    if (kind == 0 && !(value >= 0)) return; /* the host records nothing, and warns */
    char *key = joined(values);
    for (size_t i = 0; i < series_count; i++) {
        if (series[i].metric == metric && strcmp(series[i].values, key) == 0) {
            series[i].value = kind == 2 ? series[i].value + 1 : set ? value : series[i].value + value;
            free(key);
            return;
        }
    }
    if (series_count == MAX_SERIES) abort();
    series[series_count].metric = metric;
    series[series_count].values = key;
    series[series_count].value = kind == 2 ? 1 : value;
    series_count++;
}

void yell_metric_add(yell_metric metric, const char *const *values, double amount) {
    int kind = metric < metric_count && metrics[metric].kind == 1 ? 1 : 0;
    fake_record(metric, values, amount, kind, 0);
}

void yell_metric_set(yell_metric metric, const char *const *values, double value) {
    fake_record(metric, values, value, 1, 1);
}

void yell_metric_observe(yell_metric metric, const char *const *values, double value) {
    fake_record(metric, values, value, 2, 0);
}

double yell_test_metric_value(const char *name, const char *const *values) {
    char *key = joined(values);
    double found = -1;
    for (size_t i = 0; i < series_count; i++) {
        if (strcmp(metrics[series[i].metric].name, name) == 0 && strcmp(series[i].values, key) == 0)
            found = series[i].value;
    }
    free(key);
    return found;
}
