#!/usr/bin/env python3
"""A chain's steps split into phases by their own store timestamps.

Reads the status history (`status_history`, timestamps in microseconds) of the newest job in a
SQLite workspace whose steps form a chain named s0, s1, ... (as `run.sh` with SHAPE=chain
generates), and prints, for windows of steps, the mean time of each phase of a step:

  previous Completed -> Queued    the scheduler, the step's run and `Queued` committed
  Queued -> Running               its reuse key, folders, log, its shell spawned, its launch
  Running -> Finalizing           its own process, then its exit recorded
  Finalizing -> Completed         its outputs hashed and recorded

    bench/scheduler/phases.py WORKSPACE_FOLDER [WINDOW ...]    WINDOW = FIRST-LAST, e.g. 100-600
"""
import datetime
import sqlite3
import statistics
import sys
from pathlib import Path


def at(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    db = Path(sys.argv[1]) / ".sluice" / "sluice.db"
    if not db.is_file():
        sys.exit(f"no workspace store at {db}")
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    job = con.execute("SELECT name FROM jobs ORDER BY created_at DESC LIMIT 1").fetchone()
    if job is None:
        sys.exit("the workspace has no job")
    by = {}
    for step, status, when in con.execute(
        "SELECT step_name, status, at FROM status_history WHERE job_name = ? AND step_name != '' ORDER BY id",
        job,
    ):
        by.setdefault(step, {})[status] = at(when)
    n = sum(1 for s in by if s.startswith("s") and s[1:].isdigit())
    windows = sys.argv[2:] or [f"1-{n - 1}"]
    print(f"job {job[0]}: {n} steps; means in ms")
    print("| steps | previous Completed -> Queued | Queued -> Running | Running -> Finalizing | Finalizing -> Completed | a step, in all |")
    print("|---|---:|---:|---:|---:|---:|")
    for window in windows:
        lo, hi = (int(x) for x in window.split("-"))
        phases = [[], [], [], [], []]
        for i in range(max(lo, 1), min(hi, n - 1) + 1):
            a, b = by.get(f"s{i - 1}", {}), by.get(f"s{i}", {})
            need = ("Queued", "Running", "Finalizing", "Completed")
            if "Completed" not in a or any(k not in b for k in need):
                continue  # reused, failed or not run: no phases to split
            phases[0].append(b["Queued"] - a["Completed"])
            phases[1].append(b["Running"] - b["Queued"])
            phases[2].append(b["Finalizing"] - b["Running"])
            phases[3].append(b["Completed"] - b["Finalizing"])
            phases[4].append(b["Completed"] - a["Completed"])
        if not phases[0]:
            print(f"| {window} | no step ran in it |||||")
            continue
        cells = " | ".join(f"{1000 * statistics.mean(p):.2f}" for p in phases)
        print(f"| {window} | {cells} |")


if __name__ == "__main__":
    main()
