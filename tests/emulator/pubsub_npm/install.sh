#!/usr/bin/env bash
# Installs the pinned npm modules of this folder (npm ci from
# package-lock.json) once into the build dir; prints that directory.
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd)
build=${SFKAFKA_BUILD_ROOT:?SFKAFKA_BUILD_ROOT is not set (run through meson test)}
work=$build/tests/emulator/pubsub-npm
"$src/../../support/npm-ci-once" "$src" "$work"
echo "$work"
