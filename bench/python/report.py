"""Prints the markdown summary of bench/python/run.sh from its results folder (hyperfine JSON)."""
import json
import statistics
import sys
from datetime import datetime
from pathlib import Path

out = Path(sys.argv[1])


def load(name):
    return json.loads((out / f"{name}.json").read_text())["results"]


def s(seconds):
    return f"{seconds:,.3f}"


def row(r):
    return f"| {r['command']} | {s(r['median'])} | {s(r['mean'])} ± {s(r['stddev'] or 0)} | {s(r['min'])} | {len(r['times'])} |"


print("### Environment builds (`sluice environment build -n taxi-train-env`)\n")
print("| case | median s | mean ± sd s | min s | runs |")
print("|---|---|---|---|---|")
for name in ("build-empty-cache", "build-warm-cache", "build-built", "build-built-direct"):
    for r in load(name):
        print(row(r))

print("\n### The pipeline vs its scripts by hand (warm environment, every step runs)\n")
print("| command | median s | mean ± sd s | min s | runs |")
print("|---|---|---|---|---|")
pipeline = load("pipeline")
for r in pipeline:
    print(row(r))
job = next(r for r in pipeline if r["command"].startswith("sluice"))
hand = next(r for r in pipeline if "by hand" in r["command"])
ratio = job["median"] / hand["median"]
print(f"\nRatio of medians, pipeline ÷ by hand: {ratio:.3f}× "
      f"({s(job['median'] - hand['median'])} s a run, {s((job['median'] - hand['median']) / 4)} s a step) "
      f"— target ≤ 1.2×: {'met' if ratio <= 1.2 else 'MISSED'}")

pairs = [a / b for a, b in zip(job["times"], hand["times"])]
print(f"\nThe runs were interleaved (job, by hand, by hand, job, ...). Ratio within each pair, job ÷ by hand: "
      f"median {statistics.median(pairs):.3f}×, range {min(pairs):.3f}–{max(pairs):.3f}× over {len(pairs)} pairs.")

jobs_file = out / "pipeline.sluice-jobs.json"
if jobs_file.exists():
    t = datetime.fromisoformat
    outside = []
    before = []
    for j in json.loads(jobs_file.read_text()):
        wall = (t(j["end_time"]) - t(j["start_time"])).total_seconds()
        inside = sum((t(st["end_time"]) - t(st["start_time"])).total_seconds() for st in j["steps"])
        outside.append(wall - inside)
        before.append((t(j["start_time"]) - t(j["created_at"])).total_seconds())
    records = json.loads(jobs_file.read_text())[::-1]  # oldest first, as the runs were timed
    beyond = [w - (t(j["end_time"]) - t(j["created_at"])).total_seconds() for j, w in zip(records, job["times"])]
    own = [a + b for a, b in zip(outside, beyond[::-1])]
    print(f"\nsluice's own time a run: the timed wall time beyond the job's record (creation to end: parsing, "
          f"planning, exiting), median {statistics.median(beyond) * 1000:.0f} ms, plus the time outside steps (next paragraph); "
          f"together median {statistics.median(own) * 1000:.0f} ms, "
          f"{statistics.median(own) / job['median'] * 100:.2f}% of the run.")
    print(f"\nFrom the records of the {len(outside)} timed jobs: time between a job's start and end not spent "
          f"inside a step (from a step's start to its end), median {statistics.median(outside) * 1000:.0f} ms "
          f"(max {max(outside) * 1000:.0f} ms); from the job's creation to its start, median "
          f"{statistics.median(before) * 1000:.0f} ms. The process's wall time "
          f"(median {job['median']:.3f} s) also covers parsing, planning and exiting.")
