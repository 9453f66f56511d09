#!/usr/bin/env bash
# The scheduler's cost as pipelines and history grow: generated pipelines of N trivial steps
# (`echo i > out/x.txt`), each run in a fresh workspace: once cold (beside the steps' own
# processes run alone, before and after it), then RERUNS times unchanged
# (every step reused; each re-run adds a job to the history). Wall time of `sluice job create`
# and per-step milliseconds.
#
#   bench/scheduler/run.sh                 SIZES="10 100 1000 2000" RERUNS=3 SHAPE=fan
#   SIZES="10000" RERUNS=2 bench/scheduler/run.sh
#   SHAPE=chain bench/scheduler/run.sh     each step reads the number the one before wrote and
#                                          writes it plus one (a chain; shell builtins, so a
#                                          step costs the same at any length)
#   SIZES=2000 RERUNS=100 bench/scheduler/run.sh    a history of 100 earlier jobs
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
sizes="${SIZES:-10 100 1000 2000}"
reruns="${RERUNS:-3}"
shape="${SHAPE:-fan}"
case "$shape" in fan|chain) ;; *) echo "SHAPE is fan or chain" >&2; exit 2 ;; esac
out="$here/results"
mkdir -p "$out"
source "$repo/bench/lib.sh"
build_sluice
make_tmp bench-scheduler

for n in $sizes; do
  python3 - "$n" "$shape" > "$tmp/p$n.yml" <<'PY'
import sys
n, shape = int(sys.argv[1]), sys.argv[2]
print("type: pipeline\njobs:")
for i in range(n):
    if shape == "chain" and i > 0:
        print(f"  s{i}:\n    type: command\n    command: read -r n < ${{{{inputs.x}}}}/x.txt; echo $((n + 1)) > ${{{{outputs.out}}}}/x.txt\n    inputs:\n      x: ${{{{parent.jobs.s{i - 1}.outputs.out}}}}\n    outputs:\n      out:\n        type: uri_folder")
    else:
        print(f"  s{i}:\n    type: command\n    command: echo {i} > ${{{{outputs.out}}}}/x.txt\n    outputs:\n      out:\n        type: uri_folder")
PY
  ws="$tmp/ws$n"; mkdir -p "$ws"
  # The steps' own processes alone, just before and just after the cold run: the same command
  # (a shell) run N times one after another from a shell loop.
  spawn() {
    local d="$tmp/spawn$n"; mkdir -p "$d"; echo 0 > "$d/x.txt"
    local t0 t1
    t0=$(date +%s.%N)
    if [ "$shape" = chain ]; then
      (cd "$d" && for i in $(seq "$n"); do bash -c 'read -r n < x.txt; echo $((n + 1)) > x.txt'; done)
    else
      (cd "$d" && for i in $(seq "$n"); do bash -c "echo $i > x.txt"; done)
    fi
    t1=$(date +%s.%N)
    python3 -c "print(round($t1 - $t0, 3))"
  }
  spawn_before=$(spawn)
  times=()
  for r in $(seq 0 "$reruns"); do
    t0=$(date +%s.%N)
    (cd "$ws" && "$sluice" job create -f "$tmp/p$n.yml" -o none)
    t1=$(date +%s.%N)
    times+=("$(python3 -c "print(round($t1 - $t0, 3))")")
    if [ "$r" -eq 0 ]; then
      spawn_after=$(spawn)
      if [ "$shape" = chain ]; then
        # The chain ran through: its last step holds n - 1.
        last=$(find "$ws/.sluice/jobs" -path "*/steps/s$((n - 1))/outputs/out/x.txt" -print -quit)
        [ -n "$last" ] || { echo "chain of $n: the last step wrote no output" >&2; exit 1; }
        [ "$(cat "$last")" = "$((n - 1))" ] || { echo "chain of $n: the last step holds $(cat "$last")" >&2; exit 1; }
      fi
    fi
  done
  name="steps-$n"
  [ "$shape" = fan ] || name="$shape-$n"
  [ "$reruns" -le 3 ] || name="$name-history-$reruns"
  python3 - "$n" "$commit" "$shape" "$spawn_before" "$spawn_after" "${times[@]}" <<'PY' | tee "$out/$name.json" >&2
import json, sys
n, commit, shape = int(sys.argv[1]), sys.argv[2], sys.argv[3]
spawn = [float(sys.argv[4]), float(sys.argv[5])]
times = [float(t) for t in sys.argv[6:]]
print(json.dumps({"steps": n, "shape": shape, "cold_s": times[0], "cached_s": times[1:],
                  "spawn_s": spawn, "sluice": commit}))
PY
  # Workspaces are removed on exit, not here: an ext4 folder that has just freed many inodes
  # makes the next ones slower to allocate (up to 3x a `mkdir`), which would weigh on the next
  # size's cold run and not on its baseline.
done

python3 - "$out" <<'PY'
import glob, json, os, statistics, sys
rows = [json.load(open(f)) for f in glob.glob(os.path.join(sys.argv[1], "*.json"))]
rows.sort(key=lambda r: (r.get("shape", "fan"), len(r["cached_s"]), r["steps"]))
print("| shape | steps | cold | ms a step | the steps' processes alone, ms a step (before, after) | cold minus processes, ms a step | cached re-runs (each adds a job to the history) | ms a step (last) |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    n, c = r["steps"], r["cached_s"]
    shown = ", ".join(f"{t:.2f} s" for t in c)
    if len(c) > 6:
        shown = (", ".join(f"{t:.2f}" for t in c[:3]) + " … " + ", ".join(f"{t:.2f}" for t in c[-3:])
                 + f" s (median {statistics.median(c):.2f} s of {len(c)})")
    spawn = r.get("spawn_s")
    alone = f"{1000 * spawn[0] / n:.2f}, {1000 * spawn[1] / n:.2f}" if spawn else "—"
    over = f"{1000 * (r['cold_s'] - sum(spawn) / 2) / n:.2f}" if spawn else "—"
    print(f"| {r.get('shape', 'fan')} | {n} | {r['cold_s']:.2f} s | {1000 * r['cold_s'] / n:.2f} | {alone} | {over} | {shown} | {1000 * c[-1] / n:.2f} |")
PY
