#!/bin/bash
# Writes PEM seed inputs for fuzz_pem into DIR: certificates with freshly generated,
# test-only keys (never committed). Each seed is "CERT-FILE\n#key\nKEY-FILE" or a bundle.
# Usage: gen_pem_seeds.sh DIR
set -euo pipefail
out=${1:?usage: gen_pem_seeds.sh DIR}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

ossl() { openssl "$@" 2>/dev/null; }
key() { # NAME ALG-ARGS...
    local n=$1; shift
    ossl genpkey "$@" -out "$n.key"
}
selfsign() { # NAME CN
    ossl req -x509 -new -key "$1.key" -subj "/CN=$2" -days 30 \
        -addext "subjectAltName=DNS:$2,DNS:*.$2" -out "$1.crt"
}
pair() { # SEED-NAME CERT KEY
    { cat "$2"; printf '\n#key\n'; cat "$3"; } >"$out/pem-$1"
}

key rsa -algorithm RSA -pkeyopt rsa_keygen_bits:2048
key p256 -algorithm EC -pkeyopt ec_paramgen_curve:P-256
key p384 -algorithm EC -pkeyopt ec_paramgen_curve:P-384
key weak -algorithm RSA -pkeyopt rsa_keygen_bits:1024
key ed -algorithm ED25519
selfsign rsa rsa.fuzz.test
selfsign p256 p256.fuzz.test
selfsign p384 p384.fuzz.test
selfsign weak weak.fuzz.test
selfsign ed ed.fuzz.test

# A CA and a leaf it signed: leaf + chain in the cert file.
key ca -algorithm EC -pkeyopt ec_paramgen_curve:P-256
ossl req -x509 -new -key ca.key -subj "/CN=Fuzz Test CA" -days 30 -out ca.crt
key leaf -algorithm EC -pkeyopt ec_paramgen_curve:P-256
ossl req -new -key leaf.key -subj "/CN=leaf.fuzz.test" -out leaf.csr
printf 'subjectAltName=DNS:leaf.fuzz.test\n' >ext.cnf
ossl x509 -req -in leaf.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
    -extfile ext.cnf -out leaf.crt
cat leaf.crt ca.crt >chain.crt
# The same leaf signed with SHA-1: refused when installed (see weak_digest in fuzz_pem.c).
ossl x509 -req -sha1 -in leaf.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
    -extfile ext.cnf -out leaf-sha1.crt
cat leaf-sha1.crt ca.crt >chain-sha1.crt

pair rsa rsa.crt rsa.key
pair p256 p256.crt p256.key
pair p384 p384.crt p384.key
pair weak weak.crt weak.key
pair ed25519 ed.crt ed.key
pair chain chain.crt leaf.key
pair mismatch rsa.crt p256.key
pair chain-sha1 chain-sha1.crt leaf.key
ossl pkey -in rsa.key -traditional -out rsa-trad.key
pair rsa-traditional rsa.crt rsa-trad.key
cat p256.crt p256.key >"$out/pem-bundle-p256"
cat chain.crt leaf.key >"$out/pem-bundle-chain"
cp ca.crt "$out/pem-ca-only"
