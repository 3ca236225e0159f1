#!/usr/bin/env bash
# Compares proto/pubsub_api.proto with the pubsub_api.proto that Salesforce's
# npm client salesforce-pubsub-api-client ships (version pinned in
# pubsub_npm/package-lock.json, installed by npm ci into the build dir).
#   proto_check.sh CHECKER     (meson sets SFKAFKA_BUILD_ROOT)
set -euo pipefail
checker=${1:?usage: proto_check.sh CHECKER}
here=$(cd "$(dirname "$0")" && pwd)
build=${SFKAFKA_BUILD_ROOT:?SFKAFKA_BUILD_ROOT is not set (run through meson test)}
work=$("$here/../pubsub_npm/install.sh")
published=$work/node_modules/salesforce-pubsub-api-client/pubsub_api.proto
[[ -f $published ]] || { echo "proto_check.sh: $published is missing from the npm package" >&2; exit 1; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
protoc --proto_path="$(dirname "$published")" --include_imports \
  --descriptor_set_out="$out" "$published"
"$checker" "$out"
