#!/usr/bin/env bash
# Conformance: runs one third-party client against a fresh sfemu:
#   cometd, jsforce   npm modules pinned in package-lock.json (npm ci)
#   aiosfstream       Python, pinned in aiosfstream-requirements.txt, in a
#                     virtualenv under the build directory
# Each is installed once into the build directory.
#
#   run.sh cometd|jsforce|aiosfstream        (meson sets SFKAFKA_BUILD_ROOT)
set -euo pipefail
client=${1:?usage: run.sh cometd|jsforce|aiosfstream}
src=$(cd "$(dirname "$0")" && pwd)
build=${SFKAFKA_BUILD_ROOT:?SFKAFKA_BUILD_ROOT is not set (run through meson test)}

# aiosfstream 0.5.0 (its last release) runs on aiocometd 0.4.5, which passes
# loop= to asyncio primitives: Python 3.10 removed that argument, so it needs
# a Python from 3.7 to 3.9. SFEMU_CONFORMANCE_PYTHON names one; otherwise the
# first found on PATH or among pyenv's installed versions.
find_python() {
  local p
  if [[ -n ${SFEMU_CONFORMANCE_PYTHON:-} ]]; then echo "$SFEMU_CONFORMANCE_PYTHON"; return; fi
  for p in python3.9 python3.8 python3.7 "$(pyenv root 2>/dev/null)"/versions/3.{9,8,7}*/bin/python3; do
    if [[ -n $p ]] && "$p" -c 'import sys; sys.exit(not ((3, 7) <= sys.version_info[:2] <= (3, 9)))' 2>/dev/null; then
      command -v "$p" || echo "$p"
      return
    fi
  done
  return 1
}

if [[ $client == aiosfstream ]]; then
  work=$build/tests/emulator/conformance-python
  mkdir -p "$work"
  python=$(find_python) || {
    echo "run.sh: aiosfstream needs Python 3.7-3.9 (aiocometd 0.4.5 passes loop= to asyncio," \
         "removed in 3.10); install one or set SFEMU_CONFORMANCE_PYTHON" >&2
    exit 1
  }
  (
    flock 9
    if [[ ! -x $work/venv/bin/python ]] || ! cmp -s "$src/aiosfstream-requirements.txt" "$work/requirements.txt"; then
      rm -rf "$work/venv"
      echo "run.sh: virtualenv with $("$python" --version 2>&1), pip install (pinned)" >&2
      "$python" -m venv "$work/venv"
      "$work/venv/bin/pip" install --quiet --disable-pip-version-check \
        -r "$src/aiosfstream-requirements.txt" >&2
      cp "$src/aiosfstream-requirements.txt" "$work/requirements.txt"
    fi
  ) 9>"$work/.install-lock"
  run_client() { timeout 120 "$work/venv/bin/python" "$src/aiosfstream_client.py"; }
else
  work=$build/tests/emulator/conformance-node
  "$src/../../support/npm-ci-once" "$src" "$work"
  cp "$src/common.mjs" "$src/${client}_client.mjs" "$work/"
  run_client() { timeout 120 node "$work/${client}_client.mjs"; }
fi

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
run_client
