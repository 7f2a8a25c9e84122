/* yell_test_host.h: unit tests of a C plugin, natively (gcc or clang for
 * this machine, no wasm build). The plugin's own sources, the SDK
 * (yell_plugin.c) and the bindings (../bindings/plugin.c) are compiled
 * with yell_test_host.c, which answers the host's imports: what the plugin
 * logs is kept, a connection's addresses are what the test set, state goes
 * to an in-memory store and metrics are kept for the test to read. Lines
 * go through the SDK's own batch entry, the code the component runs.
 *
 *     #include "yell_test_host.h"
 *
 *     int main(void) {
 *         yell_test_start(NULL);
 *         char *reply = yell_test_line(1, "hi");   // "HI\n", or NULL
 *         ...
 *     }
 */
#ifndef YELL_TEST_HOST_H
#define YELL_TEST_HOST_H

#include <stddef.h>
#include <stdint.h>

/* Loads the plugin (its init) with the configuration `pairs`: key, value,
 * key, value, ..., NULL (or NULL for none). Returns NULL, or the message
 * the plugin refused its configuration with (to free). */
char *yell_test_start(const char *const *pairs);

/* What connection_info answers for connection `conn`. */
void yell_test_set_peer(uint64_t conn, const char *peer, const char *local);

/* One line (no '\n') on connection `conn`: its reply lines, each ended by
 * '\n' (to free); NULL when the plugin refused it, its message then in
 * yell_test_error(). Aborts if the reply breaks the contract. */
char *yell_test_line(uint64_t conn, const char *line);

/* The message of the last refused line. */
const char *yell_test_error(void);

/* A connection opens / closes: its greeting / last words (to free). */
char *yell_test_opened(uint64_t conn);
char *yell_test_closed(uint64_t conn);

/* State: lets the plugin open bucket `name` (as --plugin-bucket does), and
 * what `key` of `bucket` holds (NULL when unset; *len set otherwise). */
void yell_test_grant_bucket(const char *name);
const uint8_t *yell_test_state_value(const char *bucket, const char *key, size_t *len);

/* Metrics: the value of counter or gauge `name` for the label `values`
 * (NULL-terminated; NULL for none), or a histogram's count of
 * observations; -1 when nothing was recorded. */
double yell_test_metric_value(const char *name, const char *const *values);

/* The log lines written so far ("info: message"), and how many. */
size_t yell_test_log_count(void);
const char *yell_test_log(size_t index);

#endif
