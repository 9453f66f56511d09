"""Prints the markdown summary of bench/reuse/run.sh from its results folder (hyperfine JSON)."""
import json
import re
import sys
from pathlib import Path

out = Path(sys.argv[1])


def load(name):
    return {r["command"]: r for r in json.loads((out / f"{name}.json").read_text())["results"]}


def ms(seconds):
    return f"{seconds * 1000:,.1f}"


def row(r):
    return (
        f"{ms(r['median'])} | {ms(r['mean'])} ± {ms(r['stddev'] or 0)} | {ms(r['min'])} | {len(r['times'])}"
    )


def pick(results, prefix):
    for name, r in results.items():
        if name.startswith(prefix):
            return r
    raise KeyError(prefix)


cached, cold, spawn, chain = load("cached"), load("cold"), load("spawn"), load("chain")
bash = spawn["/bin/bash -c true"]["median"]
sh = spawn["/bin/sh -c true"]["median"]

print("### Cached re-run (nothing changed)\n")
print("| command | median ms | mean ± sd ms | min ms | runs | dvc ÷ this (medians) |")
print("|---|---|---|---|---|---|")
dvc_cached = pick(cached, "dvc repro")["median"]
for name, r in cached.items():
    print(f"| {name} | {row(r)} | {dvc_cached / r['median']:.1f}× |")
for prefix in ("sluice, as shipped", "sluice, all 4"):
    m = pick(cached, prefix)["median"]
    print(f"\nTarget ≤ 200 ms, {prefix}: {ms(m)} ms — {'met' if m <= 0.2 else 'MISSED'}")
er = pick(cached, "evaluate + register commands by hand")["median"]
m = pick(cached, "sluice, as shipped")["median"]
print(f"\nsluice, as shipped, above its two steps that run (by hand: {ms(er)} ms): {ms(m - er)} ms")

print("\nThe two steps that run, alone:\n")
print("| command | median ms | mean ± sd ms | min ms | runs |")
print("|---|---|---|---|---|")
for name, r in load("steps").items():
    print(f"| {name} | {row(r)} |")

print("\n### Cold run (every step runs)\n")
print("| command | median ms | mean ± sd ms | min ms | runs | dvc ÷ this (medians) |")
print("|---|---|---|---|---|---|")
dvc_cold = pick(cold, "dvc repro -f")["median"]
for name, r in cold.items():
    print(f"| {name} | {row(r)} | {dvc_cold / r['median']:.2f}× |")
hand = pick(cold, "the 4 step commands")["median"]
for prefix in ("sluice --force-rerun", "dvc repro -f"):
    m = pick(cold, prefix)["median"]
    print(f"\n{prefix}: {ms(m - hand)} ms above the four commands by hand, {ms((m - hand) / 4)} ms a step")


print("\n### Orchestration overhead: chains of N steps running `true`\n")
print(f"Spawning `/bin/bash -c true`: {ms(bash)} ms (median); `/bin/sh -c true`: {ms(sh)} ms.\n")
print("| command | median ms | mean ± sd ms | min ms | runs | (median − N × spawn) ÷ N, ms |")
print("|---|---|---|---|---|---|")
series = {}
for name, r in chain.items():
    n = int(re.search(r", (\d+) (steps|stages)", name).group(1))
    tool = name.split(",")[0]
    runs_all = "all reused" not in name and "all cached" not in name
    base = bash if tool == "sluice" else sh
    per = (r["median"] - (n * base if runs_all else 0)) / n
    series.setdefault(name.replace(f"{n} steps", "N steps").replace(f"{n} stages", "N stages"), []).append((n, r["median"]))
    print(f"| {name} | {row(r)} | {ms(per)} |")
print("\nMarginal cost of one more step (slope between the smallest and the largest N):\n")
for name, pts in series.items():
    pts.sort()
    if len(pts) < 2:
        continue
    (n0, t0), (n1, t1) = pts[0], pts[-1]
    slope = (t1 - t0) / (n1 - n0)
    runs_all = "all reused" not in name and "all cached" not in name
    base = (bash if name.startswith("sluice") else sh) if runs_all else 0
    extra = f", {ms(slope - base)} ms above the spawn" if runs_all else ""
    print(f"- {name}: {ms(slope)} ms a step{extra}")
f = pick(chain, "sluice, 16 steps, --force-rerun") if any(k.startswith("sluice, 16 steps, --force") for k in chain) else None
if f:
    per = (f["median"] - 16 * bash) / 16
    print(f"\nTarget ≤ 20 ms a step (16 steps, sluice): {ms(per)} ms — {'met' if per <= 0.02 else 'MISSED'}")
