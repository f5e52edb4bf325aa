#!/usr/bin/env bash
# Writes the TLS fixtures of the guard's mutual-TLS test (fixtures/gateway/tls): a test CA,
# a server certificate for 127.0.0.1, a client certificate (CN svc-a) signed by that CA,
# and one (CN svc-a too) signed by another CA, which the guard must refuse. Test-only keys,
# valid for 100 years.
set -euo pipefail
out="$(dirname "$0")/../fixtures/gateway/tls"
mkdir -p "$out"
cd "$out"
tmp=$(mktemp -d)
days=36500
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/ca.key" -out ca.pem -days $days -subj "/CN=Aegis test CA"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/rogue-ca.key" -out "$tmp/rogue-ca.pem" -days $days -subj "/CN=Rogue CA"
issue() { # name CN ca-cert ca-key [extension]
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$tmp/$1.csr" -subj "/CN=$2"
  printf '%s\n' "${5:-extendedKeyUsage=clientAuth}" > "$tmp/$1.ext"
  openssl x509 -req -in "$tmp/$1.csr" -CA "$3" -CAkey "$4" -CAcreateserial -out "$1.pem" -days $days -extfile "$tmp/$1.ext"
}
issue server 127.0.0.1 ca.pem "$tmp/ca.key" "subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth"
issue client svc-a ca.pem "$tmp/ca.key"
issue rogue-client svc-a "$tmp/rogue-ca.pem" "$tmp/rogue-ca.key"
rm -rf "$tmp" ca.srl
