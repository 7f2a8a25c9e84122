/* tally: a test plugin (C) that counts in the host's state store through
 * the SDK's wrappers, and publishes a metric of its own, so the wrappers
 * are proven against the real host (the same commands as tally-py and
 * tally-js):
 *   COUNT     adds 1 to the key `count` (atomics increment): the total
 *   ADD N     adds N to the key `sum` by compare-and-swap retries: the sum
 *   TOTAL     the value of `count` (0 when unset), read with get
 * Each counted line adds 1 to yell_plugin_lang_tally_lines_total{command}.
 * Config: bucket=NAME (default tally), which the operator grants.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yell_plugin.h"

static char *bucket_name;
static yell_metric lines;

const char *yell_setup(const yell_config *config) {
    static const char *const known[] = {"bucket", NULL};
    static const char *const labels[] = {"command", NULL};
    const char *error = yell_config_allow_only(config, known);
    if (error) return error;
    const char *name = yell_config_get(config, "bucket");
    bucket_name = strdup(name ? name : "tally");
    lines = yell_counter("lang_tally_lines", "Lines the tally test plugin counted, by command.", labels);
    return NULL;
}

/* What ADD adds, and the sum it wrote. */
struct addition {
    long long delta;
    char sum[32];
};

/* yell_state_update's change: the number there now plus the delta. */
static int add_to(const uint8_t *current, size_t len, void *context, yell_reply *out) {
    struct addition *addition = context;
    char text[32] = "0";
    if (current && len < sizeof text) {
        memcpy(text, current, len);
        text[len] = 0;
    }
    int n = snprintf(addition->sum, sizeof addition->sum, "%lld", strtoll(text, NULL, 10) + addition->delta);
    yell_write(out, addition->sum, (size_t)n);
    return 1;
}

static int is(const uint8_t *line, size_t len, const char *word) {
    return len == strlen(word) && memcmp(line, word, len) == 0;
}

int yell_transform(const uint8_t *line, size_t len, yell_reply *out) {
    yell_bucket bucket;
    const char *why = yell_bucket_open(bucket_name, &bucket);
    if (why) return yell_error(out, why);
    char text[64];
    if (is(line, len, "COUNT")) {
        int64_t total;
        why = yell_state_increment(&bucket, "count", 1, &total);
        if (!why) {
            static const char *const count[] = {"count", NULL};
            yell_metric_add(lines, count, 1);
            yell_push(out, text, (size_t)snprintf(text, sizeof text, "%" PRId64, total));
        }
    } else if (len > 4 && memcmp(line, "ADD ", 4) == 0 && len - 4 < 20) {
        char number[24];
        memcpy(number, line + 4, len - 4);
        number[len - 4] = 0;
        struct addition addition = {strtoll(number, NULL, 10), ""};
        why = yell_state_update(&bucket, "sum", add_to, &addition, NULL);
        if (!why) {
            static const char *const add[] = {"add", NULL};
            yell_metric_add(lines, add, 1);
            yell_push_str(out, addition.sum);
        }
    } else if (is(line, len, "TOTAL")) {
        uint8_t *value = NULL;
        size_t value_len = 0;
        why = yell_state_get(&bucket, "count", &value, &value_len);
        if (!why) yell_push(out, value ? (const char *)value : "0", value ? value_len : 1);
        free(value);
    } else {
        why = "expected COUNT, ADD N or TOTAL";
    }
    yell_bucket_close(&bucket);
    return why ? yell_error(out, why) : 0;
}
