/* JSON string escaping (px_json.h). */
#include "px_json.h"

#include <string.h>

size_t px_json_escape_byte(unsigned char c, unsigned flags, char out[6])
{
    static const char hex[] = "0123456789abcdef";
    if (c == '"' || c == '\\') {
        out[0] = '\\';
        out[1] = (char)c;
        return 2;
    }
    if (c < 0x20 || ((flags & PX_JSON_ASCII) && c > 0x7e)) {
        memcpy(out, "\\u00", 4);
        out[4] = hex[c >> 4];
        out[5] = hex[c & 15];
        return 6;
    }
    out[0] = (char)c;
    return 1;
}

void px_json_str(struct px_buf *b, const char *s)
{
    if (!s) {
        px_buf_append(b, "null", 4);
        return;
    }
    px_buf_append(b, "\"", 1);
    for (; *s; s++) {
        char tmp[6];
        size_t n = px_json_escape_byte((unsigned char)*s, 0, tmp);
        px_buf_append(b, tmp, n);
    }
    px_buf_append(b, "\"", 1);
}
