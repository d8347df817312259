/* The one JSON writer (proxy/base/json.c): the escaping every JSON output relies on. */
#include "px_buf.h"
#include "px_json.h"
#include "tt.h"

static void test_str(void)
{
    struct px_buf b = {0};
    px_json_str(&b, NULL);
    CHECK_STR(b.data, "null");
    b.len = 0;
    px_json_str(&b, "a\"b\\c\n\x01 \x7f\xc3\xa9");
    /* controls escaped, DEL and UTF-8 copied */
    CHECK_STR(b.data, "\"a\\\"b\\\\c\\u000a\\u0001 \x7f\xc3\xa9\"");
    px_buf_free(&b);
}

static void test_ascii(void)
{
    char out[6];
    CHECK_INT(px_json_escape_byte('a', PX_JSON_ASCII, out), 1);
    CHECK_INT(px_json_escape_byte(0x7f, 0, out), 1);
    CHECK_INT(px_json_escape_byte(0x7f, PX_JSON_ASCII, out), 6);
    CHECK(memcmp(out, "\\u007f", 6) == 0);
    CHECK_INT(px_json_escape_byte(0xe9, PX_JSON_ASCII, out), 6);
    CHECK(memcmp(out, "\\u00e9", 6) == 0);
    CHECK_INT(px_json_escape_byte('"', PX_JSON_ASCII, out), 2);
    CHECK(memcmp(out, "\\\"", 2) == 0);
}

int main(void)
{
    test_str();
    test_ascii();
    return tt_done();
}
