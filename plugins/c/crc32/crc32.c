/* crc32: answers each line with its CRC-32 (IEEE 802.3, as zlib's crc32()
 * and Python's zlib.crc32), eight lowercase hex digits, computed over the
 * line's bytes without the line ending. What C is good at: a byte-level
 * loop over raw bytes (slicing-by-8: eight bytes per step, no allocation).
 *
 * Configuration:
 *   echo=true    append a tab and the line itself: "1c291ca3\thello"
 *   max=N        refuse lines longer than N bytes (a per-line error); 0: no limit
 */
#include "yell_plugin.h"

static uint32_t table[8][256];
static int echo;
static long max_len;

static void make_tables(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++)
        for (int t = 1; t < 8; t++) table[t][n] = table[0][table[t - 1][n] & 0xff] ^ (table[t - 1][n] >> 8);
}

static uint32_t crc32(const uint8_t *p, size_t len) {
    uint32_t c = 0xFFFFFFFFu;
    for (; len >= 8; p += 8, len -= 8) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4); /* wasm is little-endian; unaligned loads are fine */
        memcpy(&hi, p + 4, 4);
        lo ^= c;
        c = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^ table[5][(lo >> 16) & 0xff] ^
            table[4][lo >> 24] ^ table[3][hi & 0xff] ^ table[2][(hi >> 8) & 0xff] ^
            table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
    }
    while (len--) c = table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

const char *yell_setup(const yell_config *config) {
    static const char *const known[] = {"echo", "max", NULL};
    const char *error;
    if ((error = yell_config_allow_only(config, known))) return error;
    if ((error = yell_config_bool(config, "echo", 0, &echo))) return error;
    if ((error = yell_config_long(config, "max", 0, &max_len))) return error;
    if (max_len < 0) return "config `max`: must be 0 (no limit) or more";
    make_tables();
    return NULL;
}

int yell_transform(const uint8_t *line, size_t len, yell_reply *out) {
    if (max_len && len > (size_t)max_len) return yell_error(out, "line longer than max");
    static const char hex[] = "0123456789abcdef";
    uint32_t c = crc32(line, len);
    uint8_t *dst = yell_line_begin(out, 9 + (echo ? len : 0));
    for (int i = 0; i < 8; i++) dst[i] = (uint8_t)hex[(c >> (28 - 4 * i)) & 0xf];
    size_t n = 8;
    if (echo) {
        dst[n++] = '\t';
        memcpy(dst + n, line, len);
        n += len;
    }
    yell_line_end(out, n);
    return 0;
}
