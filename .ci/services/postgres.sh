#!/usr/bin/env bash
# A private, throwaway PostgreSQL cluster for CI and tests (fsync off: never for real data).
#
# Usage: .ci/services/postgres.sh install
#        .ci/services/postgres.sh start   <dir>   # prints the URL (one line) on stdout
#        .ci/services/postgres.sh stop    <dir>
#        .ci/services/postgres.sh restart <dir> [seconds-down]   # same port, same data
#
# `start` picks a free TCP port on 127.0.0.1, creates the cluster in <dir>/data (first time),
# starts it listening on 127.0.0.1 and a unix socket in <dir> only, creates the role `sluice`
# (LOGIN CREATEDB: tests make a database or schema each) and the database `sluice` it owns, and
# prints `postgresql://sluice@127.0.0.1:PORT/sluice`. Authentication is `trust`, which is only
# acceptable because nothing but 127.0.0.1 and the socket in <dir> is listened on.
# Files in <dir>: url, port, pid (the postmaster), server.log, initdb.log, data/.
# As root, initdb/postgres run as the `postgres` user (they refuse root), so <dir> and each of
# its parents must be reachable by that user; otherwise they run as the current user.
# Everything but the URL goes to stderr.
set -euo pipefail

SERVICE=postgres.sh
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

pg_bin() {
  local b
  b=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [ -n "$b" ] && [ -x "$b/initdb" ]; then
    printf '%s\n' "$b"
  elif command -v initdb >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v initdb)")"
  else
    die "no initdb found: run '$0 install' first"
  fi
}

# Runs a command as the cluster's owner: `postgres` when we are root, else ourselves.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

# The unix socket lives in <dir>, unless that path is too long for a socket (107 bytes).
socket_dir() {
  local dir=$1
  if [ -s "$dir/socketdir" ]; then
    cat "$dir/socketdir"
  elif [ ${#dir} -le 80 ]; then
    echo "$dir"
  else
    local s
    s=$(mktemp -d /tmp/pgsock.XXXXXX)
    chmod 755 "$s"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$s"
    echo "$s" | tee "$dir/socketdir"
  fi
}

postmaster_pid() { # the live postmaster's PID from data/postmaster.pid, or nothing
  local f=$1/data/postmaster.pid p
  [ -s "$f" ] || return 0
  p=$(head -1 "$f")
  if [ -n "$p" ] && alive "$p"; then echo "$p"; fi
}

cmd_install() {
  local b
  b=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [ -n "$b" ] && [ -x "$b/initdb" ]; then
    log "already installed: $b"
    return 0
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "PostgreSQL is not installed and installing needs root"
    sudo="sudo"
  fi
  local t0; t0=$(now_ns)
  if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2; then
    log "install failed; updating the package lists and retrying"
    $sudo apt-get update -qq >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2
  fi
  log "installed in $(elapsed "$t0") s"
}

# start_on <dir> <port>: init (first time) and start the cluster on that port, make the role
# and database, write url/port/pid. Returns 2 when the server would not start; any other failure
# exits (explicitly: callers run it under `||`, where `set -e` does not apply).
start_on() {
  local dir=$1 port=$2 b sock
  b=$(pg_bin) || exit 1
  sock=$(socket_dir "$dir") || exit 1
  if [ ! -s "$dir/data/PG_VERSION" ]; then
    rm -rf "$dir/data"
    as_owner "$b/initdb" -D "$dir/data" -U postgres -E UTF8 --locale=C \
      --auth-local=trust --auth-host=trust --no-instructions >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  fi
  if ! as_owner "$b/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -s -o \
    "-c listen_addresses=127.0.0.1 -p $port -k $sock -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >&2; then
    tail -20 "$dir/server.log" >&2 || true
    return 2
  fi
  echo "$port" >"$dir/port" || die "cannot write $dir/port"
  postmaster_pid "$dir" >"$dir/pid" || die "cannot write $dir/pid"
  [ -s "$dir/pid" ] || die "the server started but its PID is unknown"

  "$b/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -X -q -v ON_ERROR_STOP=1 >&2 <<'SQL' \
    || die "creating the role and database sluice failed"
SELECT 'CREATE ROLE sluice LOGIN CREATEDB'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sluice') \gexec
SELECT 'CREATE DATABASE sluice OWNER sluice'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'sluice') \gexec
SQL
  local url="postgresql://sluice@127.0.0.1:$port/sluice"
  echo "$url" >"$dir/url" || die "cannot write $dir/url"
  chmod 644 "$dir/url" "$dir/port" "$dir/pid"
}

prepare_dir() { # prepare_dir <dir>: the absolute path, made and owned right
  local dir
  dir=$(abs_dir "$1" create)
  chmod 755 "$dir"
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || die "no 'postgres' user (run '$0 install')"
    chown postgres:postgres "$dir"
    runuser -u postgres -- test -w "$dir" \
      || die "user postgres cannot write $dir (a parent directory is not reachable)"
  fi
  echo "$dir"
}

cmd_start() {
  local dir t0 port try rc
  t0=$(now_ns)
  dir=$(prepare_dir "$1")
  [ -z "$(postmaster_pid "$dir")" ] || die "already running in $dir (url: $(cat "$dir/url" 2>/dev/null))"
  for try in 1 2 3; do
    port=$(free_port)
    rc=0
    start_on "$dir" "$port" || rc=$?
    [ "$rc" -eq 0 ] && break
    # The port may have been taken between choosing and binding it: choose again.
    [ "$try" -lt 3 ] || die "the server did not start (see $dir/server.log)"
    log "start on port $port failed; trying another port"
  done
  log "started in $(elapsed "$t0") s: pid $(cat "$dir/pid"), port $port, data $dir/data"
  cat "$dir/url"
}

cmd_stop() {
  local dir t0 pid b i
  t0=$(now_ns)
  dir=$(abs_dir "$1")
  pid=$(cat "$dir/pid" 2>/dev/null || true)
  b=$(pg_bin)
  if [ -s "$dir/data/postmaster.pid" ] \
    && as_owner "$b/pg_ctl" -D "$dir/data" -m fast -w -t 60 -s stop >&2; then
    :
  elif [ -n "$pid" ] && alive "$pid"; then
    log "pg_ctl stop failed; sending TERM to $pid"
    kill -TERM "$pid" 2>/dev/null || true
  fi
  if [ -n "$pid" ]; then
    for i in $(seq 1 300); do # up to 30 s
      alive "$pid" || break
      sleep 0.1
    done
    if alive "$pid"; then
      log "$pid still running after 30 s; sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
    fi
    ! alive "$pid" || die "postmaster $pid is still running"
  fi
  rm -f "$dir/pid"
  log "stopped in $(elapsed "$t0") s"
}

cmd_restart() {
  local dir t0 port rc=0
  t0=$(now_ns)
  dir=$(abs_dir "$1")
  [ -s "$dir/port" ] || die "no $dir/port: was it started with '$0 start $1'?"
  port=$(cat "$dir/port")
  cmd_stop "$dir"
  # Optionally stay down a while (tests watch a server answer 503 meanwhile).
  if [ -n "${2:-}" ]; then
    log "down for $2 s"
    sleep "$2"
  fi
  dir=$(prepare_dir "$dir")
  start_on "$dir" "$port" || rc=$?
  [ "$rc" -eq 0 ] || die "the server did not restart on port $port (see $dir/server.log)"
  log "restarted in $(elapsed "$t0") s: pid $(cat "$dir/pid"), port $port"
  cat "$dir/url"
}

usage() { die "usage: $0 install | start <dir> | stop <dir> | restart <dir> [seconds-down]"; }

case "${1:-}" in
  install) cmd_install ;;
  start) [ $# -eq 2 ] || usage; cmd_start "$2" ;;
  stop) [ $# -eq 2 ] || usage; cmd_stop "$2" ;;
  restart) [ $# -eq 2 ] || [ $# -eq 3 ] || usage; cmd_restart "$2" "${3:-}" ;;
  *) usage ;;
esac
