/* `twofold reload [-c FILE | --admin ADDR] [--token TOKEN]`: asks the running instance to
 * reload through its admin endpoint (POST /reload), prints the outcome, and exits
 * 0 applied, 1 failed (or unreachable), 2 applied with some sites refused or kept.
 * With -c the admin address and token come from that config file (without checking its
 * certificate files: the running instance does that). The token may also come from
 * $TWOFOLD_ADMIN_TOKEN. */
#include "cli.h"
#include "px_buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define RELOAD_TIMEOUT_S 120 /* a reload retries half-written renewals for up to 30 s */

static int reload_usage(const char *msg, const char *arg)
{
    fprintf(stderr, "twofold reload: ");
    fprintf(stderr, msg, arg);
    fprintf(stderr, " (see twofold reload --help)\n");
    return CLI_USAGE;
}

struct reload_args {
    const char *config, *admin, *token;
    bool help;
};

static int parse(int argc, char **argv, struct reload_args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 2; i < argc; i++) {
        const char *f = argv[i];
        const char **dst = !strcmp(f, "-c") || !strcmp(f, "--config") ? &a->config
                           : !strcmp(f, "--admin")                    ? &a->admin
                           : !strcmp(f, "--token")                    ? &a->token
                                                                      : NULL;
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            a->help = true;
            continue;
        }
        if (!dst)
            return reload_usage("unknown option \"%s\"", f);
        if (i + 1 >= argc)
            return reload_usage("%s needs a value", f);
        *dst = argv[++i];
    }
    if (!a->help && !!a->config == !!a->admin)
        return reload_usage("%s", "give either -c FILE or --admin ADDR");
    return 0;
}

/* One POST /reload?format=text; the whole response into resp. */
static int post_reload(const struct px_addr *addr, const char *token, struct px_buf *resp)
{
    int fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {.tv_sec = RELOAD_TIMEOUT_S};
    if (fd < 0)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (const struct sockaddr *)&addr->ss, addr->len) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "POST /reload?format=text HTTP/1.1\r\nHost: %s\r\n%s%s%sContent-Length: "
                     "0\r\nConnection: close\r\n\r\n",
                     addr->text, token ? "Authorization: Bearer " : "", token ? token : "",
                     token ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof req || write(fd, req, (size_t)n) != n) {
        close(fd);
        return -EIO;
    }
    int rc = 0;
    for (ssize_t r = 1; r > 0;) {
        if (px_buf_reserve(resp, 4096) < 0) {
            rc = -ENOMEM;
            break;
        }
        r = read(fd, resp->data + resp->len, px_buf_room(resp));
        if (r > 0)
            resp->len += (size_t)r;
        else if (r < 0 && errno == EINTR)
            r = 1;
    }
    close(fd);
    if (resp->data)
        resp->data[resp->len] = '\0';
    return rc;
}

/* Prints the body and maps the outcome line to the exit code. */
static int report(const char *resp)
{
    int status = 0;
    if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1) {
        fprintf(stderr, "twofold reload: unexpected answer from the admin endpoint\n");
        return CLI_FAIL;
    }
    const char *body = strstr(resp, "\r\n\r\n");
    body = body ? body + 4 : "";
    fputs(body, status == 200 ? stdout : stderr);
    if (status == 401) {
        fprintf(stderr, "twofold reload: the admin endpoint wants a token (--token)\n");
        return CLI_FAIL;
    }
    if (!strncmp(body, "reload applied", 14))
        return CLI_OK;
    if (!strncmp(body, "reload partial", 14))
        return 2;
    return CLI_FAIL;
}

int cli_reload(int argc, char **argv)
{
    struct reload_args a;
    int rc = parse(argc, argv, &a);
    if (rc || a.help)
        return rc ? rc : cli_help(stdout, "reload");
    struct px_addr addr;
    const char *token = a.token ? a.token : getenv("TWOFOLD_ADMIN_TOKEN");
    char err[256];
    struct px_config *cfg = NULL;
    if (a.config) {
        struct px_config_errors errs = {0};
        if (px_config_load_file_ex(a.config, PX_CONFIG_NO_FILE_CHECKS, &cfg, &errs) != 0) {
            for (size_t i = 0; i < errs.n; i++)
                fprintf(stderr, "%s\n", errs.msgs[i]);
            px_config_errors_free(&errs);
            return CLI_FAIL;
        }
        px_config_errors_free(&errs);
        if (!cfg->admin_enabled) {
            fprintf(stderr, "twofold reload: %s has admin = off; use SIGHUP instead\n", a.config);
            px_config_free(cfg);
            return CLI_FAIL;
        }
        addr = cfg->admin;
        if (!token)
            token = cfg->admin_token;
    } else if (px_addr_parse(a.admin, &addr, err, sizeof err) != 0) {
        return reload_usage("--admin: %s", err);
    }
    struct px_buf resp = {0};
    rc = post_reload(&addr, token, &resp);
    if (rc != 0)
        fprintf(stderr, "twofold reload: cannot reach the admin endpoint at %s: %s\n", addr.text,
                strerror(-rc));
    else
        rc = report(resp.data ? resp.data : "");
    px_buf_free(&resp);
    px_config_free(cfg);
    return rc < 0 ? CLI_FAIL : rc;
}
