#!/usr/bin/env bash
# Side-by-side benchmark of `sluice server` and MLflow's own server (SQLite backend) with the
# MLflow-API load harness, in one sitting on one machine. Each server is started fresh, the
# harness runs twice against it and the second run is kept (first runs after a start are slower
# on MLflow). Results go to bench/tracking/results/ and a markdown table on stdout.
#
#   bench/tracking/run.sh [HARNESS]      HARNESS defaults to ../shared/bench/tracking_load.py
#   ONLY=sluice bench/tracking/run.sh    re-measure sluice only, keeping the MLflow figures
#
# Needs: a release build of sluice (built here), python3, and an `mlflow` install (a venv is made
# under $BENCH_CACHE, default ~/.cache/sluice-bench, with `pip install mlflow`).
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
  "$cache/venv/bin/pip" install --quiet mlflow
fi
mlflow_version="$("$cache/venv/bin/python" -c 'import mlflow; print(mlflow.__version__)')"

wait_ready() { # url
  for _ in $(seq 600); do
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

# ---- sluice
ws="$(mktemp -d)"
port=5901
t0=$(date +%s.%N)
"$sluice" --workspace "$ws" server --port "$port" 2>"$out/sluice.server.log" &
spid=$!
wait_ready "http://127.0.0.1:$port"
t1=$(date +%s.%N)
echo "$t0 $t1" | awk '{printf "%.3f\n", $2 - $1}' > "$out/sluice.start_s"
run_harness sluice "http://127.0.0.1:$port" "$spid"
kill -TERM "$spid"; wait "$spid" || true
rm -rf "$ws"

# ---- mlflow (ONLY=sluice keeps the MLflow figures of an earlier run in this results folder)
if [ "${ONLY:-}" = "sluice" ]; then
  python3 "$here/report.py" "$out" "$mlflow_version"
  exit 0
fi
mws="$(mktemp -d)"
port=5902
t0=$(date +%s.%N)
"$cache/venv/bin/mlflow" server --host 127.0.0.1 --port "$port" \
  --backend-store-uri "sqlite:///$mws/mlflow.db" --artifacts-destination "$mws/artifacts" \
  >"$out/mlflow.server.log" 2>&1 &
mpid=$!
wait_ready "http://127.0.0.1:$port"
t1=$(date +%s.%N)
echo "$t0 $t1" | awk '{printf "%.3f\n", $2 - $1}' > "$out/mlflow.start_s"
run_harness mlflow "http://127.0.0.1:$port" "$mpid"
pkill -TERM -P "$mpid" 2>/dev/null || true
kill -TERM "$mpid"; wait "$mpid" || true
rm -rf "$mws"

python3 "$here/report.py" "$out" "$mlflow_version"
