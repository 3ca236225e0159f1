#!/usr/bin/env bash
# Checks the generated units: systemd-analyze verify on copies whose
# ExecStart points at the built sfkafkad (verify wants the binary to exist),
# and systemd-analyze security --offline on the main unit, which must rate
# 2.0 or better ("Overall exposure level").
#
#   test-units.sh MAIN_UNIT TEMPLATE_UNIT INSTALL_BINDIR BUILT_SFKAFKAD
set -euo pipefail
main=$1 template=$2 bindir=$3 built=$4
max_exposure=${SFKAFKA_MAX_EXPOSURE:-2.0}

analyze=$(command -v systemd-analyze || true)
if [[ -z $analyze ]]; then
  echo "FAIL: systemd-analyze not found (./scripts/install-deps installs systemd)" >&2
  exit 1
fi
echo "$("$analyze" --version | head -n 1)"

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for unit in "$main" "$template"; do
  sed "s|$bindir/sfkafkad|$built|g" "$unit" >"$dir/$(basename "$unit")"
done
# A template is verified through an instance: a link with the instance name.
ln -s "sfkafkad@.service" "$dir/sfkafkad@example.service"

status=0
for unit in sfkafkad.service sfkafkad@example.service; do
  # --man=no: the man pages are not installed yet where verify looks.
  out=$("$analyze" verify --man=no "$dir/$unit" 2>&1) || { status=1; }
  # verify exits 0 on some warnings: any line about our unit is a failure.
  if grep -E "sfkafkad" <<<"$out" >/dev/null; then status=1; fi
  if (( status )); then
    echo "FAIL: systemd-analyze verify $unit:" >&2
    echo "$out" >&2
    exit 1
  fi
  echo "ok: systemd-analyze verify $unit"
done

for unit in sfkafkad.service sfkafkad@example.service; do
  out=$("$analyze" security --offline=true --no-pager "$dir/$unit" 2>&1) || true
  level=$(sed -n 's/.*Overall exposure level for [^:]*: *\([0-9][0-9.]*\).*/\1/p' <<<"$out" | tail -n 1)
  if [[ -z $level ]]; then
    echo "FAIL: no exposure level from systemd-analyze security $unit:" >&2
    echo "$out" >&2
    exit 1
  fi
  if awk -v l="$level" -v m="$max_exposure" 'BEGIN { exit !(l > m) }'; then
    echo "$out" | grep -E '^✗' >&2 || true
    echo "FAIL: $unit exposure level $level, above $max_exposure" >&2
    exit 1
  fi
  echo "ok: $unit exposure level $level (at most $max_exposure)"
done
