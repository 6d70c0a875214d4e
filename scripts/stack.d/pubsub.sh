# scripts/stack.d/pubsub.sh — Google Pub/Sub: the emulator of the gcloud SDK, on Java.
# Sourced by scripts/stack: its entry in the service table, then how to install, check and
# start it (the fields of an entry are described in scripts/stack).
# shellcheck shell=bash

PUBSUB_PROJECT="${PUBSUB_PROJECT_ID:-brokerbench-local}"
service pubsub \
  settings="PUBSUB_PORT=${PUBSUB_PORT:=8085}" \
  port=PUBSUB_PORT \
  pattern='gcloud|python|java|pubsub' \
  needs=java:default-jre-headless \
  ensure=ensure_gcloud \
  check=check_pubsub start=start_pubsub \
  endpoint="PUBSUB_EMULATOR_HOST=$HOST:$PUBSUB_PORT project $PUBSUB_PROJECT" \
  env="export PUBSUB_EMULATOR_HOST=$HOST:$PUBSUB_PORT
export PUBSUB_PROJECT_ID=$PUBSUB_PROJECT"

ensure_gcloud() {
  command -v gcloud >/dev/null \
    || die "gcloud (Google Cloud SDK with the pubsub-emulator component) is not installed; it is not in Debian's archive"
}

check_pubsub() { [[ "$(curl -fsS -m 2 "http://$HOST:$PUBSUB_PORT/" 2>/dev/null)" == Ok* ]]; }

start_pubsub() {
  local logf="$LOG/pubsub.log" dir="$SERVICE_DIR/pubsub" config=()
  mkdir -p "$dir"
  own_dirs "$STACK_OS_USER" "$dir"
  # As another user, gcloud keeps its configuration (and its own logs) in a folder of that user's:
  # it has no home.
  if ((${#AS[@]} > 0)); then config=("CLOUDSDK_CONFIG=$dir/gcloud-config"); fi
  # gcloud itself is a python wrapper that spawns the java emulator: both are in the
  # process group we create, and 'down' kills the group.
  start_bg pubsub "$logf" ${AS[@]+"${AS[@]}"} env ${config[@]+"${config[@]}"} \
    CLOUDSDK_CORE_DISABLE_PROMPTS=1 \
    CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=true \
    CLOUDSDK_CORE_DISABLE_USAGE_REPORTING=true \
    gcloud beta emulators pubsub start --host-port="$HOST:$PUBSUB_PORT" \
    --project="$PUBSUB_PROJECT" --data-dir="$dir" --quiet
  wait_ready pubsub "$logf" check_pubsub
}
