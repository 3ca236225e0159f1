#!/usr/bin/env bash
# Conformance: Salesforce's npm Pub/Sub client (salesforce-pubsub-api-client,
# pinned in package-lock.json, installed by install.sh with npm ci) against a
# fresh sfemu over TLS, trusting sfemu's CA (see client.mjs).
#   run.sh                       (meson sets SFKAFKA_BUILD_ROOT)
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd)
build=${SFKAFKA_BUILD_ROOT:?SFKAFKA_BUILD_ROOT is not set (run through meson test)}
npmdir=$("$src/install.sh")
work=$(mktemp -d)
out=$work/sfemu.out
cleanup() {
  [[ -n ${pid:-} ]] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT
# shellcheck source=../../support/sfemu-start.sh
source "$src/../../support/sfemu-start.sh"
# node resolves the package from the client's folder: run it from npmdir.
cp "$src/client.mjs" "$npmdir/pubsub_client.mjs"
printf 'connect_hold_ms: 500\nclient_timeout_ms: 5000\n' >"$work/config.yaml"
# The client refuses an instance URL that is not https:// (its configuration
# loader): --public-url hands one out with the token while the OAuth endpoint
# itself stays plain http on loopback.
sfemu_start "$out" --config "$work/config.yaml" --pubsub-tls-dir "$work" \
  --public-url https://localhost
timeout 60 node "$npmdir/pubsub_client.mjs"
