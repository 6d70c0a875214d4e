#!/usr/bin/env bash
# bench/peers.sh — how close brokerbench's own publish+consume ceiling comes to each broker's
# native benchmark tool, on the same local brokers with matched settings.
#
#   bench/peers.sh [--paths nats,rabbitmq,kafka,grpc] [--seconds 10] [--repeat 3] [--out DIR]
#
# Per path: a short `brokerbench ceilings` probe learns the envelope size brokerbench puts on the
# wire (message_bytes); then, REPEAT times, the native tool runs for about SECONDS, immediately
# followed by `brokerbench ceilings --stages middleware` for the same path (side by side, same
# machine state). Native tools and settings:
#   nats      natscli `nats bench js pub async` + `nats bench js consume`, concurrently, on a
#             dedicated file-storage stream peers_<pid>_<n> (removed afterwards); async publish
#             window 500, consumer batch 1000, explicit acks; figure = min(publish, consume) msg/s
#   rabbitmq  RabbitMQ PerfTest: 1 producer, 1 consumer, persistent messages on a durable queue,
#             500 outstanding confirms, manual acks with prefetch 1000; figure = min(send, receive)
#   kafka     Kafka's ProducerPerformance (kafka-producer-perf-test) on a topic of its own,
#             peers-<pid>-<n> (1 partition, 1 replica, flush.messages=1 as brokerbench's disk
#             profile creates it; removed afterwards): acks=all, enable.idempotence=true,
#             linger.ms=1 (brokerbench's producer settings), null keys, unthrottled; its first
#             second's records are its warm-up (--warmup-records), as brokerbench's first second
#             is; figure = steady-state records/s. It publishes only: no consumer runs beside it
#   grpc      ghz calling CaseSink.Deliver (one realistic Envelope per call, concurrency 32) on
#             brokerbench's own subscriber, run with `--sink none`; figure = OK calls/s
# Results: results/<UTC timestamp>-peers/ (or --out): peers.json (figures, settings, tool versions,
# install times, every sample), peers.md (the table, also printed) and raw/ (every tool's output).
# Target: brokerbench median / native median >= 0.8.
#
# Runs `scripts/stack up` for the brokers of the chosen paths (nats, rabbitmq, kafka; idempotent:
# starts only what is not running; mongo only for grpc's MongoDB fallback) and installs the native
# tools on first use, from package registries only: natscli and ghz with `go install` into
# .stack/bin, PerfTest 2.22.1 and kafka-tools (KAFKA_VERSION, else 4.4.0, the stack's broker) from
# Maven Central (classpaths in .stack/peers, jars in ~/.m2).
# Needs Go (/usr/local/go/bin or PATH), Maven and Java, python3. BROKERBENCH_BIN overrides the
# binary (default target/release/brokerbench). Progress goes to stderr.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HELPER="$ROOT/bench/peers/peers.py"
KNOWN_PATHS=$'nats\nrabbitmq\nkafka\ngrpc'
PATHS=nats,rabbitmq,kafka,grpc SECONDS_PER_RUN=10 REPEAT=3 OUT=""
BB="${BROKERBENCH_BIN:-$ROOT/target/release/brokerbench}"
DEFAULT_BYTES=256 PERFTEST_VERSION=2.22.1 GHZ_CONCURRENCY=32 KAFKA_TOOLS_VERSION=${KAFKA_VERSION:-4.4.0}

say()  { printf '[peers] %s\n' "$*" >&2; }
die()  { printf '[peers] ERROR: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit "${1:-0}"; }

while (($#)); do
  case $1 in
    --paths) PATHS=${2:?}; shift 2 ;;
    --seconds) SECONDS_PER_RUN=${2:?}; shift 2 ;;
    --repeat) REPEAT=${2:?}; shift 2 ;;
    --out) OUT=${2:?}; shift 2 ;;
    -h|--help) usage 0 ;;
    *) printf 'unknown argument: %s\n\n' "$1" >&2; usage 2 ;;
  esac
done
[[ $SECONDS_PER_RUN =~ ^[1-9][0-9]*$ && $REPEAT =~ ^[1-9][0-9]*$ ]] || die "--seconds and --repeat take positive integers"
IFS=, read -ra PATH_LIST <<<"$PATHS"
for p in "${PATH_LIST[@]}"; do grep -qx "$p" <<<"$KNOWN_PATHS" || die "unknown path '$p' (nats, rabbitmq, kafka, grpc)"; done

STARTED=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-$ROOT/results/$STARTED-peers}
mkdir -p "$OUT/raw"
META="$OUT/meta.tsv" SAMPLES="$OUT/samples.jsonl"
: >"$META"; : >"$SAMPLES"
meta() { printf '%s\t%s\n' "$1" "$2" >>"$META"; }
meta started_utc "$STARTED"; meta seconds "$SECONDS_PER_RUN"; meta repeat "$REPEAT"; meta paths "$PATHS"
meta cpus "$(nproc)"; meta kernel "$(uname -r)"
has_path() { [[ ",$PATHS," == *",$1,"* ]]; }

# ------------------------------------------------------------------ cleanup of what we started
SUB_PID="" STREAMS=() KAFKA_TOPICS=0
cleanup() {
  if [[ -n $SUB_PID ]]; then kill "$SUB_PID" 2>/dev/null || true; wait "$SUB_PID" 2>/dev/null || true; fi
  local s
  for s in ${STREAMS[@]+"${STREAMS[@]}"}; do nats stream rm -f "$s" >/dev/null 2>&1 || true; done
  # every topic of ours left behind (a run interrupted): --topic takes a regular expression
  if ((KAFKA_TOPICS)); then kafka_topic delete "peers-$$-.*" --if-exists >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ stack and tools
SERVICES=()
for p in nats rabbitmq kafka; do if has_path "$p"; then SERVICES+=("$p"); fi; done
if ((${#SERVICES[@]})); then say "scripts/stack up ${SERVICES[*]}"; "$ROOT/scripts/stack" up "${SERVICES[@]}" >&2; fi
# shellcheck source=/dev/null
. "$ROOT/.stack/env"
export PATH="$ROOT/.stack/bin:$PATH"
mkdir -p "$ROOT/.stack/peers"

GO=$(command -v go || echo /usr/local/go/bin/go)
go_install() { # go_install NAME MODULE@VERSION : into .stack/bin unless there
  local t0=$EPOCHREALTIME
  if [[ ! -x $ROOT/.stack/bin/$1 ]]; then
    [[ -x $GO ]] || die "Go is needed to install $1 (https://go.dev/dl/, or apt-get install golang-go)"
    say "installing $1: go install $2"
    GOPATH="$ROOT/.stack/go" GOBIN="$ROOT/.stack/bin" GOFLAGS=-modcacherw "$GO" install "$2" >&2
    meta "install_s.$1" "$(python3 -c "print(round($EPOCHREALTIME-$t0,1))")"
  fi
  meta "version.$1" "$("$GO" version -m "$ROOT/.stack/bin/$1" 2>/dev/null | awk '$1=="mod"{print $3; exit}')"
}
PT_CP_FILE="$ROOT/.stack/peers/perftest-$PERFTEST_VERSION.classpath"
KT_CP_FILE="$ROOT/.stack/peers/kafka-tools-$KAFKA_TOOLS_VERSION.classpath"
# maven_install FILE NAME GROUP:ARTIFACT VERSION : the artifact's classpath (its dependencies
# with it) into FILE, unless every jar of it is there already
maven_install() {
  local t0=$EPOCHREALTIME f=$1 cp
  shift
  if [[ -s $f ]]; then
    IFS=: read -ra cp <"$f" || true  # no trailing newline
    if ls "${cp[@]}" >/dev/null 2>&1; then return 0; fi
  fi
  if ! command -v mvn >/dev/null || ! command -v java >/dev/null; then
    say "installing maven and a JRE (apt-get)"
    local sudo=(); ((EUID == 0)) || sudo=(sudo)
    "${sudo[@]}" apt-get install -y -q maven default-jre-headless >&2
  fi
  say "resolving $2 $3 from Maven Central (mvn dependency:build-classpath)"
  mvn -q -B -Dstyle.color=never -f "$ROOT/bench/peers/pom.xml" -Dpeer.groupId="${2%%:*}" \
    -Dpeer.artifactId="${2#*:}" -Dpeer.version="$3" \
    dependency:build-classpath -Dmdep.outputFile="$f" >&2
  meta "install_s.$1" "$(python3 -c "print(round($EPOCHREALTIME-$t0,1))")"
}

if has_path nats; then go_install nats github.com/nats-io/natscli/nats@latest
  meta version.nats-server "$(nats-server --version 2>/dev/null | sed 's/^nats-server: //' || true)"; fi
if has_path grpc; then go_install ghz github.com/bojand/ghz/cmd/ghz@latest; fi
if has_path rabbitmq; then
  maven_install "$PT_CP_FILE" perftest com.rabbitmq:perf-test "$PERFTEST_VERSION"
  PT_CP=$(<"$PT_CP_FILE")
  meta version.perftest "$(java -cp "$PT_CP" com.rabbitmq.perf.PerfTest --version 2>&1 | sed 's/\x1b\[[0-9;]*m//g' | head -n1)"
  meta version.rabbitmq-server "$(dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null || echo unknown)"
fi
if has_path kafka; then
  maven_install "$KT_CP_FILE" kafka-tools org.apache.kafka:kafka-tools "$KAFKA_TOOLS_VERSION"
  KT_CP=$(<"$KT_CP_FILE") KAFKA_BROKERS=${KAFKA_BROKERS:-127.0.0.1:9092}
  meta version.kafka-tools "$(java -cp "$KT_CP" org.apache.kafka.tools.TopicCommand --version 2>/dev/null | tail -n1)"
  # the running broker's, from its log (the stack's own Kafka; unknown for one started elsewhere)
  meta version.kafka-server "$(sed -n 's/.*Kafka version: //p' "$ROOT/.stack/log/kafka.log" 2>/dev/null | tail -n1 | grep . || echo unknown)"
fi
if has_path rabbitmq || has_path kafka; then meta version.java "$(java -version 2>&1 | head -n1)"; fi

BB_OK=0
if [[ -x $BB ]] && "$BB" ceilings --help >/dev/null 2>&1; then
  BB_OK=1; meta version.brokerbench "$("$BB" --version 2>/dev/null || echo unknown)"; meta bb_ceilings available
else
  say "brokerbench ceilings not available: build the current tree ($BB); native runs only, ${DEFAULT_BYTES} B messages"
  meta bb_ceilings "not available: build the current tree"
  meta note.0bb "brokerbench ceilings not available ($BB): build the current tree; native figures only"
fi

# ------------------------------------------------------------------ one measurement each
# bb_ceiling PATH SECONDS DIR : brokerbench's publish+consume ceiling; writes DIR/ceilings.json.
# Publishes outstanding match the native tool's: natscli's async window and PerfTest's confirm
# window (500), ghz's concurrency for gRPC. Kafka's ProducerPerformance has no such window (its
# producer's buffer.memory bounds it): 500 there too.
bb_ceiling() {
  local outstanding=500
  [[ $1 == grpc ]] && outstanding=$GHZ_CONCURRENCY
  mkdir -p "$3"
  timeout $(($2 * 4 + 120)) "$BB" ceilings --stages middleware --middlewares "$1" --seconds "$2" \
    --concurrency "$outstanding" --out "$3" \
    >"$3/stdout.txt" 2>"$3/stderr.txt"
}

# nats_pair STREAM MSGS PREFIX : consumer started first, then the publisher, on a fresh stream
nats_pair() {
  local s=$1 n=$2 pre=$3 cpid rc=0
  STREAMS+=("$s")
  nats stream add "$s" --subjects "$s" --storage file --replicas 1 --defaults >"$pre-stream.txt" 2>&1 || return 1
  timeout $((SECONDS_PER_RUN * 10 + 120)) nats bench js consume --stream "$s" --msgs "$n" --size "$SIZE" \
    --batch 1000 --acks explicit --no-progress >"$pre-consume.txt" 2>&1 &
  cpid=$!
  timeout $((SECONDS_PER_RUN * 10 + 120)) nats bench js pub async "$s" --stream "$s" --msgs "$n" --size "$SIZE" \
    --batch 500 --no-progress >"$pre-pub.txt" 2>&1 || rc=$?
  wait "$cpid" || rc=$?
  nats stream rm -f "$s" >/dev/null 2>&1 || true
  return "$rc"
}

NATS_MSGS=""
native_nats() { # sets the message count from a publish-only probe the first time
  local r=$1 pre="$OUT/raw/nats-r$1" n=1000 rate
  if [[ -z $NATS_MSGS ]]; then
    STREAMS+=("peers_$$_probe")
    while :; do # probe until it takes a second, so MSGS lasts about SECONDS
      nats bench js pub async "peers_$$_probe" --create --storage file --stream "peers_$$_probe" \
        --msgs "$n" --size "$SIZE" --batch 500 --no-progress >"$OUT/raw/nats-probe.txt" 2>&1 || return 1
      nats stream rm -f "peers_$$_probe" >/dev/null 2>&1 || true
      rate=$(grep -o 'stats: [0-9,.]* msgs/sec' "$OUT/raw/nats-probe.txt" | tr -dc '0-9.\n' | head -n1)
      [[ $rate =~ ^[0-9.]+$ ]] || return 1
      if ((n >= 1000000)) || python3 -c "import sys; sys.exit(0 if $n/$rate >= 1 else 1)"; then break; fi
      n=$((n * 10))
    done
    NATS_MSGS=$(python3 -c "print(max(1000, int($rate * $SECONDS_PER_RUN)))")
    say "nats: publish-only probe $rate msg/s -> $NATS_MSGS messages per run"
  fi
  nats_pair "peers_$$_$r" "$NATS_MSGS" "$pre" || return 1
  RATE=$(python3 "$HELPER" record "$SAMPLES" --path nats --repeat "$r" --side native --tool natscli \
    --nats-pub "$pre-pub.txt" --nats-sub "$pre-consume.txt" --set "msgs=$NATS_MSGS" --set "message_bytes=$SIZE")
}

native_rabbitmq() {
  local r=$1 f="$OUT/raw/rabbitmq-r$1-perftest.txt"
  timeout $((SECONDS_PER_RUN + 120)) java -cp "$PT_CP" com.rabbitmq.perf.PerfTest --uri "$AMQP_URL" \
    -x 1 -y 1 -s "$SIZE" -f persistent -c 500 -q 1000 -z "$SECONDS_PER_RUN" \
    -u "peers_$$_$r" --auto-delete true -id "peers_$$" >"$f" 2>&1 || return 1
  RATE=$(python3 "$HELPER" record "$SAMPLES" --path rabbitmq --repeat "$r" --side native --tool perftest \
    --perftest "$f" --set "message_bytes=$SIZE")
}

# kafka_topic create|delete TOPIC [ARGS...] : Kafka's TopicCommand (kafka-topics) on KAFKA_BROKERS
kafka_topic() {
  java -cp "$KT_CP" org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA_BROKERS" \
    "--$1" --topic "$2" "${@:3}"
}

# kafka_produce TOPIC RECORDS WARMUP FILE : ProducerPerformance on a topic of its own, created
# first as brokerbench's disk profile creates its topic, and removed afterwards
kafka_produce() {
  local t=$1 rc=0
  KAFKA_TOPICS=1
  kafka_topic create "$t" --partitions 1 --replication-factor 1 --config flush.messages=1 \
    >"$4.topic.txt" 2>&1 || return 1
  timeout $((SECONDS_PER_RUN * 10 + 120)) java -cp "$KT_CP" org.apache.kafka.tools.ProducerPerformance \
    --bootstrap-server "$KAFKA_BROKERS" --topic "$t" --num-records "$2" --warmup-records "$3" \
    --record-size "$SIZE" --throughput -1 \
    --command-property acks=all enable.idempotence=true linger.ms=1 >"$4" 2>&1 || rc=$?
  kafka_topic delete "$t" --if-exists >>"$4.topic.txt" 2>&1 || true
  return "$rc"
}

KAFKA_MSGS="" KAFKA_WARMUP=""
native_kafka() { # sets the record counts from a probe the first time, then from each run
  local r=$1 f="$OUT/raw/kafka-r$1-producer-perf.txt" n=10000 rate
  if [[ -z $KAFKA_MSGS ]]; then
    while :; do # probe until it takes a second, so MSGS lasts about SECONDS after the warm-up
      kafka_produce "peers-$$-probe$n" "$n" 0 "$OUT/raw/kafka-probe.txt" || return 1
      # the summary: the last of these lines (the progress lines every 5 s look the same)
      rate=$(sed -n 's/^[0-9]* records sent, \([0-9.]*\) records\/sec.*/\1/p' "$OUT/raw/kafka-probe.txt" | tail -n1)
      [[ $rate =~ ^[0-9.]+$ ]] || return 1
      if ((n >= 1000000)) || python3 -c "import sys; sys.exit(0 if $n/$rate >= 1 else 1)"; then break; fi
      n=$((n * 10))
    done
    KAFKA_WARMUP=$(python3 -c "print(max(1000, int($rate)))")
    KAFKA_MSGS=$(python3 -c "print(max(1000, int($rate * $SECONDS_PER_RUN)) + $KAFKA_WARMUP)")
    say "kafka: probe $rate records/s -> $KAFKA_MSGS records per run, the first $KAFKA_WARMUP of them warm-up"
  fi
  kafka_produce "peers-$$-$r" "$KAFKA_MSGS" "$KAFKA_WARMUP" "$f" || return 1
  RATE=$(python3 "$HELPER" record "$SAMPLES" --path kafka --repeat "$r" --side native --tool producer-perf \
    --producer-perf "$f" --set "records=$KAFKA_MSGS" --set "warmup_records=$KAFKA_WARMUP" \
    --set "message_bytes=$SIZE") || return 1
  # the next run's counts from this one's rate: a probe taken while the machine was busy (or
  # idle) would otherwise make every run far shorter (or longer) than SECONDS
  KAFKA_WARMUP=$(python3 -c "print(max(1000, int($RATE)))")
  KAFKA_MSGS=$(python3 -c "print(max(1000, int($RATE * $SECONDS_PER_RUN)) + $KAFKA_WARMUP)")
}

GHZ_DATA="" GHZ_BYTES=""
native_grpc() {
  local r=$1 pre="$OUT/raw/grpc-r$1" i port
  if [[ -z $GHZ_DATA ]]; then
    GHZ_DATA=$(python3 "$HELPER" ghz-data "$SIZE" 2>"$OUT/raw/grpc-envelope-bytes.txt")
    GHZ_BYTES=$(<"$OUT/raw/grpc-envelope-bytes.txt")
    sed -E 's/^([[:space:]]*)optional[[:space:]]+/\1/' "$ROOT/proto/brokerbench.proto" >"$OUT/raw/brokerbench-ghz.proto"
  fi
  rm -f "$pre-addr" "$pre-grpc-port"
  # The gRPC socket is bound by the helper and handed to the subscriber open (--grpc-listen-fd):
  # a port looked up free and bound again later could be taken by anyone in between.
  python3 "$HELPER" exec-listening --grpc-listen-fd "$pre-grpc-port" \
    "$BB" subscriber --middleware grpc --sink none --listen 127.0.0.1:0 \
    --address-file "$pre-addr" >"$pre-subscriber.log" 2>&1 &
  SUB_PID=$!
  for ((i = 0; i < 300; i++)); do [[ -s $pre-addr ]] && break; kill -0 "$SUB_PID" 2>/dev/null || break; sleep 0.1; done
  [[ -s $pre-addr && -s $pre-grpc-port ]] || { say "grpc: subscriber did not start (see $pre-subscriber.log)"; return 1; }
  port=$(<"$pre-grpc-port")
  ghz --insecure --proto "$OUT/raw/brokerbench-ghz.proto" --call brokerbench.v1.CaseSink.Deliver \
    -d "$GHZ_DATA" -c "$GHZ_CONCURRENCY" -z "${SECONDS_PER_RUN}s" -O json "127.0.0.1:$port" \
    >"$pre-ghz.json" 2>"$pre-ghz.err" || true
  kill "$SUB_PID" 2>/dev/null || true; wait "$SUB_PID" 2>/dev/null || true; SUB_PID=""
  RATE=$(python3 "$HELPER" record "$SAMPLES" --path grpc --repeat "$r" --side native --tool ghz \
    --ghz "$pre-ghz.json" --set "message_bytes=$GHZ_BYTES" --set "sink=none")
}

# ------------------------------------------------------------------ per path
settings_of() {
  case $1 in
    nats) echo "JetStream file storage R1, async publish window 500, durable consumer batch 1000, explicit acks, 1 publisher + 1 consumer concurrently" ;;
    rabbitmq) echo "durable queue, persistent, confirms 500 outstanding, manual ack prefetch 1000, 1 producer + 1 consumer, -z $SECONDS_PER_RUN" ;;
    kafka) echo "own topic, 1 partition, R1, flush.messages=1; acks=all, enable.idempotence=true, linger.ms=1, null keys, unthrottled, first second warm-up; 1 producer, no consumer" ;;
    grpc) echo "ghz -c $GHZ_CONCURRENCY -z ${SECONDS_PER_RUN}s, 1 Envelope per Deliver call, brokerbench subscriber, sink none" ;;
  esac
}
for p in "${PATH_LIST[@]}"; do
  SIZE=$DEFAULT_BYTES src="default (brokerbench ceilings not available)"
  if ((BB_OK)); then
    say "$p: brokerbench ceilings probe (3 s) for message_bytes"
    if bb_ceiling "$p" 3 "$OUT/raw/$p-probe" &&
      SIZE=$(python3 "$HELPER" message-bytes "$OUT/raw/$p-probe/ceilings.json" 2>>"$OUT/raw/$p-probe/stderr.txt"); then
      src="brokerbench ceilings"
    else
      SIZE=$DEFAULT_BYTES src="default (probe failed)"
      say "$p: ceilings probe failed (see $OUT/raw/$p-probe), ${DEFAULT_BYTES} B"
    fi
  fi
  meta "message_bytes_source.$p" "$src"
  for ((r = 1; r <= REPEAT; r++)); do
    say "$p r$r/$REPEAT: native (${SIZE} B, ~${SECONDS_PER_RUN} s)"
    if RATE="" && "native_$p" "$r"; then say "$p r$r: native $RATE msg/s"; else say "$p r$r: native run failed (see $OUT/raw)"; fi
    if ((BB_OK)); then
      say "$p r$r/$REPEAT: brokerbench ceilings --stages middleware --middlewares $p --seconds $SECONDS_PER_RUN"
      d="$OUT/raw/$p-r$r-brokerbench"
      if bb_ceiling "$p" "$SECONDS_PER_RUN" "$d" && rate=$(python3 "$HELPER" record "$SAMPLES" --path "$p" \
        --repeat "$r" --side brokerbench --tool brokerbench --ceilings "$d/ceilings.json"); then
        say "$p r$r: brokerbench $rate msg/s"
      else say "$p r$r: brokerbench ceiling failed (see $d)"; fi
    fi
  done
  if [[ $p == grpc ]]; then meta message_bytes.grpc "$GHZ_BYTES"; else meta "message_bytes.$p" "$SIZE"; fi
  meta "settings.$p" "$(settings_of "$p")"
  case $p in
    grpc) m="Deliver call (receive + ack)" ;;
    kafka) m="native: publish only; brokerbench: publish+consume" ;;
    *) m="publish+consume" ;;
  esac
  meta "measures.$p" "$m"
done
python3 "$HELPER" summarize "$OUT"
say "results in $OUT (peers.json, peers.md, raw/)"
