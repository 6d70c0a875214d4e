# scripts/stack.d/nats.sh — NATS: nats-server 2.10+ built from the Go module registry, JetStream on.
# Sourced by scripts/stack: its entry in the service table, then how to install, check and
# start it (the fields of an entry are described in scripts/stack).
# shellcheck shell=bash

# nats-server 2.10 or newer: Debian's 2.9 has no sync_interval, so JetStream could not fsync every
# write, which the `disk` durability profile promises.
NATS_SERVER_VERSION="${NATS_SERVER_VERSION:-v2.10.29}"
service nats \
  settings="NATS_PORT=${NATS_PORT:=4222} NATS_MONITOR_PORT=${NATS_MONITOR_PORT:=8222}" \
  port=NATS_PORT \
  pattern=nats-server \
  ensure=ensure_nats_server \
  check=check_nats start=start_nats \
  endpoint="nats://$HOST:$NATS_PORT (monitoring http://$HOST:$NATS_MONITOR_PORT)" \
  env="export NATS_URL=nats://$HOST:$NATS_PORT"

# Builds nats-server from the Go module registry into .stack/bin (about 15 s with a warm module
# cache, a minute or two cold).
ensure_nats_server() {
  local exe="$BIN/nats-server"
  # not through a pipe: grep -q stops reading at the match, and under pipefail --version's SIGPIPE
  # failed the check now and then (and a needless rebuild followed)
  if [[ -x $exe ]] && grep -qF -- "$NATS_SERVER_VERSION" <<<"$("$exe" --version 2>/dev/null)"; then
    return 0
  fi
  command -v go >/dev/null || apt_install golang-go
  say "building nats-server $NATS_SERVER_VERSION into $exe"
  mkdir -p "$BIN" "$LOG"
  GOBIN="$BIN" GOFLAGS=-buildvcs=false at_low_priority go install "github.com/nats-io/nats-server/v2@${NATS_SERVER_VERSION}" \
    >"$LOG/nats-build.log" 2>&1 || { tail -n 20 "$LOG/nats-build.log" >&2; die "nats-server build failed; see $LOG/nats-build.log"; }
}

check_nats() { curl -fsS -m 2 "http://$HOST:$NATS_MONITOR_PORT/healthz?js-enabled-only=true" >/dev/null 2>&1; }

start_nats() {
  local logf="$LOG/nats.log" conf="$SERVICE_DIR/nats.conf"
  mkdir -p "$SERVICE_DIR/nats"
  own_dirs "$STACK_OS_USER" "$SERVICE_DIR/nats"   # its JetStream store; the configuration stays ours
  # sync_interval always: JetStream fsyncs every write before acknowledging it (profile `disk`).
  printf 'jetstream {\n  store_dir: "%s"\n  sync_interval: always\n}\n' "$SERVICE_DIR/nats" >"$conf"
  start_bg nats "$logf" ${AS[@]+"${AS[@]}"} "$(service_exe "$BIN/nats-server")" -c "$conf" -js -a "$HOST" \
    -p "$NATS_PORT" -m "$NATS_MONITOR_PORT" -n brokerbench
  # the monitoring listener (-m) binds the same host as -a
  wait_ready nats "$logf" check_nats
}
