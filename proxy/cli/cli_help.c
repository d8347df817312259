/* Usage texts and the version line. */
#include "cli.h"

#include <llhttp.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

/* Where the README's install steps put conf/twofold.ini. */
#define EXAMPLE_CONFIG "/usr/local/share/twofold/twofold.ini"

static const char general[] =
    "usage: twofold -c FILE\n"
    "       twofold --listen ADDR --upstream ADDR --cert-dir DIR [--default-name NAME]\n"
    "               [--admin ADDR|off] [--workers N] [--alpn \"h2 http/1.1\"]\n"
    "       twofold check (-c FILE | sidecar flags) [--json]\n"
    "       twofold explain (-c FILE | --cert-dir DIR) [--sni NAME]\n"
    "               (--profile NAME | --clienthello HEX)\n"
    "       twofold reload (-c FILE | --admin ADDR) [--token TOKEN]\n"
    "       twofold help [check|explain|reload|config]\n"
    "       twofold --version\n"
    "\n"
    "A TLS-terminating HTTP/1.1 and HTTP/2 reverse proxy that serves each client the RSA or\n"
    "ECDSA certificate it can use.\n"
    "\n"
    "  -c, --config FILE     run with this configuration; annotated example:\n"
    "                        " EXAMPLE_CONFIG " (conf/twofold.ini in the\n"
    "                        source tree); every key: twofold help config\n"
    "  --listen ADDR         sidecar mode: accept TLS on ADDR (host:port or [v6]:port)\n"
    "  --upstream ADDR       sidecar mode: send requests to this server\n"
    "  --cert-dir DIR        sidecar mode: serve every certificate and key in DIR\n"
    "  --default-name NAME   sidecar mode: certificate for clients without (known) SNI\n"
    "  --admin ADDR|off      sidecar mode: admin endpoint (default: off)\n"
    "  --workers N           sidecar mode: worker threads (default: one per CPU)\n"
    "  --alpn LIST           sidecar mode: protocols offered, \"h2 http/1.1\" adds HTTP/2\n"
    "                        (default: http/1.1)\n"
    "  --version             print the version and the library versions\n"
    "  -h, --help            print this help (twofold help COMMAND for a command)\n"
    "\n"
    "Signals: SIGTERM/SIGINT drain and exit (a second one exits at once); SIGHUP\n"
    "re-reads the configuration and reloads the certificates; SIGUSR1 reopens the\n"
    "access log.\n"
    "\n"
    "Exit codes: 0 ok; 1 errors found (configuration, certificates) or a runtime\n"
    "failure; 2 usage error; 3 (check) a client profile cannot connect to a site that\n"
    "does not declare it. twofold help COMMAND gives each command's.\n";

static const char check_help[] =
    "usage: twofold check -c FILE [--json]\n"
    "       twofold check --listen ADDR --upstream ADDR --cert-dir DIR [...] [--json]\n"
    "\n"
    "Loads the configuration, builds the certificate snapshot exactly as the server\n"
    "would, and runs a real in-memory handshake for every site and client profile.\n"
    "Prints the findings (errors, warnings, notices) and the coverage table: which\n"
    "clients get which certificate, and which cannot connect.\n"
    "\n"
    "  --json   print {\"sites\":[...],\"findings\":[...],\"ok\":bool} instead of text;\n"
    "           configuration errors add \"config_errors\":[\"FILE:LINE: message\", ...]\n"
    "\n"
    "Exit codes (a deploy hook can gate on them):\n"
    "  0  no errors (warnings allowed), and every client profile connects to every site\n"
    "     or fails as the site's configuration declares\n"
    "  1  a configuration error, an error-level finding, or a snapshot that cannot be\n"
    "     built\n"
    "  2  usage error\n"
    "  3  no errors, but a client profile cannot connect to a site whose configuration\n"
    "     does not declare that gap. Declared are: the profiles a site lists in\n"
    "     accept_profiles_lost = NAME..., and on a site that serves only the key types\n"
    "     its require names (require = ecdsa on an ECDSA-only site), the profiles\n"
    "     refused for want of a usable certificate.\n"
    "\n"
    "Built-in client profiles:\n";

static const char explain_help[] =
    "usage: twofold explain (-c FILE | --cert-dir DIR) [--sni NAME]\n"
    "                       (--profile NAME | --clienthello HEX)\n"
    "\n"
    "Shows which certificate twofold would serve to one client, and why every other\n"
    "candidate was or was not usable. Sidecar mode needs only --cert-dir (and\n"
    "--default-name where it matters); --listen and --upstream may be left out.\n"
    "\n"
    "  --sni NAME          the server name the client asks for (overrides the one in\n"
    "                      the ClientHello or the profile's default)\n"
    "  --profile NAME      a built-in client profile; an unknown name lists them all\n"
    "  --clienthello HEX   a captured ClientHello, as hex (a TLS record or a bare\n"
    "                      handshake message; blanks and colons are ignored), e.g. a\n"
    "                      \"hello\" value of the admin's GET /debug/failed-hellos\n"
    "\n"
    "Exit codes: 0 explained; 1 configuration or snapshot errors, unknown profile,\n"
    "unparsable ClientHello; 2 usage error.\n";

static const char reload_help[] =
    "usage: twofold reload -c FILE [--token TOKEN]\n"
    "       twofold reload --admin ADDR [--token TOKEN]\n"
    "\n"
    "Asks the running instance to re-read its configuration and reload its\n"
    "certificates (POST /reload on its admin endpoint, whose address and token come\n"
    "from FILE or the flags; the token may also be in $TWOFOLD_ADMIN_TOKEN), waits for\n"
    "the outcome and prints it: one line per site that changed, was refused by the\n"
    "compatibility guard, or kept its previous certificates, and every finding. Meant\n"
    "for renewal deploy hooks. Live connections are never touched.\n"
    "\n"
    "Exit codes: 0 applied; 1 failed (nothing changed) or the instance is unreachable;\n"
    "2 applied, but some sites were refused or kept their previous certificates (or a\n"
    "usage error).\n";

/* "  name                 description", the description wrapped at 80 columns. */
static void print_profile(FILE *f, const struct cs_profile *p)
{
    const int indent = 23, width = 80 - indent;
    const char *t = p->desc;
    fprintf(f, "  %-20s ", p->name);
    for (bool first = true; *t; first = false) {
        int len = (int)strlen(t), cut = len;
        if (len > width) {
            cut = width;
            while (cut > 0 && t[cut] != ' ')
                cut--;
            if (cut == 0)
                cut = width;
        }
        fprintf(f, "%*s%.*s\n", first ? 0 : indent, "", cut, t);
        t += cut;
        t += strspn(t, " ");
    }
}

/* Every key of the config table, from the table itself. */
static void config_help(FILE *f)
{
    struct px_config_key_info k;
    const char *last = "";
    fprintf(f,
            "Configuration keys (annotated example: %s, conf/twofold.ini in the\n"
            "source tree):\n",
            EXAMPLE_CONFIG);
    for (size_t i = 0; px_config_key_info(i, &k) == 0; i++) {
        if (strcmp(k.section, last) != 0)
            fprintf(f, "\n[%s%s]\n", k.section, strcmp(k.section, "proxy") ? " NAME" : "");
        last = k.section;
        fprintf(f, "  %-26s %s%s\n", k.key, k.type, k.repeatable ? ", repeatable" : "");
        fprintf(f, "  %-26s %s", "", k.doc);
        if (k.def)
            fprintf(f, " (default: %s)", k.def);
        fprintf(f, "\n");
    }
}

int cli_help(FILE *f, const char *cmd)
{
    if (!cmd)
        fputs(general, f);
    else if (strcmp(cmd, "check") == 0) {
        fputs(check_help, f);
        for (size_t i = 0; i < cs_n_profiles; i++)
            print_profile(f, &cs_profiles[i]);
    } else if (strcmp(cmd, "explain") == 0)
        fputs(explain_help, f);
    else if (strcmp(cmd, "reload") == 0)
        fputs(reload_help, f);
    else if (strcmp(cmd, "config") == 0)
        config_help(f);
    else {
        fprintf(stderr, "twofold help: unknown command \"%s\" (check, explain, reload, config)\n",
                cmd);
        return CLI_USAGE;
    }
    return CLI_OK;
}

void cli_version(FILE *f)
{
    fprintf(f, "twofold %s (OpenSSL %s, libuv %s, llhttp %d.%d.%d)\n", TWOFOLD_VERSION,
            OpenSSL_version(OPENSSL_VERSION_STRING), uv_version_string(), LLHTTP_VERSION_MAJOR,
            LLHTTP_VERSION_MINOR, LLHTTP_VERSION_PATCH);
}
