#!/usr/bin/env bash
# Conformance: a Python gRPC client (Debian's python3-grpcio, python3-protobuf,
# python3-avro; stubs generated here by grpc_python_plugin from our proto)
# against a fresh sfemu over TLS.
#   run.sh PROTO_FILE            (meson sets SFKAFKA_BUILD_ROOT)
set -euo pipefail
proto=${1:?usage: run.sh PROTO_FILE}
src=$(cd "$(dirname "$0")" && pwd)
build=${SFKAFKA_BUILD_ROOT:?SFKAFKA_BUILD_ROOT is not set (run through meson test)}
# Debian's interpreter: the modules are Debian packages (a pyenv python3 may
# come first on PATH without them).
py=/usr/bin/python3
work=$(mktemp -d)
out=$work/sfemu.out
cleanup() {
  [[ -n ${pid:-} ]] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT
# shellcheck source=../../support/sfemu-start.sh
source "$src/../../support/sfemu-start.sh"
protoc --proto_path="$(dirname "$proto")" --python_out="$work" --grpc_out="$work" \
  --plugin=protoc-gen-grpc="$(command -v grpc_python_plugin)" "$proto"
printf 'connect_hold_ms: 500\nclient_timeout_ms: 5000\n' >"$work/config.yaml"
sfemu_start "$out" --config "$work/config.yaml" --pubsub-tls-dir "$work"
PYTHONPATH=$work timeout 180 "$py" "$src/client.py"
