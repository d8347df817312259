#!/bin/sh
# certbot deploy hook for twofold: after a renewal, ask the running instance to reload
# and report what it did.
#
#   certbot certonly --cert-name NAME-rsa   --key-type rsa   ... \
#       --deploy-hook /usr/local/share/twofold/certbot-deploy-hook.sh
#   certbot certonly --cert-name NAME-ecdsa --key-type ecdsa ... \
#       --deploy-hook /usr/local/share/twofold/certbot-deploy-hook.sh
#
# certbot saves the hook in the lineage's renewal config, so every later
# `certbot renew` runs it once per renewed lineage, with RENEWED_LINEAGE and
# RENEWED_DOMAINS set.
#
# Settings (environment; defaults in brackets):
#   TWOFOLD_BIN       the twofold binary [twofold from PATH, else /usr/local/bin/twofold]
#   TWOFOLD_CONFIG    the running instance's config file [/etc/twofold/twofold.ini];
#                     `twofold reload -c` reads its admin address and token from it
#   TWOFOLD_HOOK_LOG  also append every run's outcome to this file [unset: no file]
#
# Exit status: the one of `twofold reload`: 0 applied; 1 failed or unreachable (nothing
# changed); 2 applied, but a site's change was refused by the compatibility guard or a
# site kept its previous certificates. certbot logs a non-zero status ("Hook
# 'deploy-hook' reported error code 2") and its own exit status stays 0, so alert on
# the log line, on twofold_reloads_total{outcome="partial"}, or on the hook log.
set -u

if [ -z "${TWOFOLD_BIN:-}" ]; then
    TWOFOLD_BIN=$(command -v twofold || echo /usr/local/bin/twofold)
fi
config=${TWOFOLD_CONFIG:-/etc/twofold/twofold.ini}

out=$("$TWOFOLD_BIN" reload -c "$config" 2>&1)
rc=$?

case $rc in
0) verdict="applied" ;;
2) verdict="applied with refusals: the previous certificates keep serving those sites" ;;
*) verdict="FAILED: nothing changed" ;;
esac
stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
summary="$stamp twofold deploy hook: lineage=${RENEWED_LINEAGE:-?} domains=${RENEWED_DOMAINS:-?} exit=$rc ($verdict)"

# certbot logs a hook's output (stderr as "error output"); the file is for monitoring.
if [ "$rc" -eq 0 ]; then
    printf '%s\n%s\n' "$summary" "$out"
else
    printf '%s\n%s\n' "$summary" "$out" >&2
fi
if [ -n "${TWOFOLD_HOOK_LOG:-}" ]; then
    printf '%s\n%s\n' "$summary" "$out" >>"$TWOFOLD_HOOK_LOG"
fi
exit "$rc"
