#!/usr/bin/env bash
# The scheduler's cost as pipelines and history grow: generated fan-out pipelines of N trivial
# steps (`echo i > out/x.txt`, no inputs), each run in a fresh workspace: once cold, then
# RERUNS times unchanged (every step reused; each re-run adds a job to the history). Wall time
# of `sluice job create` and per-step milliseconds.
#
#   bench/scheduler/run.sh                 SIZES="10 100 1000 2000" RERUNS=3
#   SIZES="10000" RERUNS=2 bench/scheduler/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
sizes="${SIZES:-10 100 1000 2000}"
reruns="${RERUNS:-3}"
out="$here/results"
mkdir -p "$out"
source "$repo/bench/lib.sh"
build_sluice
make_tmp bench-scheduler

for n in $sizes; do
  python3 - "$n" > "$tmp/p$n.yml" <<'PY'
import sys
n = int(sys.argv[1])
print("type: pipeline\njobs:")
for i in range(n):
    print(f"  s{i}:\n    type: command\n    command: echo {i} > ${{{{outputs.out}}}}/x.txt\n    outputs:\n      out:\n        type: uri_folder")
PY
  ws="$tmp/ws$n"; mkdir -p "$ws"
  times=()
  for r in $(seq 0 "$reruns"); do
    t0=$(date +%s.%N)
    (cd "$ws" && "$sluice" job create -f "$tmp/p$n.yml" -o none)
    t1=$(date +%s.%N)
    times+=("$(python3 -c "print(round($t1 - $t0, 3))")")
  done
  python3 - "$n" "$commit" "${times[@]}" <<'PY' | tee "$out/steps-$n.json" >&2
import json, sys
n, commit, times = int(sys.argv[1]), sys.argv[2], [float(t) for t in sys.argv[3:]]
print(json.dumps({"steps": n, "cold_s": times[0], "cached_s": times[1:], "sluice": commit}))
PY
  rm -rf "$ws"
done

python3 - "$out" <<'PY'
import glob, json, os, sys
rows = sorted((json.load(open(f)) for f in glob.glob(os.path.join(sys.argv[1], "steps-*.json"))), key=lambda r: r["steps"])
print("| steps | cold | ms a step | cached re-runs (each adds a job to the history) | ms a step (last) |")
print("|---|---|---|---|---|")
for r in rows:
    n, c = r["steps"], r["cached_s"]
    print(f"| {n} | {r['cold_s']:.2f} s | {1000 * r['cold_s'] / n:.2f} | {', '.join(f'{t:.2f} s' for t in c)} | {1000 * c[-1] / n:.2f} |")
PY
