"""Times two or more shell commands run in turns (A B, B A, A B, ...), not one after the other.

    python3 interleave.py --runs 7 --warmup 1 --export-json OUT.json NAME1 CMD1 NAME2 CMD2 ...

Each command takes tens of seconds here, long enough for the load of a shared machine to drift
between the first and the last run; running the commands in turns spreads that drift over all of
them instead of charging it to whichever ran last. Writes hyperfine's JSON layout (results[] with
command, mean, stddev, median, min, max, times) so the same report code reads it. A command that
fails stops the benchmark.
"""
import argparse
import json
import statistics
import subprocess
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--runs", type=int, required=True)
parser.add_argument("--warmup", type=int, default=1)
parser.add_argument("--export-json", required=True)
parser.add_argument("pairs", nargs="+", help="NAME COMMAND NAME COMMAND ...")
args = parser.parse_args()
if len(args.pairs) % 2:
    sys.exit("give NAME COMMAND pairs")
commands = list(zip(args.pairs[::2], args.pairs[1::2]))


def run(name, command):
    start = time.perf_counter()
    done = subprocess.run(["/bin/bash", "-c", command], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.stderr.write(done.stderr.decode(errors="replace")[-4000:])
        sys.exit(f"`{name}` failed with exit code {done.returncode}")
    return elapsed


for i in range(args.warmup):
    for name, command in commands:
        print(f"warmup {i + 1}: {name}: {run(name, command):.3f} s", file=sys.stderr)
times = {name: [] for name, _ in commands}
for i in range(args.runs):
    order = commands if i % 2 == 0 else commands[::-1]
    for name, command in order:
        t = run(name, command)
        times[name].append(t)
        print(f"run {i + 1}: {name}: {t:.3f} s", file=sys.stderr)

results = []
for name, command in commands:
    ts = times[name]
    results.append({
        "command": name,
        "shell_command": command,
        "mean": statistics.mean(ts),
        "stddev": statistics.stdev(ts) if len(ts) > 1 else None,
        "median": statistics.median(ts),
        "min": min(ts),
        "max": max(ts),
        "times": ts,
    })
    print(f"{name}: median {statistics.median(ts):.3f} s, mean {statistics.mean(ts):.3f} s over {len(ts)} runs",
          file=sys.stderr)
with open(args.export_json, "w") as f:
    json.dump({"results": results, "order": "interleaved: A B, B A, ..."}, f, indent=2)
