#!/usr/bin/env bash
# The README's demo command: installs packages, builds, generates a demo CA with an RSA and
# an ECDSA certificate for the demo names, starts a demo upstream on 127.0.0.1:8080 and
# runs twofold on conf/demo.ini in the foreground (Ctrl-C stops both).
# DEMO_SECONDS=N stops the demo by itself after N seconds (used by the test suite).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh build
bash scripts/build.sh build >/dev/null
mkdir -p demo/certs
STEM=demo EXT=pem bash tests/fixtures/gen_certs.sh demo/certs demo.test www.demo.test >/dev/null
STEM=apps EXT=pem bash tests/fixtures/gen_certs.sh demo/certs '*.apps.demo.test' >/dev/null
python3 tests/upstream/upstream.py --listen 127.0.0.1:8080 >demo/upstream.log 2>&1 &
upstream=$!
proxy=""
cleanup() {
  [ -n "$proxy" ] && kill "$proxy" 2>/dev/null && wait "$proxy" 2>/dev/null
  kill "$upstream" 2>/dev/null || true
  wait "$upstream" 2>/dev/null || true
}
trap cleanup EXIT INT TERM
./build/proxy/twofold check -c conf/demo.ini
cat <<TXT

twofold demo: https://demo.test:8443 -> upstream 127.0.0.1:8080 (admin on 127.0.0.1:9901)
Try, in another terminal:
  curl --cacert demo/certs/ca.crt --resolve demo.test:8443:127.0.0.1 https://demo.test:8443/echo-headers
  curl --cacert demo/certs/ca.crt --resolve demo.test:8443:127.0.0.1 --tls-max 1.2 --ciphers ECDHE-RSA-AES128-GCM-SHA256 -v https://demo.test:8443/echo-headers 2>&1 | grep 'SSL connection'
Stop with Ctrl-C.

TXT
./build/proxy/twofold -c conf/demo.ini &
proxy=$!
if [ -n "${DEMO_SECONDS:-}" ]; then
  sleep "$DEMO_SECONDS"
  kill -TERM "$proxy"
fi
wait "$proxy"
rc=$?
proxy=""
exit $rc
