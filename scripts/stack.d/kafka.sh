# scripts/stack.d/kafka.sh — Apache Kafka: one KRaft node (broker and controller), from Maven
# Central, that fsyncs every append before acknowledging it.
# Sourced by scripts/stack: its entry in the service table, then how to install, check and
# start it (the fields of an entry are described in scripts/stack).
# shellcheck shell=bash

# Debian has no Kafka: its jars come from Maven Central (scripts/stack.d/kafka-pom.xml).
KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
KAFKA_DIR="$SERVICE_DIR/kafka"              # its configuration and jars (ours)
KAFKA_LIB="$KAFKA_DIR/lib-$KAFKA_VERSION"   # the broker's classpath: every jar in it
KAFKA_DATA="$KAFKA_DIR/data"                # log.dirs: its logs and KRaft metadata (its user's)
service kafka \
  settings="KAFKA_PORT=${KAFKA_PORT:=9092} KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:=9093}" \
  port=KAFKA_PORT \
  pattern='java.* kafka\.Kafka ' \
  needs="java:default-jre-headless python3:python3" \
  ensure=ensure_kafka \
  check=check_kafka external=kafka_external start=start_kafka \
  endpoint="$HOST:$KAFKA_PORT (Kafka $KAFKA_VERSION, KRaft controller $HOST:$KAFKA_CONTROLLER_PORT; log.flush.interval.messages=1)" \
  env="export KAFKA_BROKERS=$HOST:$KAFKA_PORT"

# Copies the broker's jars from Maven Central (through the local Maven repository) into
# KAFKA_LIB: 45 jars, 43 MB (6.6 s from an empty Maven repository). Once they are there it
# returns at once; the copy lands whole or not at all.
ensure_kafka() {
  [[ -f $KAFKA_LIB/kafka_2.13-$KAFKA_VERSION.jar ]] && return 0
  command -v mvn >/dev/null || apt_install maven
  say "fetching Kafka $KAFKA_VERSION from Maven Central into $KAFKA_LIB"
  mkdir -p "$KAFKA_DIR" "$LOG"
  rm -rf "$KAFKA_LIB.tmp"
  at_low_priority mvn -q -B -Dstyle.color=never -f "$ROOT/scripts/stack.d/kafka-pom.xml" \
    -Dkafka.version="$KAFKA_VERSION" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$KAFKA_LIB.tmp" >"$LOG/kafka-install.log" 2>&1 \
    || { tail -n 20 "$LOG/kafka-install.log" >&2; die "fetching Kafka failed; see $LOG/kafka-install.log"; }
  [[ -f $KAFKA_LIB.tmp/kafka_2.13-$KAFKA_VERSION.jar ]] || die "Maven fetched no kafka_2.13-$KAFKA_VERSION.jar; see $LOG/kafka-install.log"
  mv "$KAFKA_LIB.tmp" "$KAFKA_LIB"
}

# The broker answers the Kafka protocol and is ready for clients: a Metadata request (v4) lists
# at least one broker, which a KRaft broker does once it is registered with its controller and
# unfenced. An open port says less: a stopped (paused) broker or another server still has one.
# Spoken from Python (0.1 s) rather than asked with Kafka's own tools: `kafka-topics --list`
# (TopicCommand, in kafka-tools, which the stack leaves out) took 0.8 to 1 s on this 2-core
# machine when it was quiet, longer beside a build, and 'up' polls this every half second.
kafka_answers() {
  python3 - "$HOST" "$KAFKA_PORT" "$1" <<'EOF' 2>/dev/null
import socket, struct, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
client = b"brokerbench-stack"
# request header v1 (api_key 3 = Metadata, version 4, correlation id 7, client id), then the
# body: topics = empty array (none of them), allow_auto_topic_creation = false
req = struct.pack(">hhih", 3, 4, 7, len(client)) + client + struct.pack(">i?", 0, False)
s.sendall(struct.pack(">i", len(req)) + req)
def read(n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            sys.exit(1)
        data += chunk
    return data
(size,) = struct.unpack(">i", read(4))
# response: correlation id, throttle_time_ms, the number of brokers, ...
correlation, _, brokers = struct.unpack(">iii", read(size)[:12])
sys.exit(0 if correlation == 7 and brokers > 0 else 1)
EOF
}

check_kafka() { kafka_answers 2; }

# A Kafka we did not start: usable if it answers; its flush policy (the disk profile) is not
# asked here.
kafka_external() {
  check_kafka || return 1
  warn "the Kafka on $HOST:$KAFKA_PORT was not started by us: that it fsyncs every append (log.flush.interval.messages=1) is not checked"
}

# kafka_cluster_id: a new cluster id, as `kafka-storage random-uuid` makes one (16 random bytes in
# URL-safe base64, without padding, not starting with '-'), without starting a JVM for it.
kafka_cluster_id() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    [[ $id == -* ]] || break
  done
  printf '%s' "$id"
}

start_kafka() {
  local logf="$LOG/kafka.log" conf="$KAFKA_DIR/server.properties" cp="$KAFKA_LIB/*"
  mkdir -p "$KAFKA_DATA"
  chmod 755 "$KAFKA_DIR"
  own_dirs "$STACK_OS_USER" "$KAFKA_DATA"   # what it writes; the configuration stays ours
  # log.flush.interval.messages=1: every append (a producer's batch) is fsynced before the broker
  # answers it, as Redis's appendfsync always and JetStream's sync_interval always do (profile
  # `disk`); Kafka's default leaves that to the OS. One node: the internal topics have one replica.
  cat >"$conf" <<EOF
# Written by scripts/stack up (scripts/stack.d/kafka.sh); rewritten at every start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$KAFKA_DATA
log.flush.interval.messages=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
  # The data directory is formatted once (a cluster id, the KRaft metadata log), as its user.
  if [[ ! -f $KAFKA_DATA/meta.properties ]]; then
    say "formatting Kafka's data directory $KAFKA_DATA"
    ${AS[@]+"${AS[@]}"} java -cp "$cp" kafka.tools.StorageTool format -t "$(kafka_cluster_id)" -c "$conf" \
      >"$LOG/kafka-format.log" 2>&1 \
      || { tail -n 20 "$LOG/kafka-format.log" >&2; die "formatting $KAFKA_DATA failed; see $LOG/kafka-format.log"; }
  fi
  # Heap 512 MB (Kafka's script gives 1 GB: 2 cores and 5 other servers share this machine); the
  # G1 settings are those of Kafka's own kafka-server-start.sh. Logs (slf4j-simple) go to stderr:
  # our log. Kafka stops cleanly on SIGTERM (2 s). Killed (SIGKILL), it is ready again only
  # after its old registration's session expires (broker.session.timeout.ms, 9 s): 14 s here.
  start_bg kafka "$logf" ${AS[@]+"${AS[@]}"} java -Xms512m -Xmx512m -XX:+UseG1GC \
    -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
    -Djava.awt.headless=true -Dorg.slf4j.simpleLogger.showDateTime=true \
    "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSS" \
    -cp "$cp" kafka.Kafka "$conf"
  wait_ready kafka "$logf" check_kafka
}
