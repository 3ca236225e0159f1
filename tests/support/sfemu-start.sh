# Sourced by the Pub/Sub conformance scripts: sfemu_start OUT ARGS... runs
# $build/emulator/sfemu ARGS in the background (its pid in $pid, stdout in
# OUT), waits for its URLs and exports SFEMU_URL, SFEMU_ADMIN_URL,
# SFEMU_PUBSUB and SFEMU_PUBSUB_CA. The caller kills $pid on exit.
sfemu_start() {
  local out=$1
  shift
  "$build/emulator/sfemu" "$@" >"$out" &
  pid=$!
  for _ in $(seq 1 400); do
    grep -q '^SFEMU_ADMIN_URL=' "$out" && break
    kill -0 "$pid" 2>/dev/null || { echo "sfemu_start: sfemu exited" >&2; return 1; }
    sleep 0.05
  done
  local key
  for key in SFEMU_URL SFEMU_ADMIN_URL SFEMU_PUBSUB SFEMU_PUBSUB_CA; do
    export "$key=$(sed -n "s/^$key=//p" "$out")"
    [[ -n ${!key} ]] || { echo "sfemu_start: sfemu printed no $key" >&2; return 1; }
  done
}
