#!/usr/bin/env bash
# Sluice's web UI beside MLflow's own (its `mlflow server` on SQLite), in one sitting, on the
# same data: an experiment of 1,000, 10,000 and 100,000 runs and a run with a 100,000-step metric,
# put in through the public REST API by populate.py; then headless Chromium (measure.mjs) times
# the runs page and the metric chart: median first render and server time of LOADS warm loads.
# Results go to bench/ui/results/ and a markdown table on stdout.
#
#   bench/ui/run.sh                      Sluice at 1k, 10k and 100k runs; MLflow at 1k and 10k
#   MLFLOW_SIZES="1000 10000 100000" bench/ui/run.sh   MLflow at 100k too: sets of BULK_FROM
#                                        (default 50,000) runs or more go into MLflow's SQLite
#                                        file as copies of the rows MLflow wrote for the set's
#                                        first run (populate.py --sql-db; its REST API takes
#                                        ~45 runs a second here, 37 min for 100,000)
#   SIZES=... HISTORY=... LOADS=...      other sizes, history length, loads per page
#   ONLY=sluice bench/ui/run.sh          Sluice only; MLflow's figures stay those in results/
#
# Needs: a release build of sluice (built here), python3, node with tests/ui's playwright-core
# (`npm ci --prefix tests/ui`), Chromium, and an `mlflow` install (a venv is made under
# $BENCH_CACHE, default ~/.cache/sluice-bench, as bench/tracking does).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=../lib.sh
source "$repo/bench/lib.sh"
need_tools python3 node curl
cache="${BENCH_CACHE:-$HOME/.cache/sluice-bench}"
out="$here/results"
sizes="${SIZES:-1000 10000 100000}"
mlflow_sizes="${MLFLOW_SIZES:-1000 10000}"
history="${HISTORY:-100000}"
mkdir -p "$out" "$cache"
[ -d "$repo/tests/ui/node_modules/playwright-core" ] || { echo "run: npm ci --prefix tests/ui" >&2; exit 2; }
[ -e "$here/node_modules" ] || ln -s "$repo/tests/ui/node_modules" "$here/node_modules"
build_sluice
make_tmp sluice-ui-bench
if [ ! -x "$cache/venv/bin/mlflow" ]; then
  echo "== installing mlflow into $cache/venv" >&2
  python3 -m venv "$cache/venv"
  "$cache/venv/bin/pip" install --quiet mlflow psycopg2-binary
fi
mlflow_version="$("$cache/venv/bin/python" -c 'import mlflow; print(mlflow.__version__)')"

# Fills the server at $1 with the sets in $2 and the history run; writes the config to $3. With
# $4 (the server's SQLite file), sets of BULK_FROM runs or more are copied in SQL.
populate() {
  local url="$1" sets="$2" config="$3" db="${4:-}" n line entries="" bulk
  for n in $sets; do
    echo "== $url: $n runs" >&2
    bulk=()
    if [ -n "$db" ] && [ "$n" -ge "${BULK_FROM:-50000}" ]; then bulk=(--sql-db "$db"); fi
    line="$(python3 "$here/populate.py" --url "$url" --runs "$n" "${bulk[@]}" | tail -1)"
    echo "   $line" >&2
    entries="$entries{\"runs\": $n, \"experiment\": $(python3 -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1])["experiment"]))' "$line")},"
  done
  echo "== $url: a $history-step metric" >&2
  line="$(python3 "$here/populate.py" --url "$url" --history "$history" | tail -1)"
  echo "   $line" >&2
  python3 - "$line" "[${entries%,}]" "$history" > "$config" <<'PY'
import json, sys
h = json.loads(sys.argv[1])
print(json.dumps({"sets": json.loads(sys.argv[2]), "history_experiment": h["history_experiment"], "history_run": h["history_run"], "history_points": int(sys.argv[3])}))
PY
}

echo "== sluice $commit" >&2
mkdir -p "$tmp/ws"
start_server "$tmp/ws"
populate "$url" "$sizes" "$tmp/sluice.json"
node "$here/measure.mjs" "$url" sluice "$tmp/sluice.json" | tee "$out/sluice.jsonl"
kill -TERM "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""

if [ "${ONLY:-}" = sluice ]; then
  echo "== ONLY=sluice: MLflow's figures are the ones already in $out/mlflow.jsonl" >&2
else
echo "== MLflow $mlflow_version" >&2
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$cache/venv/bin/mlflow" server --host 127.0.0.1 --port "$port" \
  --backend-store-uri "sqlite:///$tmp/mlflow.db" --artifacts-destination "$tmp/mlartifacts" \
  > "$tmp/mlflow.log" 2>&1 &
server_pid=$!
mlflow_url="http://127.0.0.1:$port"
for _ in $(seq 1200); do curl -fsS "$mlflow_url/health" >/dev/null 2>&1 && break; sleep 0.1; done
populate "$mlflow_url" "$mlflow_sizes" "$tmp/mlflow.json" "$tmp/mlflow.db"
node "$here/measure.mjs" "$mlflow_url" mlflow "$tmp/mlflow.json" | tee "$out/mlflow.jsonl"
kill -TERM "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
pkill -f "$tmp/mlflow.db" 2>/dev/null || true  # its gunicorn workers
fi

if [ "${ONLY:-}" = sluice ]; then
  earlier="$(cat "$out/mlflow-meta.txt" 2>/dev/null || echo "an earlier sitting")"
  echo "sluice $commit, $(date -u +%Y-%m-%dT%H:%MZ) (ONLY=sluice); MLflow's figures: $earlier" > "$out/meta.txt"
else
  echo "sluice $commit, MLflow $mlflow_version, $(date -u +%Y-%m-%dT%H:%MZ)" > "$out/meta.txt"
  echo "MLflow $mlflow_version, $(date -u +%Y-%m-%dT%H:%MZ) (the sitting with sluice $commit)" > "$out/mlflow-meta.txt"
fi
python3 - "$out" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
rows = {}
for ui in ("sluice", "mlflow"):
    f = out / f"{ui}.jsonl"
    for line in f.read_text().splitlines() if f.exists() else []:
        r = json.loads(line)
        rows.setdefault(r["page"], {})[ui] = r
print((out / "meta.txt").read_text().strip())
print()
print("| page | Sluice first render (ms) | Sluice server (ms) | MLflow first render (ms) | MLflow server (ms) |")
print("|---|---|---|---|---|")
for page, r in rows.items():
    s, m = r.get("sluice", {}), r.get("mlflow", {})
    print(f"| {page} | {s.get('first_render_ms', '—')} | {s.get('server_ms', '—')} | {m.get('first_render_ms', '—')} | {m.get('server_ms', '—')} |")
PY
