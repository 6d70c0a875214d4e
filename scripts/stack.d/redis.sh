# scripts/stack.d/redis.sh — Redis: Debian's redis-server, AOF with appendfsync always.
# Sourced by scripts/stack: its entry in the service table, then how to install, check and
# start it (the fields of an entry are described in scripts/stack).
# shellcheck shell=bash

service redis \
  settings="REDIS_PORT=${REDIS_PORT:=6379}" \
  port=REDIS_PORT \
  pattern=redis-server \
  needs="redis-server:redis-server redis-cli:redis-tools" \
  unit=redis-server \
  check=check_redis external=redis_external start=start_redis \
  endpoint="redis://$HOST:$REDIS_PORT/ (AOF, appendfsync always)" \
  env="export REDIS_URL=redis://$HOST:$REDIS_PORT/"

redis_cli() { redis-cli -h "$HOST" -p "$REDIS_PORT" "$@" 2>/dev/null; }

check_redis() { [[ $(redis_cli ping) == PONG ]]; }

# A Redis we did not start keeps every write only if it fsyncs its AOF on every write.
redis_external() {
  check_redis || return 1
  local aof fsync
  aof=$(redis_cli config get appendonly | sed -n 2p)
  fsync=$(redis_cli config get appendfsync | sed -n 2p)
  if [[ $aof != yes || $fsync != always ]]; then
    warn "the Redis on $HOST:$REDIS_PORT has appendonly=${aof:-?} appendfsync=${fsync:-?}, not yes/always (the disk durability profile)"
    return 1
  fi
}

start_redis() {
  local logf="$LOG/redis.log"
  mkdir -p "$SERVICE_DIR/redis"
  own_dirs "$STACK_OS_USER" "$SERVICE_DIR/redis"
  # AOF with appendfsync always: every write is fsynced before Redis answers it (profile `disk`);
  # no RDB snapshots. Redis logs to stdout (our log) and stops cleanly on SIGTERM.
  start_bg redis "$logf" ${AS[@]+"${AS[@]}"} redis-server --bind "$HOST" --port "$REDIS_PORT" \
    --dir "$SERVICE_DIR/redis" \
    --appendonly yes --appendfsync always --save '' --protected-mode yes --daemonize no
  wait_ready redis "$logf" check_redis
}
