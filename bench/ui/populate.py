"""Fills a tracking server with the UI benchmark's data through the public MLflow REST API
(stdlib only, so it runs against any server): an experiment `ui-bench-N` of N finished runs,
each with 3 params and 5 metrics, named `bench-run-00000`...; and, with --history, an
experiment `ui-bench-history` with one run whose metric `loss` has that many steps.
Prints the ids as JSON on the last line.

    python3 populate.py --url http://127.0.0.1:5000 --runs 10000 [--history 100000] [--threads 8]

With --sql-db (an MLflow server's own SQLite file), the first run goes through the REST API as
above and the other N-1 are written into that database as copies of the rows MLflow itself
wrote for it (every table keyed by run_uuid), each with its own id, name, times and the same
seeded params and metrics the REST path would log: the same data, at SQLite speed instead of
MLflow's ~45 runs a second.
"""
import argparse
import json
import math
import random
import sqlite3
import time
import uuid
import urllib.request
from concurrent.futures import ThreadPoolExecutor


def call(url, path, body):
    req = urllib.request.Request(
        f"{url}/api/2.0/mlflow/{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.load(r)


def get(url, path):
    with urllib.request.urlopen(f"{url}/api/2.0/mlflow/{path}", timeout=120) as r:
        return json.load(r)


def experiment(url, name):
    try:
        return get(url, f"experiments/get-by-name?experiment_name={name}")["experiment"]["experiment_id"]
    except urllib.error.HTTPError:
        return call(url, "experiments/create", {"name": name})["experiment_id"]


def one_run(url, exp, i, t0):
    rng = random.Random(i)
    start = t0 + i
    run = call(url, "runs/create", {"experiment_id": exp, "run_name": f"bench-run-{i:05d}", "start_time": start})
    rid = run["run"]["info"]["run_id"]
    call(url, "runs/log-batch", {
        "run_id": rid,
        "params": [
            {"key": "algorithm", "value": rng.choice(["random_forest", "gradient_boosting", "linear"])},
            {"key": "max_depth", "value": str(rng.randint(2, 12))},
            {"key": "learning_rate", "value": f"{rng.uniform(0.01, 0.3):.3f}"},
        ],
        "metrics": [
            {"key": f"m{k}", "value": rng.random(), "timestamp": start, "step": 0} for k in range(5)
        ],
    })
    call(url, "runs/update", {"run_id": rid, "status": "FINISHED", "end_time": start + 1000})
    return rid


def values(i):
    """The params and metrics `one_run` logs for run i, in its order of draws."""
    rng = random.Random(i)
    params = {
        "algorithm": rng.choice(["random_forest", "gradient_boosting", "linear"]),
        "max_depth": str(rng.randint(2, 12)),
        "learning_rate": f"{rng.uniform(0.01, 0.3):.3f}",
    }
    metrics = {f"m{k}": rng.random() for k in range(5)}
    return params, metrics


def bulk_copy(db, first_run, n, t0):
    """Runs 1..n-1 as copies of the rows MLflow wrote for run 0 (`first_run`)."""
    con = sqlite3.connect(db, timeout=60)
    tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    keyed = {}
    for t in tables:
        cols = [c[1] for c in con.execute(f'PRAGMA table_info("{t}")')]
        if "run_uuid" in cols:
            rows = con.execute(f'SELECT * FROM "{t}" WHERE run_uuid = ?', (first_run,)).fetchall()
            keyed[t] = (cols, rows)
    out = {t: [] for t in keyed}
    for i in range(1, n):
        rid = uuid.uuid4().hex
        start = t0 + i
        name = f"bench-run-{i:05d}"
        params, metrics = values(i)
        for t, (cols, rows) in keyed.items():
            for row in rows:
                r = dict(zip(cols, row))
                for c, v in r.items():
                    if isinstance(v, str) and first_run in v:
                        r[c] = v.replace(first_run, rid)
                r["run_uuid"] = rid
                if t == "runs":
                    r["name"] = name
                    r["start_time"] = start
                    r["end_time"] = start + 1000
                elif t == "tags" and r.get("key") == "mlflow.runName":
                    r["value"] = name
                elif t == "params":
                    r["value"] = params[r["key"]]
                elif t in ("metrics", "latest_metrics") and r.get("key") in metrics:
                    r["value"] = metrics[r["key"]]
                    r["timestamp"] = start
                out[t].append(tuple(r[c] for c in cols))
    # `runs` first: the other tables refer to it.
    for t in sorted(out, key=lambda t: t != "runs"):
        cols = keyed[t][0]
        con.executemany(
            f'INSERT INTO "{t}" ({", ".join(cols)}) VALUES ({", ".join("?" * len(cols))})', out[t])
    con.commit()
    con.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--runs", type=int, default=0)
    ap.add_argument("--history", type=int, default=0)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--sql-db", help="the MLflow server's SQLite file: copy run 0's rows for the others")
    a = ap.parse_args()
    out = {}
    started = time.time()
    if a.runs:
        exp = experiment(a.url, f"ui-bench-{a.runs}")
        have = len(call(a.url, "runs/search", {"experiment_ids": [exp], "max_results": 1}).get("runs", []))
        if not have:
            t0 = int(time.time() * 1000) - a.runs * 1000
            if a.sql_db:
                first = one_run(a.url, exp, 0, t0)
                bulk_copy(a.sql_db, first, a.runs, t0)
            else:
                with ThreadPoolExecutor(a.threads) as pool:
                    list(pool.map(lambda i: one_run(a.url, exp, i, t0), range(a.runs)))
        out["experiment"] = exp
    if a.history:
        exp = experiment(a.url, "ui-bench-history")
        runs = call(a.url, "runs/search", {"experiment_ids": [exp], "max_results": 1}).get("runs", [])
        if runs:
            rid = runs[0]["info"]["run_id"]
        else:
            rid = call(a.url, "runs/create", {"experiment_id": exp, "run_name": "bench-history"})["run"]["info"]["run_id"]
            t0 = int(time.time() * 1000)
            batch = 1000
            for s in range(0, a.history, batch):
                call(a.url, "runs/log-batch", {"run_id": rid, "metrics": [
                    {"key": "loss", "value": math.exp(-k / 20000) + 0.05 * math.sin(k / 50), "timestamp": t0 + k, "step": k}
                    for k in range(s, min(s + batch, a.history))
                ]})
            call(a.url, "runs/update", {"run_id": rid, "status": "FINISHED", "end_time": t0 + a.history})
        out["history_experiment"] = exp
        out["history_run"] = rid
    out["seconds"] = round(time.time() - started, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
