#!/usr/bin/env bash
# Steps on Slurm: what sluice adds around each batch job, and how a fan-out pipeline's makespan
# scales with the compute's `max_instances`. A generated pipeline of STEPS independent steps,
# each `sleep SLEEP` between two timestamps it writes itself, run on a Slurm compute with
# max_instances 1, 2 and 4 (the job itself allows 8 at once), each in a fresh workspace.
#
# Per step, from sluice's own records (`job show -o json`: the time a step turned Running, just
# before `sbatch`, and Completed) and the step's timestamps:
#   submit → running   the step's first line minus the time sluice submitted it
#   end → recorded     sluice's Completed minus the step's last line
#   end → next submit  (max_instances 1 only) the next step's submission minus this one's end
#
# Uses the cluster of SLURM_CONF if set; else starts a private one with
# .ci/services/slurm.sh (root, Slurm installed: `.ci/services/slurm.sh install`), stopped on exit.
#
#   bench/slurm/run.sh                     STEPS=20 SLEEP=1 LIMITS="1 2 4"
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
steps="${STEPS:-20}"
sleep_s="${SLEEP:-1}"
limits="${LIMITS:-1 2 4}"
out="$here/results"
mkdir -p "$out"
source "$repo/bench/lib.sh"
need_tools sbatch scontrol python3
build_sluice
make_tmp bench-slurm
cluster=""
stop_cluster() {
  [ -n "$cluster" ] && bash "$repo/.ci/services/slurm.sh" stop "$cluster" >&2 || true
  bench_cleanup
}
trap stop_cluster EXIT
if [ -z "${SLURM_CONF:-}" ]; then
  cluster="$tmp/slurm"
  bash "$repo/.ci/services/slurm.sh" start "$cluster" >&2
  export SLURM_CONF="$cluster/slurm.conf"
fi

python3 - "$steps" "$sleep_s" > "$tmp/fan.yml" <<'PY'
import sys
n, s = int(sys.argv[1]), sys.argv[2]
print("type: pipeline\nsettings:\n  default_compute: azureml:hpc\njobs:")
for i in range(n):
    print(f"  s{i:02}:\n    type: command\n    command: date +%s.%N > ${{{{outputs.out}}}}/start && sleep {s} && date +%s.%N > ${{{{outputs.out}}}}/end\n    outputs:\n      out:\n        type: uri_folder")
PY

for n in $limits; do
  ws="$tmp/ws$n"; mkdir -p "$ws"
  (cd "$ws" && "$sluice" compute create --name hpc --type slurm --max-instances "$n" -o none)
  t0=$(date +%s.%N)
  (cd "$ws" && "$sluice" job create -f "$tmp/fan.yml" --name fan --max-parallel 8 -o none)
  t1=$(date +%s.%N)
  (cd "$ws" && "$sluice" job show -n fan -o json) > "$tmp/job$n.json"
  python3 - "$n" "$steps" "$sleep_s" "$t0" "$t1" "$commit" "$tmp/job$n.json" <<'PY' | tee "$out/limit-$n.json" >&2
import json, statistics, sys
from datetime import datetime, timezone
n, steps, sleep_s, t0, t1, commit, path = sys.argv[1:]
job = json.load(open(path))
def ts(at):
    base, _, frac = at.rstrip("Z").partition(".")
    t = datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
    return t + (float("0." + frac) if frac else 0.0)
rows = []
for name, s in job["jobs"].items():
    out = s["outputs"]["out"]["path"]
    start = float(open(f"{out}/start").read())
    end = float(open(f"{out}/end").read())
    hist = s["status_history"]
    submitted = max(ts(h["at"]) for h in hist if h["status"] == "Running")
    done = min(ts(h["at"]) for h in hist if h["status"] in ("Finalizing", "Completed"))
    rows.append((submitted, start, end, done))
rows.sort()
ms = lambda xs: round(1000 * statistics.median(xs), 1)
result = {
    "max_instances": int(n), "steps": int(steps), "sleep_s": float(sleep_s),
    "status": job["status"], "makespan_s": round(float(t1) - float(t0), 2),
    "ideal_s": round(-(-int(steps) // int(n)) * float(sleep_s), 2),
    "submit_to_running_ms_p50": ms([b - a for a, b, _, _ in rows]),
    "submit_to_running_ms_max": round(1000 * max(b - a for a, b, _, _ in rows), 1),
    "end_to_recorded_ms_p50": ms([d - c for _, _, c, d in rows]),
    "sluice": commit,
}
if int(n) == 1:
    result["end_to_next_submit_ms_p50"] = ms([rows[i + 1][0] - rows[i][2] for i in range(len(rows) - 1)])
print(json.dumps(result))
PY
  rm -rf "$ws"
done

python3 - "$out" "$limits" <<'PY'
import json, os, sys
out, limits = sys.argv[1], sys.argv[2].split()
rows = [json.load(open(os.path.join(out, f"limit-{n}.json"))) for n in limits]
print("| max_instances | makespan | ideal (steps × sleep / limit) | makespan / ideal | submit → running p50 (max) | end → recorded p50 | end → next submit p50 |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    nxt = r.get("end_to_next_submit_ms_p50")
    print(f"| {r['max_instances']} | {r['makespan_s']:.2f} s | {r['ideal_s']:.2f} s | {r['makespan_s'] / r['ideal_s']:.2f} | {r['submit_to_running_ms_p50']:.0f} ms ({r['submit_to_running_ms_max']:.0f} ms) | {r['end_to_recorded_ms_p50']:.0f} ms | {'%.0f ms' % nxt if nxt is not None else '—'} |")
PY
