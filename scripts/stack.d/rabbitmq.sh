# scripts/stack.d/rabbitmq.sh — RabbitMQ: Debian's rabbitmq-server, a node of our own (epmd is its helper).
# Sourced by scripts/stack: its entry in the service table, then how to install, check and
# start it (the fields of an entry are described in scripts/stack).
# shellcheck shell=bash

RABBIT_LIB=/usr/lib/rabbitmq/bin
RABBIT_DIR="$SERVICE_DIR/rabbitmq"   # its configuration (ours), and what it writes (its user's)
RABBIT_HOME="$RABBIT_DIR/home"       # HOME for our node and rabbitmqctl: holds .erlang.cookie
# its process: env -> rabbitmq-server script -> erl -> beam.smp; epmd is its helper
service rabbitmq \
  settings="AMQP_PORT=${AMQP_PORT:=5672} RABBITMQ_DIST_PORT=${RABBITMQ_DIST_PORT:=$((AMQP_PORT + 20000))}
            RABBITMQ_MGMT_PORT=${RABBITMQ_MGMT_PORT:=15672} RABBITMQ_MANAGEMENT=${RABBITMQ_MANAGEMENT:=0}
            RABBIT_NODE=${RABBIT_NODE:=brokerbench@localhost} EPMD_PORT=${EPMD_PORT:=4369}" \
  port=AMQP_PORT \
  pattern='rabbitmq|beam' \
  helpers=epmd:epmd \
  needs="$RABBIT_LIB/rabbitmq-server:rabbitmq-server" \
  check=check_rabbitmq external=amqp_answers start=start_rabbitmq \
  tools=write_rabbitmqctl_wrapper \
  down=stop_unused_epmd \
  endpoint="amqp://guest:guest@$HOST:$AMQP_PORT/%2f (node $RABBIT_NODE)$(
    if [[ $RABBITMQ_MANAGEMENT == 1 ]]; then echo " (management http://$HOST:$RABBITMQ_MGMT_PORT)"; fi)" \
  env="export AMQP_URL='amqp://guest:guest@$HOST:$AMQP_PORT/%2f'
export BB_RABBITMQ_NODE=$RABBIT_NODE" \
  aliases=rabbit

rabbitmqctl_bb() {
  HOME="$RABBIT_HOME" ERL_EPMD_PORT="$EPMD_PORT" ERL_EPMD_ADDRESS="$HOST" \
    RABBITMQ_CONF_ENV_FILE="$RABBIT_DIR/rabbitmq-env.conf" \
    "$RABBIT_LIB/rabbitmqctl" -n "$RABBIT_NODE" "$@"
}

check_rabbitmq() {
  port_open "$HOST" "$AMQP_PORT" && rabbitmqctl_bb -q -t 10 await_startup >/dev/null 2>&1
}

# An AMQP 0-9-1 broker answers the protocol header with a Connection.Start frame (type 1).
amqp_answers() {
  python3 - "$HOST" "$AMQP_PORT" <<'EOF' 2>/dev/null
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
s.sendall(b"AMQP\x00\x00\x09\x01")
sys.exit(0 if s.recv(1) == b"\x01" else 1)
EOF
}

start_rabbitmq() {
  local logf="$LOG/rabbitmq.log" dir=$RABBIT_DIR plugins
  # what the node writes belongs to the user it runs as (as root: STACK_OS_USER), the Erlang
  # cookie in its HOME too; the configuration files stay ours, in a directory of ours
  mkdir -p "$dir/mnesia" "$dir/log" "$dir/run" "$RABBIT_HOME"
  chmod 755 "$dir"
  own_dirs "$STACK_OS_USER" "$dir/mnesia" "$dir/log" "$dir/run" "$RABBIT_HOME"
  write_erlang_cookie
  : >"$dir/rabbitmq-env.conf"   # keep /etc/rabbitmq/rabbitmq-env.conf out of it
  {
    echo "listeners.tcp.default = $HOST:$AMQP_PORT"
    echo "loopback_users.guest = true"
    echo "log.console = false"
    echo "log.file.level = info"
    if [[ $RABBITMQ_MANAGEMENT == 1 ]]; then
      echo "management.tcp.ip = $HOST"
      echo "management.tcp.port = $RABBITMQ_MGMT_PORT"
    fi
  } >"$dir/rabbitmq.conf"
  plugins='[].'
  if [[ $RABBITMQ_MANAGEMENT == 1 ]]; then plugins='[rabbitmq_management].'; fi
  echo "$plugins" >"$dir/enabled_plugins"

  start_epmd
  start_bg rabbitmq "$logf" ${AS[@]+"${AS[@]}"} env \
    HOME="$RABBIT_HOME" \
    ERL_EPMD_PORT="$EPMD_PORT" ERL_EPMD_ADDRESS="$HOST" \
    RABBITMQ_NODENAME="$RABBIT_NODE" \
    RABBITMQ_NODE_IP_ADDRESS="$HOST" RABBITMQ_NODE_PORT="$AMQP_PORT" \
    RABBITMQ_DIST_PORT="$RABBITMQ_DIST_PORT" \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
    RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf" \
    RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" \
    RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
    RABBITMQ_MNESIA_BASE="$dir/mnesia" \
    RABBITMQ_LOG_BASE="$dir/log" \
    RABBITMQ_PID_FILE="$dir/run/rabbitmq.pid" \
    ERL_CRASH_DUMP="$dir/log/erl_crash.dump" \
    "$RABBIT_LIB/rabbitmq-server"
  wait_ready rabbitmq "$logf" check_rabbitmq
}

# write_erlang_cookie: HOME/.erlang.cookie, random, mode 0400, written by the user the node runs
# as (so it owns it, and root never writes through a link in that user's folder); kept once made.
write_erlang_cookie() {
  local cookie
  as_user "$STACK_OS_USER"
  ${AS_USER[@]+"${AS_USER[@]}"} chmod 700 "$RABBIT_HOME"
  if ! ${AS_USER[@]+"${AS_USER[@]}"} test -s "$RABBIT_HOME/.erlang.cookie"; then
    cookie=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)
    # through stdin: a cookie on a command line would show in ps
    printf '%s' "$cookie" | ${AS_USER[@]+"${AS_USER[@]}"} sh -c 'umask 077 && cat >"$1"' sh "$RABBIT_HOME/.erlang.cookie"
  fi
  ${AS_USER[@]+"${AS_USER[@]}"} chmod 400 "$RABBIT_HOME/.erlang.cookie"
}

# Erlang distribution needs epmd; start our own on loopback unless one already answers.
start_epmd() {
  if pid_alive epmd || port_open "$HOST" "$EPMD_PORT"; then return 0; fi
  local epmd
  epmd=$(command -v epmd || ls /usr/lib/erlang/erts-*/bin/epmd 2>/dev/null | head -n1)
  [[ -x $epmd ]] || die "epmd not found (erlang-base missing?)"
  start_bg epmd "$LOG/epmd.log" ${AS[@]+"${AS[@]}"} "$epmd" -address "$HOST" -port "$EPMD_PORT"
  local i
  for ((i = 0; i < 50; i++)); do port_open "$HOST" "$EPMD_PORT" && return 0; sleep 0.1; done
  die "epmd did not start; see $LOG/epmd.log"
}

# our epmd only goes when our rabbitmq goes, and only if no other node still uses it
stop_unused_epmd() {
  pid_alive epmd || return 0
  local names
  names=$(ERL_EPMD_PORT="$EPMD_PORT" epmd -port "$EPMD_PORT" -names 2>/dev/null | grep -c '^name ' || true)
  if [[ ${names:-0} == 0 ]]; then stop_pg epmd && say "stopped epmd"; fi
  return 0
}

# A rabbitmqctl in .stack/bin that talks to our node (cookie, epmd port, node name).
write_rabbitmqctl_wrapper() {
  [[ -x $RABBIT_LIB/rabbitmqctl ]] || return 0
  mkdir -p "$BIN"
  cat >"$BIN/rabbitmqctl" <<EOF
#!/bin/sh
# Written by scripts/stack: rabbitmqctl against the brokerbench node.
export HOME='$RABBIT_HOME' ERL_EPMD_PORT=$EPMD_PORT ERL_EPMD_ADDRESS=$HOST
export RABBITMQ_CONF_ENV_FILE='$RABBIT_DIR/rabbitmq-env.conf'
exec $RABBIT_LIB/rabbitmqctl -n '$RABBIT_NODE' "\$@"
EOF
  chmod +x "$BIN/rabbitmqctl"
}
