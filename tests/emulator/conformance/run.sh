#!/usr/bin/env bash
# Conformance: runs one third-party Bayeux client (cometd | jsforce) against
# a fresh sfemu. Installs the pinned npm modules (npm ci, from
# package-lock.json) once into the build directory.
#
#   run.sh cometd|jsforce        (meson sets SFKAFKA_BUILD_ROOT)
set -euo pipefail
client=${1:?usage: run.sh cometd|jsforce}
src=$(cd "$(dirname "$0")" && pwd)
build=${SFKAFKA_BUILD_ROOT:?SFKAFKA_BUILD_ROOT is not set (run through meson test)}
work=$build/tests/emulator/conformance-node
mkdir -p "$work"

command -v node >/dev/null || { echo "run.sh: node is not installed" >&2; exit 1; }
command -v npm >/dev/null || { echo "run.sh: npm is not installed" >&2; exit 1; }

# One install at a time (both clients' tests may start together).
(
  flock 9
  if [[ ! -d $work/node_modules ]] || ! cmp -s "$src/package-lock.json" "$work/package-lock.json"; then
    cp "$src/package.json" "$src/package-lock.json" "$work/"
    rm -rf "$work/node_modules"
    echo "run.sh: npm ci (pinned versions from package-lock.json)" >&2
    (cd "$work" && npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
) 9>"$work/.install-lock"
cp "$src/common.mjs" "$src/${client}_client.mjs" "$work/"

out=$(mktemp)
config=$(mktemp)
printf 'connect_hold_ms: 500\nclient_timeout_ms: 5000\n' >"$config"
"$build/emulator/sfemu" --config "$config" >"$out" &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$out" "$config"; }
trap cleanup EXIT
for _ in $(seq 1 200); do
  grep -q '^SFEMU_ADMIN_URL=' "$out" && break
  kill -0 "$pid" 2>/dev/null || { echo "run.sh: sfemu exited" >&2; exit 1; }
  sleep 0.05
done
SFEMU_URL=$(sed -n 's/^SFEMU_URL=//p' "$out")
SFEMU_ADMIN_URL=$(sed -n 's/^SFEMU_ADMIN_URL=//p' "$out")
[[ -n $SFEMU_URL && -n $SFEMU_ADMIN_URL ]] || { echo "run.sh: sfemu printed no URLs" >&2; exit 1; }
export SFEMU_URL SFEMU_ADMIN_URL
timeout 120 node "$work/${client}_client.mjs"
