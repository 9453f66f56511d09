"""Fills a tracking server with the UI benchmark's data through the public MLflow REST API
(stdlib only, so it runs against any server): an experiment `ui-bench-N` of N finished runs,
each with 3 params and 5 metrics, named `bench-run-00000`...; and, with --history, an
experiment `ui-bench-history` with one run whose metric `loss` has that many steps.
Prints the ids as JSON on the last line.

    python3 populate.py --url http://127.0.0.1:5000 --runs 10000 [--history 100000] [--threads 8]
"""
import argparse
import json
import math
import random
import time
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--runs", type=int, default=0)
    ap.add_argument("--history", type=int, default=0)
    ap.add_argument("--threads", type=int, default=8)
    a = ap.parse_args()
    out = {}
    started = time.time()
    if a.runs:
        exp = experiment(a.url, f"ui-bench-{a.runs}")
        have = len(call(a.url, "runs/search", {"experiment_ids": [exp], "max_results": 1}).get("runs", []))
        if not have:
            t0 = int(time.time() * 1000) - a.runs * 1000
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
