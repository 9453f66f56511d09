#!/usr/bin/env bash
# Side-by-side benchmark of `sluice server` and MLflow's own server with the MLflow-API load
# harness, in one sitting on one machine, on SQLite and on PostgreSQL: four servers, each
# started fresh on an empty store, the harness run twice against it and the second run kept
# (first runs after a start are slower on MLflow). Results go to bench/tracking/results/ and a
# markdown table on stdout.
#
#   bench/tracking/run.sh [HARNESS]      HARNESS defaults to ../shared/bench/tracking_load.py
#   ONLY=sluice bench/tracking/run.sh    re-measure sluice only (both backends), keeping the
#                                        MLflow figures; ONLY takes labels: sluice, mlflow,
#                                        sluice-pg, mlflow-pg ("sluice" also means sluice-pg)
#   BACKENDS=sqlite bench/tracking/run.sh   SQLite only (default: "sqlite postgres")
#
# Needs: a release build of sluice (built here), python3, an `mlflow` install with psycopg2 (a
# venv is made under $BENCH_CACHE, default ~/.cache/sluice-bench), and for PostgreSQL the
# server packages (`.ci/services/postgres.sh install`): a private cluster is started on a free
# port (fsync off, as in CI: both servers get the same), with one database per server.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
harness="${1:-$repo/../shared/bench/tracking_load.py}"
cache="${BENCH_CACHE:-$HOME/.cache/sluice-bench}"
out="$here/results"
budget="${BUDGET:-110}"
mkdir -p "$out" "$cache"
[ -f "$harness" ] || { echo "harness not found: $harness" >&2; exit 2; }

echo "== building sluice (release)" >&2
(cd "$repo" && cargo build --release --locked -p sluice >&2)
sluice="$repo/target/release/sluice"

if [ ! -x "$cache/venv/bin/mlflow" ]; then
  echo "== installing mlflow into $cache/venv" >&2
  python3 -m venv "$cache/venv"
  "$cache/venv/bin/pip" install --quiet mlflow psycopg2-binary
fi
mlflow_version="$("$cache/venv/bin/python" -c 'import mlflow; print(mlflow.__version__)')"

wait_ready() { # url
  for _ in $(seq 2400); do  # MLflow migrates a new PostgreSQL database for a while
    curl -fsS "$1/health" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "server at $1 did not become ready" >&2; return 1
}

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

run_harness() { # label url pid
  local label="$1" url="$2" pid="$3" peak=0
  python3 "$harness" --url "$url" --populate-only --budget 600 >/dev/null 2>&1 || true
  for i in 1 2; do
    python3 "$harness" --url "$url" --budget "$budget" --label "$label" --json-out "$out/$label.run$i.json" \
      > "$out/$label.run$i.txt" 2>&1 &
    local hp=$!
    while kill -0 "$hp" 2>/dev/null; do
      r=$(rss_kb "$pid"); [ "$r" -gt "$peak" ] && peak=$r
      sleep 0.5
    done
    wait "$hp" || true
  done
  echo "$peak" > "$out/$label.peak_rss_kb"
}

backends="${BACKENDS:-sqlite postgres}"
pgdir=""
cleanup() {
  if [ -n "$pgdir" ]; then
    bash "$repo/.ci/services/postgres.sh" stop "$pgdir" >/dev/null 2>&1 || true
    rm -rf "$pgdir"
  fi
}
trap cleanup EXIT

# The private PostgreSQL server (started here, in this shell, so the trap stops it).
if [[ " $backends " == *" postgres "* ]]; then
  pgdir="$(mktemp -d)"
  chmod 755 "$pgdir"
  bash "$repo/.ci/services/postgres.sh" start "$pgdir" >/dev/null
fi

# A fresh database on the private PostgreSQL server; prints its URL.
pg_database() { # name
  local port psql
  port="$(cat "$pgdir/port")"
  psql="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/psql"
  "$psql" -h 127.0.0.1 -p "$port" -U sluice -d sluice -X -q -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >&2
  echo "postgresql://sluice@127.0.0.1:$port/$1"
}

# Whether ONLY (empty: everything) asks for this label.
wanted() { # label
  [ -z "${ONLY:-}" ] && return 0
  local w
  for w in ${ONLY//,/ }; do
    [ "$1" = "$w" ] || [[ "$1" == "$w-"* ]] && return 0
  done
  return 1
}

# start_and_measure <label> <port> <command...>: starts a server, runs the harness, stops it.
start_and_measure() {
  local label="$1" port="$2"; shift 2
  local t0 t1 pid
  t0=$(date +%s.%N)
  "$@" >"$out/$label.server.log" 2>&1 &
  pid=$!
  wait_ready "http://127.0.0.1:$port"
  t1=$(date +%s.%N)
  echo "$t0 $t1" | awk '{printf "%.3f\n", $2 - $1}' > "$out/$label.start_s"
  run_harness "$label" "http://127.0.0.1:$port" "$pid"
  pkill -TERM -P "$pid" 2>/dev/null || true
  kill -TERM "$pid"; wait "$pid" || true
}

for backend in $backends; do
  suffix=""; [ "$backend" = postgres ] && suffix="-pg"
  if wanted "sluice$suffix"; then
    ws="$(mktemp -d)"
    if [ "$backend" = postgres ]; then
      start_and_measure "sluice$suffix" 5901 "$sluice" --store "$(pg_database sluice_bench)" \
        --workspace "$ws" server --port 5901
    else
      start_and_measure sluice 5901 "$sluice" --workspace "$ws" server --port 5901
    fi
    rm -rf "$ws"
  fi
  # Labels not asked for keep their figures from an earlier run in this results folder.
  wanted "mlflow$suffix" || continue
  mws="$(mktemp -d)"
  if [ "$backend" = postgres ]; then
    # SQLAlchemy's driver named: its default for postgresql:// is psycopg 3.
    backend_uri="$(pg_database mlflow_bench)"
    backend_uri="postgresql+psycopg2://${backend_uri#postgresql://}"
  else
    backend_uri="sqlite:///$mws/mlflow.db"
  fi
  start_and_measure "mlflow$suffix" 5902 "$cache/venv/bin/mlflow" server --host 127.0.0.1 \
    --port 5902 --backend-store-uri "$backend_uri" --artifacts-destination "$mws/artifacts"
  rm -rf "$mws"
done

python3 "$here/report.py" "$out" "$mlflow_version"
