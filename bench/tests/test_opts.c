/* twofold-bench option parsing: loopback-only targets, profile mixes, mode rules, requests. */
#include <string.h>

#include "tb.h"
#include "tt.h"

static int parse(struct tb_opts *o, char *err, size_t errlen, int argc, char **argv)
{
    return tb_opts_parse(o, argc, argv, err, errlen);
}

static void test_target(void)
{
    struct sockaddr_storage ss;
    char err[256];
    CHECK_INT(tb_target_parse("127.0.0.1:8443", &ss, err, sizeof(err)), 0);
    CHECK_INT(ss.ss_family, AF_INET);
    CHECK_INT(tb_target_parse("127.1.2.3:1", &ss, err, sizeof(err)), 0);
    CHECK_INT(tb_target_parse("[::1]:443", &ss, err, sizeof(err)), 0);
    CHECK_INT(ss.ss_family, AF_INET6);
    CHECK(tb_target_parse("10.0.0.1:443", &ss, err, sizeof(err)) < 0);
    CHECK_CONTAINS(err, "loopback");
    CHECK(tb_target_parse("[2001:db8::1]:443", &ss, err, sizeof(err)) < 0);
    CHECK(tb_target_parse("localhost:443", &ss, err, sizeof(err)) < 0);
    CHECK(tb_target_parse("127.0.0.1:0", &ss, err, sizeof(err)) < 0);
    CHECK(tb_target_parse("127.0.0.1:70000", &ss, err, sizeof(err)) < 0);
    CHECK(tb_target_parse("127.0.0.1", &ss, err, sizeof(err)) < 0);
}

static void test_mix(void)
{
    struct tb_mix_item mix[TB_MAX_MIX];
    size_t n = 0;
    char err[256];
    CHECK_INT(tb_mix_parse("modern-tls13:90,tls12-rsa-only:10", mix, &n, err, sizeof(err)), 0);
    CHECK_INT(n, 2);
    CHECK_STR(mix[0].profile->name, "modern-tls13");
    CHECK_INT(mix[0].weight, 90);
    CHECK_INT(mix[1].weight, 10);
    CHECK_INT(tb_mix_parse("no-sni", mix, &n, err, sizeof(err)), 0);
    CHECK_INT(n, 1);
    CHECK_INT(mix[0].weight, 1);
    CHECK(tb_mix_parse("no-such-profile:3", mix, &n, err, sizeof(err)) < 0);
    CHECK_CONTAINS(err, "no-such-profile");
    CHECK(tb_mix_parse("modern-tls13:0", mix, &n, err, sizeof(err)) < 0);
    CHECK(tb_mix_parse("modern-tls13:x", mix, &n, err, sizeof(err)) < 0);
}

static void test_opts(void)
{
    struct tb_opts o;
    char err[256];
    char *a1[] = {"tb",         "--target", "127.0.0.1:9", "--sni",     "a.test,b.test",
                  "--requests", "200",      "--mode",      "keepalive", "--pipeline",
                  "4",          "--json"};
    CHECK_INT(parse(&o, err, sizeof(err), 12, a1), 0);
    CHECK_INT(o.n_sni, 2);
    CHECK_INT(o.requests, 200);
    CHECK_INT(o.pipeline, 4);
    CHECK(o.json);
    CHECK(o.duration_s == 60); /* --requests alone is bounded by 60 s */
    CHECK_INT(o.n_mix, 1);
    CHECK_STR(o.mix[0].profile->name, "openssl3-default");
    CHECK_CONTAINS(o.req[1].keep, "Host: b.test\r\n");
    CHECK_CONTAINS(o.req[0].close, "Connection: close\r\n");
    CHECK(strstr(o.req[0].keep, "Connection") == NULL);
    CHECK(strncmp(o.req[0].keep, "GET / HTTP/1.1\r\n", 16) == 0);
    tb_opts_free(&o);

    char *a2[] = {"tb", "--target", "127.0.0.1:9", "--host", "h.test", "--path", "/x?y=1"};
    CHECK_INT(parse(&o, err, sizeof(err), 7, a2), 0);
    CHECK_CONTAINS(o.req[0].keep, "GET /x?y=1 HTTP/1.1\r\nHost: h.test\r\n");
    CHECK(o.duration_s == 10);
    CHECK_INT(o.requests_per_conn, 1); /* handshake mode: one request per connection */
    tb_opts_free(&o);

    char *a3[] = {"tb", "--target", "127.0.0.1:9", "--pipeline", "4"};
    CHECK(parse(&o, err, sizeof(err), 5, a3) < 0);
    CHECK_CONTAINS(err, "keepalive");
    tb_opts_free(&o);
    char *a4[] = {"tb", "--sni", "x"};
    CHECK(parse(&o, err, sizeof(err), 3, a4) < 0);
    CHECK_CONTAINS(err, "--target");
    tb_opts_free(&o);
    char *a5[] = {"tb", "--target", "192.168.1.1:9"};
    CHECK(parse(&o, err, sizeof(err), 3, a5) < 0);
    tb_opts_free(&o);
    char *a6[] = {"tb", "--target", "127.0.0.1:9", "--path", "/a b"};
    CHECK(parse(&o, err, sizeof(err), 5, a6) < 0);
    tb_opts_free(&o);
    char *a7[] = {"tb", "--target", "127.0.0.1:9", "--profile", "a,b"};
    CHECK(parse(&o, err, sizeof(err), 5, a7) < 0);
    tb_opts_free(&o);
}

int main(void)
{
    test_target();
    test_mix();
    test_opts();
    return tt_done();
}
