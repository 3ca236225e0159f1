#!/usr/bin/env bash
# Builds the Debian packages with scripts/package, checks what they contain
# (dpkg-deb -c, the conffile list) and runs lintian on them: no errors.
#
#   test-package.sh SOURCE_ROOT OUT_DIR
set -uo pipefail
root=$1 out=$2
fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }

start=$SECONDS
debs=$("$root/scripts/package" --out "$out") || { echo "FAIL: scripts/package" >&2; exit 1; }
echo "built in $(( SECONDS - start )) s:"
echo "$debs"

daemon_deb=$(grep -E '/sfkafkad_[^/]*\.deb$' <<<"$debs" || true)
emu_deb=$(grep -E '/sfemu_[^/]*\.deb$' <<<"$debs" || true)
[[ -n $daemon_deb ]] || { echo "FAIL: no sfkafkad .deb" >&2; exit 1; }
[[ -n $emu_deb ]] || { echo "FAIL: no sfemu .deb" >&2; exit 1; }

# contains DEB PATH...: each path is in the package's file list.
contains() {
  local deb=$1 list; shift
  list=$(dpkg-deb -c "$deb" | awk '{ print $6 }')
  for p in "$@"; do
    if grep -qxF "./$p" <<<"$list"; then echo "ok: $(basename "$deb") has /$p"
    else bad "$(basename "$deb") lacks /$p"; fi
  done
}
contains "$daemon_deb" \
  usr/bin/sfkafkad \
  lib/systemd/system/sfkafkad.service \
  lib/systemd/system/sfkafkad@.service \
  usr/share/man/man8/sfkafkad.8.gz \
  usr/share/man/man5/sfkafkad.yaml.5.gz \
  usr/share/sfkafka/alerts.yaml \
  usr/share/sfkafka/dashboard.json \
  etc/sfkafka/sfkafkad.yaml \
  usr/share/doc/sfkafkad/copyright
contains "$emu_deb" usr/bin/sfemu usr/share/man/man1/sfemu.1.gz usr/share/doc/sfemu/copyright

# The example configuration is a conffile, and the units use /usr/bin.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -e "$daemon_deb" "$tmp/control"
if grep -qxF /etc/sfkafka/sfkafkad.yaml "$tmp/control/conffiles" 2>/dev/null; then
  echo "ok: /etc/sfkafka/sfkafkad.yaml is a conffile"
else bad "/etc/sfkafka/sfkafkad.yaml is not a conffile"; fi
dpkg-deb -x "$daemon_deb" "$tmp/root"
if grep -q '^ExecStart=/usr/bin/sfkafkad --config /etc/sfkafka/sfkafkad.yaml$' \
     "$tmp/root/lib/systemd/system/sfkafkad.service"; then
  echo "ok: ExecStart=/usr/bin/sfkafkad"
else bad "sfkafkad.service: ExecStart is not /usr/bin/sfkafkad"; fi
# The service must not start on installation (its configuration needs editing).
if grep -qE 'deb-systemd-invoke (start|restart)' "$tmp/control/postinst" 2>/dev/null; then
  bad "postinst starts the service"
else echo "ok: postinst does not start the service"; fi
"$tmp/root/usr/bin/sfkafkad" --version >/dev/null && echo "ok: sfkafkad --version runs" \
  || bad "the packaged sfkafkad does not run"

# lintian: errors fail, warnings are shown.
lint=$(lintian --info --display-info "$daemon_deb" "$emu_deb" 2>&1)
echo "lintian:"
echo "${lint:-(no tags)}"
errors=$(grep -c '^E: ' <<<"$lint" || true)
warnings=$(grep -c '^W: ' <<<"$lint" || true)
echo "lintian: $errors errors, $warnings warnings"
(( errors == 0 )) || bad "lintian reports $errors errors"

exit $fail
