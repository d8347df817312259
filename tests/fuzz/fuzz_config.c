/* Fuzz target: configuration loading (px_config.h), the inih reader, the key table and the
 * cross checks.
 *
 * The loader reads a file by path, so the input goes into a memory file (memfd) named
 * through /proc/self/fd: nothing touches the disk. File-existence checks are skipped
 * (PX_CONFIG_NO_FILE_CHECKS), so paths named in the input are never looked up.
 *
 * Properties (a broken one aborts): the load never crashes or leaks; it either returns
 * 0 with a config and no message, or a negative value with no config and at least one
 * message; a loaded config has what the server relies on (a listener, a site, an
 * upstream; every site's tag names an upstream); loading the same bytes twice gives the
 * same messages.
 */
#define _GNU_SOURCE 1 /* memfd_create */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "px_config.h"

/* What a successful load guarantees to the server (config_check.c). */
static void check_loaded(const struct px_config *c)
{
    FUZZ_CHECK(c->n_listeners > 0 && c->certs.n_sites > 0 && c->n_upstreams > 0);
    FUZZ_CHECK(c->workers > 0 && c->path != NULL);
    for (size_t i = 0; i < c->n_upstreams; i++)
        FUZZ_CHECK(c->upstreams[i].n_servers > 0);
    for (size_t i = 0; i < c->certs.n_sites; i++) {
        const struct cs_site_conf *s = &c->certs.sites[i];
        FUZZ_CHECK(s->tag >= 0 && (size_t)s->tag < c->n_upstreams);
        FUZZ_CHECK(s->n_certs + s->n_cert_dirs > 0 && s->name != NULL);
    }
}

/* errs arrives holding one earlier message: the loader appends to what is there and must
 * leave it alone. (Starting from an empty list found a NULL + 0 in config.c's
 * sort_errors, since fixed; the empty case is covered by the unit tests.) */
static int load(const char *path, struct px_config_errors *errs)
{
    struct px_config *cfg = NULL;
    errs->msgs = malloc(sizeof(*errs->msgs));
    FUZZ_CHECK(errs->msgs && (errs->msgs[0] = strdup("earlier")) != NULL);
    errs->n = errs->cap = 1;
    int rc = px_config_load_file_ex(path, PX_CONFIG_NO_FILE_CHECKS, &cfg, errs);
    FUZZ_CHECK(strcmp(errs->msgs[0], "earlier") == 0);
    if (rc == 0) {
        FUZZ_CHECK(cfg != NULL && errs->n == 1);
        check_loaded(cfg);
    } else {
        FUZZ_CHECK(rc < 0 && cfg == NULL && errs->n > 1);
    }
    for (size_t i = 0; i < errs->n; i++)
        FUZZ_CHECK(errs->msgs[i] != NULL);
    px_config_free(cfg);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz-config", 0);
    FUZZ_CHECK(fd >= 0);
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        FUZZ_CHECK(w > 0);
        off += (size_t)w;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);

    struct px_config_errors a = {0}, b = {0};
    int rc1 = load(path, &a);
    int rc2 = load(path, &b);
    FUZZ_CHECK(rc1 == rc2 && a.n == b.n);
    for (size_t i = 0; i < a.n; i++)
        FUZZ_CHECK(strcmp(a.msgs[i], b.msgs[i]) == 0);
    px_config_errors_free(&a);
    px_config_errors_free(&b);
    close(fd);
    return 0;
}
