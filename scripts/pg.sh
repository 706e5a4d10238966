#!/usr/bin/env bash
# A private PostgreSQL server for the gradebook, run from files this project owns.
#
#   scripts/pg.sh start    initialise $PGDIR (first time) and start the server on 127.0.0.1:$PGPORT
#   scripts/pg.sh stop     stop it (the data stay in $PGDIR)
#   scripts/pg.sh status   say whether it runs
#   scripts/pg.sh url      print the SQLAlchemy URL of the gradebook database (contains the password)
#
# PGDIR (default .pg/, git-ignored) holds data/ (the cluster), password (generated, mode 600), port and
# log. The server listens on 127.0.0.1 only, has no Unix socket and asks for the password (scram-sha-256).
# The binaries come from the postgresql package (apt-get install postgresql): pg_ctl under
# /usr/lib/postgresql/<version>/bin or on PATH. PostgreSQL refuses to run as root: as root the server
# runs as the `postgres` user the package creates, and $PGDIR is given to that user.
set -euo pipefail

cd "$(dirname "$0")/.."
PGDIR=${PGDIR:-.pg}
PGPORT=${PGPORT:-5433}
PGUSER_NAME=nbgrader
PGDATABASE_NAME=gradebook
[ "${1:-}" = start ] && mkdir -p "$PGDIR"
[ -d "$PGDIR" ] && PGDIR=$(cd "$PGDIR" && pwd)
DATA=$PGDIR/data

bindir() {  # the newest /usr/lib/postgresql/<version>/bin, else where pg_ctl on PATH really lives
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$d" ] && command -v pg_ctl >/dev/null 2>&1; then d=$(dirname "$(readlink -f "$(command -v pg_ctl)")"); fi
  if [ -z "$d" ] || [ ! -x "$d/pg_ctl" ]; then
    echo "pg.sh: no PostgreSQL server found (install it: apt-get install postgresql)" >&2
    exit 2
  fi
  echo "$d"
}
BIN=$(bindir)

as_owner() {  # run a server command as the owner of the cluster
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

running() { [ -f "$DATA/PG_VERSION" ] && as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

port() { cat "$PGDIR/port" 2>/dev/null || echo "$PGPORT"; }

url() {
  printf 'postgresql+psycopg2://%s:%s@127.0.0.1:%s/%s\n' \
    "$PGUSER_NAME" "$(cat "$PGDIR/password")" "$(port)" "$PGDATABASE_NAME"
}

init() {
  [ -f "$DATA/PG_VERSION" ] && return
  umask 077
  head -c 18 /dev/urandom | base64 | tr -d '+/=' > "$PGDIR/password"
  if [ "$(id -u)" = 0 ]; then chown -R postgres: "$PGDIR"; fi
  as_owner "$BIN/initdb" -D "$DATA" -U "$PGUSER_NAME" --pwfile="$PGDIR/password" \
    --auth-host=scram-sha-256 --auth-local=reject -E UTF8 --locale=C >"$PGDIR/initdb.log"
  cat >>"$DATA/postgresql.conf" <<EOF
# cnn-course gradebook server (scripts/pg.sh)
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
EOF
}

start() {
  init
  if running; then echo "PostgreSQL already runs on 127.0.0.1:$(port) (data in $DATA)"; return; fi
  echo "$PGPORT" > "$PGDIR/port"
  if [ "$(id -u)" = 0 ]; then chown -R postgres: "$PGDIR"; fi
  as_owner "$BIN/pg_ctl" -D "$DATA" -l "$PGDIR/log" -o "-p $PGPORT" -w -t 30 start >/dev/null
  # create the gradebook database on first start
  PGPASSWORD=$(cat "$PGDIR/password") "$BIN/psql" -h 127.0.0.1 -p "$PGPORT" -U "$PGUSER_NAME" -d postgres -qtA \
    -c "SELECT 1 FROM pg_database WHERE datname = '$PGDATABASE_NAME'" | grep -q 1 \
    || PGPASSWORD=$(cat "$PGDIR/password") "$BIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U "$PGUSER_NAME" "$PGDATABASE_NAME"
  echo "PostgreSQL runs on 127.0.0.1:$PGPORT (data in $DATA, log $PGDIR/log)"
}

stop() {
  if running; then
    as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
    echo "PostgreSQL stopped (data kept in $DATA)"
  else
    echo "PostgreSQL is not running"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "running on 127.0.0.1:$(port)"; else echo "stopped"; exit 3; fi ;;
  url) [ -f "$PGDIR/password" ] || { echo "pg.sh: not initialised; run scripts/pg.sh start" >&2; exit 2; }; url ;;
  *) echo "usage: $0 start|stop|status|url" >&2; exit 64 ;;
esac
