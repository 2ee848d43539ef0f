#!/usr/bin/env bash
# Makes a throwaway test CA, a server certificate for localhost/127.0.0.1/::1
# and a client certificate (CN given as $2, default "client1"), with openssl.
# For tests and local trials only: real deployments use their own CA.
#
#   scripts/gencerts.sh [DIR] [CLIENT_CN]
#   mosquitto_pub --cafile DIR/ca.crt -h localhost -p 8883 -t t -m hi
set -euo pipefail
dir=${1:-certs}
cn=${2:-client1}
days=${DAYS:-825}
command -v openssl >/dev/null || { echo "gencerts: install openssl (apt-get install openssl)" >&2; exit 1; }
mkdir -p "$dir"
cd "$dir"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
  -keyout ca.key -out ca.crt -subj "/CN=sol test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days "$days" -out server.crt \
  -extfile <(printf "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n") 2>/dev/null

openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout client.key -out client.csr -subj "/CN=$cn" 2>/dev/null
openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days "$days" -out client.crt \
  -extfile <(printf "extendedKeyUsage=clientAuth\n") 2>/dev/null

rm -f server.csr client.csr ca.srl
chmod 600 ./*.key
echo "gencerts: wrote $(pwd)/{ca,server,client}.{crt,key} (client CN=$cn)"
