# scripts/stack.d/mongo.sh — The MongoDB-wire store: FerretDB on a PostgreSQL cluster of our own (or SQLite).
# Sourced by scripts/stack: its entry in the service table, then how to install, check and
# start it (the fields of an entry are described in scripts/stack).
# shellcheck shell=bash

FERRETDB_VERSION="${FERRETDB_VERSION:-v1.24.2}"
# The store under FerretDB, BB_STORE: postgresql (default: our own PostgreSQL cluster in
# .stack/postgres) or sqlite (files in .stack/ferretdb). 'up' starts FerretDB on BB_STORE and
# restarts a running one that is on the other store; BB_STORE is not remembered. The endpoint,
# 'status' and .stack/env (BB_STORE) name the store of the FerretDB that runs.
BB_STORE=${BB_STORE:-postgresql}
case $BB_STORE in
  postgresql | postgres | pg) BB_STORE=postgresql ;;
  sqlite | sqlite3) BB_STORE=sqlite ;;
  *) die "BB_STORE=$BB_STORE: use postgresql (the default) or sqlite" ;;
esac
# ferretdb_store: the --handler of the FerretDB our pidfile names, empty if none runs.
ferretdb_store() {
  local pid
  pid=$(cat "$RUN/mongo.pid" 2>/dev/null) && [[ $pid =~ ^[0-9]+$ ]] || return 0
  tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline" | sed -n 's/^--handler=//p' || true
}
MONGO_STORE=$(ferretdb_store)
MONGO_STORE=${MONGO_STORE:-$BB_STORE}

# PostgreSQL for BB_STORE=postgresql: Debian's server binaries (PG_BIN: those of the major that
# made .stack/postgres/data, else the newest installed), a cluster of our own in .stack/postgres
# (superuser $PG_SUPERUSER with a generated password, scram-sha-256, loopback and a socket in
# .stack/postgres/run only), run as the current user; as root (PostgreSQL refuses to run as
# root) as PG_OS_USER (default postgres), and FerretDB on it too.
# The password is in .stack/postgres/pgpass (libpq's passfile format, mode 0600, owned by whoever
# runs the stack): psql finds it through BB_STORE_PG_URL's passfile parameter, FerretDB gets it
# in its environment (FERRETDB_POSTGRESQL_URL), never on a command line, in a log or an endpoint.
PG_DIR="$STACK/postgres"
# a link when the cluster lives outside the clone (pg_dir_reachable_by)
if [[ -L $PG_DIR ]]; then PG_DIR=$(readlink -f "$PG_DIR"); fi
PG_SUPERUSER=brokerbench
PG_DATABASE=ferretdb
PG_AS=()   # setpriv ... when root (ensure_postgres)
PG_OS_USER=${PG_OS_USER:-postgres}
pg_bin_dir() {
  local v
  v=$(cat "$PG_DIR/data/PG_VERSION" 2>/dev/null || true)
  if [[ -n $v && -x /usr/lib/postgresql/$v/bin/postgres ]]; then echo "/usr/lib/postgresql/$v/bin"; return; fi
  v=$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/postgres' 2>/dev/null \
      | sed 's|^/usr/lib/postgresql/\([^/]*\)/.*|\1|' | sort -V | tail -n1)
  echo "/usr/lib/postgresql/${v:-15}/bin"
}
PG_BIN=${PG_BIN:-$(pg_bin_dir)}
pg_major() { local v=${PG_BIN%/bin}; echo "${v##*/}"; }

mongo_endpoint() {
  local store=SQLite
  if [[ $MONGO_STORE == postgresql ]]; then store="PostgreSQL $(pg_major) on $HOST:$PG_PORT"; fi
  echo "mongodb://$HOST:$MONGO_PORT/ (FerretDB $FERRETDB_VERSION, $store)"
}
# BB_STORE_PG_URL: the PostgreSQL under FerretDB, for tests that make the store refuse a case;
# the password stays in the passfile the URL names (so .stack/env holds no secret).
mongo_env() {
  printf 'export MONGODB_URI=mongodb://%s:%s/\nexport BB_STORE=%s\n' "$HOST" "$MONGO_PORT" "$MONGO_STORE"
  if [[ $MONGO_STORE == postgresql ]]; then
    printf "export BB_STORE_PG_URL='postgres://%s@%s:%s/%s?passfile=%s'\n" \
      "$PG_SUPERUSER" "$HOST" "$PG_PORT" "$PG_DATABASE" "$(uri_escape "$PG_DIR/pgpass")"
  fi
}
# uri_escape STRING: percent-encoded, for a URI's query (/ and unreserved characters kept)
uri_escape() {
  local LC_ALL=C s=$1 out='' c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case $c in
      [A-Za-z0-9._~/-]) out+=$c ;;
      *) printf -v c '%%%02X' "'$c"; out+=$c ;;
    esac
  done
  printf '%s' "$out"
}
service mongo \
  settings="MONGO_PORT=${MONGO_PORT:=27017} PG_PORT=${PG_PORT:=54329}" \
  port=MONGO_PORT \
  pattern=ferretdb \
  helpers=postgres:postgres \
  needs="$(if [[ $BB_STORE == postgresql ]]; then echo "$PG_BIN/postgres:postgresql"; fi)" \
  unit=postgresql \
  ensure=ensure_mongo \
  check=check_mongo external=mongo_answers stale=mongo_stale start=start_mongo \
  tools=ensure_mongosh \
  user=mongo_os_user \
  down=stop_postgres \
  endpoint="$(mongo_endpoint)" \
  env="$(mongo_env)" \
  aliases="mongodb ferretdb"

ensure_ferretdb() {
  local exe="$BIN/ferretdb" src="$STACK/src/ferretdb" dir
  # not through a pipe: grep -q stops reading at the match, and under pipefail --version's SIGPIPE
  # failed the check now and then (and a needless rebuild followed)
  if [[ -x $exe ]] && grep -qF -- "$FERRETDB_VERSION" <<<"$("$exe" --version 2>/dev/null)"; then
    return 0
  fi
  command -v go >/dev/null || apt_install golang-go
  say "building FerretDB $FERRETDB_VERSION into $exe (about 1.5 min with a cold module cache)"
  mkdir -p "$BIN" "$STACK/src" "$LOG"
  dir=$(go mod download -json "github.com/FerretDB/FerretDB@${FERRETDB_VERSION}" \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -n $dir && -d $dir ]] || die "go mod download github.com/FerretDB/FerretDB@${FERRETDB_VERSION} failed"
  rm -rf "$src"
  cp -r "$dir" "$src"
  chmod -R u+w "$src"
  echo "$FERRETDB_VERSION" >"$src/build/version/version.txt"
  (cd "$src" && GOFLAGS=-buildvcs=false at_low_priority go build -o "$exe.tmp" ./cmd/ferretdb) >"$LOG/ferretdb-build.log" 2>&1 \
    || { tail -n 20 "$LOG/ferretdb-build.log" >&2; die "FerretDB build failed; see $LOG/ferretdb-build.log"; }
  mv "$exe.tmp" "$exe"
}

ensure_mongo() {
  ensure_ferretdb
  if [[ $BB_STORE == postgresql ]]; then ensure_postgres; fi
}

# Debian's PostgreSQL server (the package is in mongo's needs); its own cluster and service
# play no part: the stack runs a cluster of its own.
ensure_postgres() {
  # again, unless given: the install may have brought another major than the one guessed
  if [[ ! -x $PG_BIN/postgres ]]; then PG_BIN=$(pg_bin_dir); fi
  local exe
  for exe in postgres initdb psql pg_isready; do
    [[ -x $PG_BIN/$exe ]] || die "$PG_BIN/$exe not found (Debian's postgresql package installs it; or set PG_BIN)"
  done
  PG_AS=()
  if ((EUID == 0)); then
    local user=$PG_OS_USER
    id -u "$user" >/dev/null 2>&1 \
      || die "PostgreSQL does not run as root, and user '$user' does not exist; set PG_OS_USER to an unprivileged user"
    read -ra PG_AS <<<"$(setpriv_as "$user")"
    pg_dir_reachable_by "$user"
    # .stack/postgres stays root's: it holds the password file, and root writes nothing into a
    # directory the server's user could swap links in. That user owns its socket directory and
    # the cluster (pg_init hands it data.tmp).
    mkdir -p "$PG_DIR/run"
    chown 0:0 "$PG_DIR"
    chmod 755 "$PG_DIR"
    chown "$(id -u "$user"):$(id -g "$user")" "$PG_DIR/run"
    "${PG_AS[@]}" test -w "$PG_DIR/run" \
      || die "user $user cannot write $PG_DIR/run (a directory above it is closed to it); set PG_OS_USER or run as a non-root user"
  fi
}

# As root the cluster runs as PG_OS_USER, who cannot enter a clone kept in a closed directory (a
# home folder or a mktemp folder is mode 700). Then the cluster lives in
# /var/lib/brokerbench/postgres-<hash of the clone's path>, and .stack/postgres links to it (a
# cluster already in .stack/postgres moves there, data and all).
pg_dir_reachable_by() {
  local user=$1 home
  mkdir -p "$STACK"
  if "${PG_AS[@]}" test -x "$STACK"; then return 0; fi
  [[ $PG_DIR == "$STACK/postgres" ]] || return 0
  home="/var/lib/brokerbench/postgres-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"
  mkdir -p "${home%/*}"
  chmod 755 "${home%/*}"
  if [[ -d $STACK/postgres ]]; then
    [[ ! -e $home ]] || die "both $STACK/postgres and $home hold a cluster; remove the one you do not need"
    mv "$STACK/postgres" "$home"
  else
    mkdir -p "$home"
  fi
  ln -s "$home" "$STACK/postgres"
  PG_DIR=$home
  say "user $user cannot enter $STACK; PostgreSQL's cluster lives in $home (.stack/postgres links to it)"
}

ensure_mongosh() {
  [[ -x $BIN/mongosh ]] && return 0
  if ! command -v npm >/dev/null; then
    warn "npm not found; mongosh not installed (optional: it is only for inspecting stored cases)"
    return 0
  fi
  say "installing mongosh from npm into $STACK/npm"
  mkdir -p "$STACK/npm" "$BIN" "$LOG"
  if at_low_priority npm install --no-audit --no-fund --prefix "$STACK/npm" mongosh >"$LOG/mongosh-install.log" 2>&1 \
     && [[ -x $STACK/npm/node_modules/.bin/mongosh ]]; then
    ln -sf "$STACK/npm/node_modules/.bin/mongosh" "$BIN/mongosh"
  else
    warn "mongosh install failed (see $LOG/mongosh-install.log); continuing without it"
  fi
}

# A real MongoDB ping (OP_MSG {ping: 1, $db: "admin"}) without any client library.
mongo_ping() {
  python3 - "$HOST" "$MONGO_PORT" <<'EOF' 2>/dev/null
import socket, struct, sys
def cstr(s): return s.encode() + b"\0"
body = b"\x10" + cstr("ping") + struct.pack("<i", 1) + b"\x02" + cstr("$db") + struct.pack("<i", 6) + cstr("admin")
doc = struct.pack("<i", len(body) + 5) + body + b"\0"
payload = struct.pack("<I", 0) + b"\0" + doc
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
s.sendall(struct.pack("<iiii", 16 + len(payload), 1, 0, 2013) + payload)
buf = b""
while len(buf) < 4 or len(buf) < struct.unpack("<i", buf[:4])[0]:
    chunk = s.recv(65536)
    if not chunk:
        sys.exit(1)
    buf += chunk
i = buf.find(b"\x01ok\0", 21)
sys.exit(0 if i > 0 and struct.unpack("<d", buf[i + 4:i + 12])[0] == 1.0 else 1)
EOF
}

mongo_answers() { port_open "$HOST" "$MONGO_PORT" && mongo_ping; }

check_mongo() { mongo_answers && { [[ $MONGO_STORE != postgresql ]] || check_postgres; }; }

check_postgres() { "$PG_BIN/pg_isready" -q -t 3 -h "$HOST" -p "$PG_PORT" -U "$PG_SUPERUSER" -d postgres; }

# 'up' restarts FerretDB when it runs on the other store, its PostgreSQL has gone, or that
# PostgreSQL has no password yet (a cluster made with trust, before passwords: see pg_auth).
mongo_stale() {
  local running
  running=$(ferretdb_store)
  if [[ $running != "$BB_STORE" ]]; then
    say "mongo runs on ${running:-an unknown store}, BB_STORE=$BB_STORE: restarting it"
  elif [[ $BB_STORE == postgresql ]] && ! pid_alive postgres; then
    say "mongo's PostgreSQL ($RUN/postgres.pid) is not running: restarting mongo"
  elif [[ $BB_STORE == postgresql ]] && ! pg_auth_current; then
    say "mongo's PostgreSQL trusts local connections (made before passwords): restarting both to set one"
  else
    return 1
  fi
}

# As root, FerretDB runs as the user of its store's files: on PostgreSQL as PG_OS_USER (it holds
# the superuser's password, which is that user's power anyway, and the brokers' user cannot read
# it from its environment), on SQLite as STACK_OS_USER.
mongo_os_user() {
  if [[ $BB_STORE == postgresql ]]; then echo "$PG_OS_USER"; else echo "$STACK_OS_USER"; fi
}

start_mongo() {
  local logf="$LOG/ferretdb.log" backend url='' user
  MONGO_STORE=$BB_STORE
  SVC[mongo.endpoint]=$(mongo_endpoint)
  SVC[mongo.env]=$(mongo_env)
  user=$(mongo_os_user)
  if [[ $BB_STORE == postgresql ]]; then
    start_postgres
    backend=(--handler=postgresql)
    # in the environment, not on the command line that `ps` shows everyone
    url="postgres://$PG_SUPERUSER:$(pg_password)@$HOST:$PG_PORT/$PG_DATABASE"
  else
    stop_postgres   # one left from a PostgreSQL run
    mkdir -p "$SERVICE_DIR/ferretdb"
    own_dirs "$user" "$SERVICE_DIR/ferretdb"
    backend=(--handler=sqlite "--sqlite-url=file:$SERVICE_DIR/ferretdb/")
  fi
  mkdir -p "$SERVICE_DIR/ferretdb-state"
  own_dirs "$user" "$SERVICE_DIR/ferretdb-state"
  as_user "$user"
  # --debug-addr=-: no debug listener (its default is 127.0.0.1:8088, fixed for every stack)
  local cmd=(${AS_USER[@]+"${AS_USER[@]}"} "$(service_exe "$BIN/ferretdb")" "${backend[@]}"
    --telemetry=disable --listen-addr="$HOST:$MONGO_PORT" --debug-addr=-
    --state-dir="$SERVICE_DIR/ferretdb-state" --log-level=info)
  if [[ -n $url ]]; then
    FERRETDB_POSTGRESQL_URL=$url start_bg mongo "$logf" "${cmd[@]}"
  else
    start_bg mongo "$logf" "${cmd[@]}"
  fi
  wait_ready mongo "$logf" check_mongo
}

# Our PostgreSQL, mongo's helper: reused if it runs (and asks for the password), else started on
# loopback, fsync and synchronous commit on (every acknowledged write is on disk, like the other
# stores).
start_postgres() {
  local logf="$LOG/postgres.log" data="$PG_DIR/data" sock="$PG_DIR/run" pid
  if ! pid_alive postgres; then
    rm -f "$RUN/postgres.pid"
    pg_init
    # A postmaster.pid a killed server left would stop the start if its pid now belongs to
    # another process; one of a server on our data that lost our pidfile is adopted.
    pid=$(head -n1 "$data/postmaster.pid" 2>/dev/null || true)
    if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null \
       && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$data"; then
      echo "$pid" >"$RUN/postgres.pid"
    elif [[ -n $pid || -e $data/postmaster.pid ]]; then
      rm -f "$data/postmaster.pid" "$sock/.s.PGSQL.$PG_PORT" "$sock/.s.PGSQL.$PG_PORT.lock"
    fi
  fi
  # a server that still trusts (started before passwords) goes: the password is set with none running
  if pid_alive postgres && ! pg_auth_current; then
    say "PostgreSQL (pid $(pid_of postgres)) trusts local connections: stopping it to set a password"
    stop_postgres
  fi
  if ! pid_alive postgres; then
    if port_open "$HOST" "$PG_PORT"; then
      die "port $HOST:$PG_PORT (mongo's PostgreSQL) is in use by another process; set PG_PORT to a free port"
    fi
    pg_auth "$data"
    local sockdirs=$sock
    # a Unix socket path has at most 107 bytes; TCP on loopback is all FerretDB needs
    if ((${#sock} + 18 > 107)); then sockdirs=''; fi
    start_bg postgres "$logf" ${PG_AS[@]+"${PG_AS[@]}"} "$PG_BIN/postgres" -D "$data" \
      -c listen_addresses="$HOST" -c port="$PG_PORT" -c unix_socket_directories="$sockdirs" \
      -c fsync=on -c synchronous_commit=on -c full_page_writes=on \
      -c shared_buffers=128MB -c max_connections=100 -c jit=off
  fi
  wait_ready postgres "$logf" check_postgres
  if [[ $(pg_sql -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'") != 1 ]]; then
    pg_sql -c "CREATE DATABASE $PG_DATABASE" || die "could not create database $PG_DATABASE; see $logf"
    say "created PostgreSQL database $PG_DATABASE"
  fi
}

# psql as the superuser on loopback, with the password from the passfile
pg_sql() {
  PGPASSFILE="$PG_DIR/pgpass" "$PG_BIN/psql" -X -q -t -A -w -v ON_ERROR_STOP=1 \
    -h "$HOST" -p "$PG_PORT" -U "$PG_SUPERUSER" -d postgres "$@"
}

# pg_init: the cluster in .stack/postgres/data, made once (initdb into data.tmp, its password set
# by pg_auth, then renamed: a cluster named data never trusts anyone).
pg_init() {
  local data="$PG_DIR/data"
  if [[ -f $data/PG_VERSION ]]; then
    [[ $(<"$data/PG_VERSION") == "$(pg_major)" ]] \
      || die "$data is a PostgreSQL $(<"$data/PG_VERSION") cluster but $PG_BIN is $(pg_major): install postgresql-$(<"$data/PG_VERSION") or remove $data"
    return 0
  fi
  say "initdb: PostgreSQL $(pg_major) cluster in $data (superuser $PG_SUPERUSER)"
  mkdir -p "$PG_DIR/run" "$LOG"
  rm -rf "$data.tmp"
  mkdir -m 700 "$data.tmp"
  if ((${#PG_AS[@]} > 0)); then chown "$(id -u "$PG_OS_USER"):$(id -g "$PG_OS_USER")" "$data.tmp"; fi
  # initdb takes no password but from a file its user can read: it makes the cluster with trust,
  # and pg_auth sets the password and replaces pg_hba.conf before any server runs on it
  ${PG_AS[@]+"${PG_AS[@]}"} "$PG_BIN/initdb" -D "$data.tmp" -U "$PG_SUPERUSER" -A trust -E UTF8 --locale=C \
    --no-instructions >"$LOG/postgres-initdb.log" 2>&1 \
    || { tail -n 20 "$LOG/postgres-initdb.log" >&2; die "initdb failed; see $LOG/postgres-initdb.log"; }
  pg_auth "$data.tmp"
  mv "$data.tmp" "$data"
}

# The superuser's password: .stack/postgres/pgpass, libpq's passfile format (host:port:db:user:password),
# mode 0600, owned by whoever runs the stack. Empty when there is none (yet).
pg_password() {
  local pw
  pw=$(sed -n "s/^127\.0\.0\.1:\*:\*:$PG_SUPERUSER://p" "$PG_DIR/pgpass" 2>/dev/null | head -n1)
  if [[ $pw =~ ^[A-Za-z0-9]{16,}$ ]]; then printf '%s' "$pw"; fi
}

# pg_write_passfile PASSWORD: the passfile for 127.0.0.1, localhost and our socket directory
# (':' and '\' in its path escaped, as libpq reads it).
pg_write_passfile() {
  local pw=$1 f="$PG_DIR/pgpass" sock="$PG_DIR/run"
  sock=${sock//\\/\\\\}
  sock=${sock//:/\\:}
  (umask 077 && printf '%s\n' "127.0.0.1:*:*:$PG_SUPERUSER:$pw" "localhost:*:*:$PG_SUPERUSER:$pw" \
    "$sock:*:*:$PG_SUPERUSER:$pw" >"$f.tmp")
  mv -f "$f.tmp" "$f"
}

# pg_hba.conf: the password (scram-sha-256) on the socket and on 127.0.0.1 (where the server
# listens), for everyone; nothing trusted.
pg_hba_text() {
  printf '%s\n' "# Written by scripts/stack: every connection gives the password (.stack/postgres/pgpass)" \
    "local all all scram-sha-256" "host all all 127.0.0.1/32 scram-sha-256"
}

# pg_auth_current: the passfile holds a password and pg_hba.conf is ours (the password asked for)
pg_auth_current() {
  [[ -n $(pg_password) && $(cat "$PG_DIR/data/pg_hba.conf" 2>/dev/null) == "$(pg_hba_text)" ]]
}

# pg_auth DATA: the superuser's password set (in single-user mode: with no server running, so none
# ever listens while the cluster trusts) and asked for (pg_hba.conf). It keeps the passfile's
# password, or makes one (24 random bytes, hex). A cluster made before passwords (pg_hba.conf with
# trust, a superuser without a password: .stack/postgres of every earlier `up`) is migrated in
# place, its data untouched: the password set, then pg_hba.conf replaced. Idempotent: a step cut
# short is done again by the next `up`.
pg_auth() {
  local data=$1 pw out tmp="$PG_DIR/pg_hba.conf.tmp"
  pw=$(pg_password)
  if [[ -n $pw && $(cat "$data/pg_hba.conf" 2>/dev/null) == "$(pg_hba_text)" ]]; then
    pg_write_passfile "$pw"   # again: the socket directory may have moved
    return 0
  fi
  [[ -n $pw ]] || pw=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  # kept before it is set: a password set but not kept would lock us out
  pg_write_passfile "$pw"
  say "PostgreSQL: $PG_SUPERUSER gets a password ($PG_DIR/pgpass), pg_hba.conf asks for it (scram-sha-256)"
  # through stdin, never a command line; one statement a line (single-user mode's default)
  if ! out=$(printf "SET password_encryption = 'scram-sha-256'\nALTER ROLE \"%s\" PASSWORD '%s'\n" "$PG_SUPERUSER" "$pw" \
               | ${PG_AS[@]+"${PG_AS[@]}"} "$PG_BIN/postgres" --single -D "$data" postgres 2>&1) \
     || grep -q 'ERROR' <<<"$out"; then
    printf '%s\n' "${out//$pw/<password>}" >>"$LOG/postgres-auth.log"
    die "could not set $PG_SUPERUSER's password in single-user mode; see $LOG/postgres-auth.log"
  fi
  pg_hba_text >"$tmp"
  chmod 600 "$tmp"
  if ((${#PG_AS[@]} > 0)); then chown "$(id -u "$PG_OS_USER"):$(id -g "$PG_OS_USER")" "$tmp"; fi
  # a rename: it replaces whatever the server's user left at that name, never writes through it
  mv -f "$tmp" "$data/pg_hba.conf"
}

# Fast shutdown (SIGINT): sessions end, a checkpoint, exit. stop_pg if it does not go.
stop_postgres() {
  if ! pid_alive postgres; then
    rm -f "$RUN/postgres.pid"
    return 0
  fi
  local pid i
  pid=$(pid_of postgres)
  kill -INT "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  stop_pg postgres || true
  say "stopped postgres"
}
