#!/usr/bin/env bash
# Installs the pinned npm modules of this folder (npm ci from
# package-lock.json) once into the build dir; prints that directory.
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd)
build=${SFKAFKA_BUILD_ROOT:?SFKAFKA_BUILD_ROOT is not set (run through meson test)}
work=$build/tests/emulator/pubsub-npm
mkdir -p "$work"
command -v npm >/dev/null || { echo "install.sh: npm is not installed" >&2; exit 1; }
(
  flock 9
  if [[ ! -d $work/node_modules ]] || ! cmp -s "$src/package-lock.json" "$work/package-lock.json"; then
    cp "$src/package.json" "$src/package-lock.json" "$work/"
    rm -rf "$work/node_modules"
    echo "install.sh: npm ci (pinned versions from package-lock.json)" >&2
    (cd "$work" && npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
) 9>"$work/.install-lock"
echo "$work"
