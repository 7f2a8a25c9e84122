/* The C SDK natively: the `features` and `tally` test plugins and the uppercase plugin,
 * their own sources, through the SDK's batch entry with the fake host of
 * yell_test_host.c. Built and run by scripts/test-c-sdk.sh (`just test`);
 * each check prints `ok NAME`, and a failed one `not ok NAME` and exit 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yell_test_host.h"

static int failed;

static void check(const char *name, int passed) {
    printf("%s %s\n", passed ? "ok" : "not ok", name);
    if (!passed) failed = 1;
}

static int takes(char *got, const char *want) {
    int same = got != NULL && strcmp(got, want) == 0;
    if (!same) fprintf(stderr, "  got %s%s%s, want \"%s\"\n", got ? "\"" : "", got ? got : "NULL", got ? "\"" : "", want);
    free(got);
    return same;
}

int main(void) {
#ifdef YELL_TEST_UPPERCASE
    check("uppercase: no configuration needed", yell_test_start(NULL) == NULL);
    check("uppercase: a line", takes(yell_test_line(1, "caf\xc3\xa9 ok"), "CAF\xc3\xa9 OK\n"));
    check("uppercase: no greeting", takes(yell_test_opened(1), ""));
#elif defined(YELL_TEST_TALLY)
    check("tally: configured", yell_test_start(NULL) == NULL);
    check("tally: an ungranted bucket refuses the line",
          yell_test_line(1, "COUNT") == NULL && strstr(yell_test_error(), "access denied"));
    yell_test_grant_bucket("tally");
    check("tally: COUNT increments", takes(yell_test_line(1, "COUNT"), "1\n") &&
                                         takes(yell_test_line(1, "COUNT"), "2\n"));
    check("tally: ADD updates by compare-and-swap", takes(yell_test_line(1, "ADD 5"), "5\n") &&
                                                       takes(yell_test_line(1, "ADD -2"), "3\n"));
    check("tally: TOTAL reads", takes(yell_test_line(1, "TOTAL"), "2\n"));
    size_t len = 0;
    const uint8_t *sum = yell_test_state_value("tally", "sum", &len);
    check("tally: the store holds decimal text", sum && len == 1 && sum[0] == '3');
    const char *count[] = {"count", NULL};
    const char *add[] = {"add", NULL};
    check("tally: its metric counted each command", yell_test_metric_value("lang_tally_lines", count) == 2 &&
                                                       yell_test_metric_value("lang_tally_lines", add) == 2);
#else
    const char *refused[] = {"repeat", "101", NULL};
    char *message = yell_test_start(refused);
    check("features: a configuration refused with its message",
          message && strstr(message, "101 is not in 0..=100"));
    free(message);

    const char *config[] = {"prefix", ">> ", "greet", "true", NULL};
    check("features: a configuration taken", yell_test_start(config) == NULL);
    yell_test_set_peer(7, "203.0.113.9:4000", "127.0.0.1:1234");
    check("features: a greeting with the peer", takes(yell_test_opened(7), "hello 203.0.113.9:4000\n"));
    check("features: an echo with the prefix", takes(yell_test_line(7, "hi"), ">> hi\n"));
    check("features: a line split in words", takes(yell_test_line(7, "split a b"), "a\nb\n"));
    check("features: a dropped line", takes(yell_test_line(7, "drop it"), ""));
    check("features: a refused line and its message",
          yell_test_line(7, "fail too loud") == NULL &&
              strcmp(yell_test_error(), "failed on purpose: too loud") == 0);
    check("features: what a failed line pushed is discarded",
          yell_test_line(7, "partial") == NULL && strcmp(yell_test_error(), "partial failure") == 0);
    check("features: the peer through connection.info",
          takes(yell_test_line(7, "peer"), "203.0.113.9:4000 -> 127.0.0.1:1234\n"));
    check("features: a log line kept", takes(yell_test_line(7, "log hello"), "logged\n") &&
                                           yell_test_log_count() == 1 &&
                                           strcmp(yell_test_log(0), "info: conn 7 says: hello") == 0);
    check("features: last words", takes(yell_test_closed(7), "bye\n"));
#endif
    return failed;
}
