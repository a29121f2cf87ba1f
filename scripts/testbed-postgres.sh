#!/usr/bin/env bash
# Make this machine ready for the Postgres ledger's tests (the `postgres`
# test project) without systemd:
#   1. PostgreSQL 15 from Debian (postgresql-15) when missing,
#   2. an unprivileged user to run it (BOT_BOTTLE_PG_USER, default bbpg;
#      initdb refuses root),
#   3. a cluster in BOT_BOTTLE_PG_DIR (default /var/tmp/bot-bottle-pg; kept
#      across restarts of the machine's services) listening on 127.0.0.1 and a
#      socket in that directory only, port BOT_BOTTLE_PG_PORT (default 55432),
#      password logins over TCP,
#   4. role and database `botbottle` (the role may create databases: each
#      test file makes its own), its URL written to $BOT_BOTTLE_PG_DIR/url
#      (mode 0644) and printed on stdout.
# Idempotent: a second run only checks and returns in about a second. A
# server that died (its postmaster.pid left behind) is started again.
set -euo pipefail

PG_USER="${BOT_BOTTLE_PG_USER:-bbpg}"
PG_DIR="${BOT_BOTTLE_PG_DIR:-/var/tmp/bot-bottle-pg}"
PG_PORT="${BOT_BOTTLE_PG_PORT:-55432}"
DATA="$PG_DIR/data"
RUN="$PG_DIR/run"
LOG="$PG_DIR/server.log"
URL_FILE="$PG_DIR/url"
PASS_FILE="$PG_DIR/password"

log() { printf '[testbed-postgres] %s\n' "$*" >&2; }
die() { printf '[testbed-postgres] error: %s\n' "$*" >&2; exit 1; }

pg_bindir() {
  local d
  for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    if [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
  done
  return 1
}

# --- 1: packages --------------------------------------------------------------------
if ! BIN="$(pg_bindir)"; then
  [ "$(id -u)" -eq 0 ] || die "PostgreSQL is not installed; re-run as root (sudo $0) to install postgresql-15"
  log "apt-get install postgresql-15"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # The Debian package would make (and start) a cluster of its own; this
  # script runs its own, so it asks for none. --force-confold keeps that file.
  if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    mkdir -p /etc/postgresql-common
    echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.conf
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confold postgresql-15 >/dev/null
  BIN="$(pg_bindir)" || die "postgresql-15 installed but initdb was not found"
fi

# --- 2: the user ------------------------------------------------------------------------
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$PG_USER" -- "$@"
  else
    "$@"
  fi
}
if [ "$(id -u)" -eq 0 ]; then
  if ! id "$PG_USER" >/dev/null 2>&1; then
    log "creating system user $PG_USER"
    useradd --system --home-dir "$PG_DIR" --no-create-home --shell /usr/sbin/nologin "$PG_USER"
  fi
  owner="$PG_USER"
else
  owner="$(id -un)"
fi
mkdir -p "$PG_DIR" "$RUN"
chown "$owner:" "$PG_DIR" "$RUN"
chmod 0755 "$PG_DIR"
# Clients connect over TCP with a password; the socket (peer logins) is the owner's way in.
chmod 0755 "$RUN"

answers() { as_pg "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2; }

url_works() {
  [ -s "$URL_FILE" ] || return 1
  PGCONNECT_TIMEOUT=3 psql_bin -X -q -t -A "$(cat "$URL_FILE")" -c 'SELECT 1' >/dev/null 2>&1
}
psql_bin() { "$BIN/psql" "$@"; }

# Fast path: running, and the URL logs in.
if answers && url_works; then
  log "ready (already running): $(cat "$URL_FILE" | sed -E 's#://([^:/@]+):[^@]*@#://\1:***@#')"
  cat "$URL_FILE"
  exit 0
fi

# --- 3: the cluster -------------------------------------------------------------------
if [ ! -s "$DATA/PG_VERSION" ]; then
  log "initdb $DATA"
  rm -rf "$DATA"
  as_pg mkdir -p "$DATA"
  as_pg "$BIN/initdb" -D "$DATA" --auth-local=peer --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 -U "$owner" >"$PG_DIR/initdb.log" 2>&1 \
    || { tail -n 20 "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
fi

# A server killed (or a machine whose services were restarted) leaves
# postmaster.pid behind; a pid now reused by another program makes the next
# start refuse. Remove the file unless its pid is a live postgres.
stale_pidfile() {
  local f="$DATA/postmaster.pid" pid comm
  [ -f "$f" ] || return 0
  pid="$(head -n 1 "$f" 2>/dev/null || true)"
  comm="$(ps -o comm= -p "$pid" 2>/dev/null | tr -d ' ' || true)"
  if [ "$comm" != "postgres" ]; then
    log "removing stale postmaster.pid (pid ${pid:-?} is not a running postgres)"
    rm -f "$f" "$RUN/.s.PGSQL.$PG_PORT.lock"
  fi
}

if ! answers; then
  stale_pidfile
  if [ -f "$DATA/postmaster.pid" ]; then
    # A live postgres that does not answer yet: give it time (crash recovery).
    for _ in $(seq 1 30); do answers && break; sleep 1; done
  fi
  if ! answers; then
    log "starting postgres on 127.0.0.1:$PG_PORT (log: $LOG)"
    touch "$LOG" && chown "$owner:" "$LOG"
    as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
      -o "-k $RUN -h 127.0.0.1 -p $PG_PORT" start >/dev/null \
      || { tail -n 30 "$LOG" >&2; die "postgres did not start"; }
  fi
fi
answers || die "postgres does not answer on 127.0.0.1:$PG_PORT"

# --- 4: role, database, URL -----------------------------------------------------------
if [ ! -s "$PASS_FILE" ]; then
  (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$PASS_FILE")
fi
pass="$(cat "$PASS_FILE")"
as_pg "$BIN/psql" -X -q -h "$RUN" -p "$PG_PORT" -d postgres -v ON_ERROR_STOP=1 -v pass="$pass" >/dev/null <<'SQL'
SELECT format('CREATE ROLE botbottle LOGIN CREATEDB PASSWORD %L', :'pass')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'botbottle') \gexec
SELECT format('ALTER ROLE botbottle LOGIN CREATEDB PASSWORD %L', :'pass') \gexec
SELECT 'CREATE DATABASE botbottle OWNER botbottle'
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'botbottle') \gexec
SQL
url="postgres://botbottle:$pass@127.0.0.1:$PG_PORT/botbottle"
printf '%s\n' "$url" >"$URL_FILE.tmp"
chmod 0644 "$URL_FILE.tmp"
mv "$URL_FILE.tmp" "$URL_FILE"
url_works || die "the URL in $URL_FILE does not log in"
log "ready: postgres://botbottle:***@127.0.0.1:$PG_PORT/botbottle (URL in $URL_FILE)"
echo "$url"
