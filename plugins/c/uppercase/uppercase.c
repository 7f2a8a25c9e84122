/* uppercase: every line comes back in upper case. Only ASCII letters change;
 * every other byte, UTF-8 or not, passes through as it is. */
#include "yell_plugin.h"

int yell_transform(const uint8_t *line, size_t len, yell_reply *out) {
    uint8_t *dst = yell_line_begin(out, len);
    for (size_t i = 0; i < len; i++) {
        uint8_t c = line[i];
        dst[i] = (uint8_t)(c - 'a') < 26 ? c - ('a' - 'A') : c;
    }
    yell_line_end(out, len);
    return 0;
}
