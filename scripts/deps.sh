#!/usr/bin/env bash
# Installs every Debian 12 package twofold needs to build, test and benchmark.
# Usage: scripts/deps.sh [build|test]   (default: test, which is a superset of build)
set -euo pipefail
what=${1:-test}
build_pkgs="build-essential cmake pkg-config libssl-dev libuv1-dev libinih-dev node-llhttp
  libnghttp2-dev
  openssl curl python3"
test_pkgs="gnutls-bin testssl.sh clang libclang-rt-14-dev procps iproute2 slowhttptest pebble
  certbot python3-yaml haproxy nginx sslscan nghttp2-client python3-h2 librsvg2-bin"
pkgs=$build_pkgs
[ "$what" = test ] && pkgs="$build_pkgs $test_pkgs"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The peers (haproxy, nginx) are test tools here, never system services: a temporary
  # policy-rc.d (exit 101) keeps Debian's maintainer scripts from starting them on :80.
  prc=/usr/sbin/policy-rc.d
  own_prc=0
  if [ ! -e "$prc" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$prc" && chmod 0755 "$prc" && own_prc=1
  fi
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null || rc=$?
  [ "$own_prc" = 1 ] && rm -f "$prc"
  [ "${rc:-0}" = 0 ] || exit "$rc"
fi
