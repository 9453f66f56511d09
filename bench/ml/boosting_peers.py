"""Peers of `sluice step train --algorithm gradient_boosting` for bench/ml/boosting_peers.sh.

    boosting_peers.py uniform DIR           writes DIR/train.parquet and DIR/val.parquet: 200,000
                                            rows x 20 uniform features (seeded; Friedman #1,
                                            extended, as bench/ml/run.sh), split 160,000 / 40,000
    boosting_peers.py fit LEARNER DIR TARGET fits LEARNER (lightgbm, xgboost, sklearn) on
                                            DIR/train[/data].parquet with sluice's boosting
                                            defaults and 2 threads (THREADS=n in the
                                            environment for n); prints JSON: fit seconds and
                                            validation R^2
    boosting_peers.py table JSONL           the markdown table (medians over rounds)
"""
import json
import os
import statistics
import sys
import time

THREADS = int(os.environ.get("THREADS", "2"))
# sluice-ml's BoostingParams::default(): 100 rounds, rate 0.1, 31 leaves grown best first,
# at least 20 rows a leaf, no L2 penalty, 255 bins, no early stopping.
ROUNDS, RATE, LEAVES, MIN_LEAF, BINS = 100, 0.1, 31, 20, 255


def parquet(d, name):
    for p in (f"{d}/{name}/data.parquet", f"{d}/{name}.parquet"):
        if os.path.exists(p):
            return p
    raise SystemExit(f"no {name} table under {d}")


def uniform(d):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(42)
    n, k = 200_000, 20
    x = rng.random((n, k))
    y = (10 * np.sin(np.pi * x[:, 0] * x[:, 1]) + 20 * (x[:, 2] - 0.5) ** 2 + 10 * x[:, 3]
         + 5 * x[:, 4] + 3 * x[:, 5] * x[:, 6] - 2 * x[:, 7] + rng.normal(0, 1, n))
    df = pd.DataFrame(x, columns=[f"x{i}" for i in range(k)])
    df["y"] = y
    os.makedirs(d, exist_ok=True)
    df.iloc[:160_000].to_parquet(f"{d}/train.parquet", index=False)
    df.iloc[160_000:].to_parquet(f"{d}/val.parquet", index=False)


def model(learner):
    if learner == "lightgbm":
        import lightgbm
        return lightgbm.LGBMRegressor(
            n_estimators=ROUNDS, learning_rate=RATE, num_leaves=LEAVES, max_depth=-1,
            min_child_samples=MIN_LEAF, min_child_weight=0.0, reg_lambda=0.0, max_bin=BINS,
            subsample=1.0, colsample_bytree=1.0, n_jobs=THREADS, verbose=-1)
    if learner == "xgboost":
        import xgboost
        # Squared error: a row's hessian is 1, so a leaf's weight is its row count.
        return xgboost.XGBRegressor(
            n_estimators=ROUNDS, learning_rate=RATE, tree_method="hist", grow_policy="lossguide",
            max_leaves=LEAVES, max_depth=0, min_child_weight=MIN_LEAF, reg_lambda=0.0,
            max_bin=BINS + 1, subsample=1.0, colsample_bytree=1.0, n_jobs=THREADS)
    if learner == "sklearn":
        from sklearn.ensemble import HistGradientBoostingRegressor
        return HistGradientBoostingRegressor(
            max_iter=ROUNDS, learning_rate=RATE, max_leaf_nodes=LEAVES, min_samples_leaf=MIN_LEAF,
            l2_regularization=0.0, max_bins=BINS, early_stopping=False)
    raise SystemExit(f"unknown learner {learner}")


def fit(learner, d, target):
    import pandas as pd
    from sklearn.metrics import r2_score

    train = pd.read_parquet(parquet(d, "train"))
    val = pd.read_parquet(parquet(d, "val"))
    x, y = train.drop(columns=[target]), train[target]
    m = model(learner)
    t0 = time.perf_counter()
    m.fit(x, y)
    fit_s = time.perf_counter() - t0
    r2 = r2_score(val[target], m.predict(val.drop(columns=[target])))
    print(json.dumps({"fit_seconds": round(fit_s, 3), "validation_r2": r2}))


def table(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    order = ["sluice", "lightgbm", "xgboost", "sklearn"]
    names = {"sluice": "sluice", "lightgbm": "LightGBM", "xgboost": "XGBoost (hist)",
             "sklearn": "scikit-learn HistGB"}
    # The machine's speed drifts from minute to minute: besides the ratio of the medians, the
    # median of each round's ratio (the learners of a round ran one after the other).
    print("| data | learner | fit (median) | fits | whole command (median) | peak RSS | validation R² "
          "| fit: peer / sluice (medians) | per round: peer / sluice (median, range) |")
    print("|---|---|---:|---|---:|---:|---:|---:|---:|")
    for data in dict.fromkeys(r["data"] for r in rows):
        med = {}
        for learner in order:
            rs = [r for r in rows if r["data"] == data and r["learner"] == learner]
            if rs:
                med[learner] = statistics.median(r["fit_seconds"] for r in rs)
        for learner in order:
            rs = [r for r in rows if r["data"] == data and r["learner"] == learner]
            if not rs:
                continue
            fits = ", ".join(f"{r['fit_seconds']:.2f}" for r in rs)
            wall = statistics.median(r["wall_s"] for r in rs)
            rss = max(r["peak_mb"] for r in rs)
            ratio, paired = "—", "—"
            if learner != "sluice":
                ratio = f"{med[learner] / med['sluice']:.2f}×"
                ours = [r for r in rows if r["data"] == data and r["learner"] == "sluice"]
                # The script writes sluice then its peers each round: the i-th of each pair up.
                rounds = [p["fit_seconds"] / o["fit_seconds"] for o, p in zip(ours, rs, strict=True)]
                paired = (f"{statistics.median(rounds):.2f}× "
                          f"({min(rounds):.2f}–{max(rounds):.2f}×)")
            print(f"| {data} | {names[learner]} | {med[learner]:.2f} s | {fits} | {wall:.2f} s "
                  f"| {rss} MB | {rs[0]['validation_r2']:.5f} | {ratio} | {paired} |")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "uniform":
        uniform(sys.argv[2])
    elif cmd == "fit":
        fit(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "table":
        table(sys.argv[2])
    else:
        raise SystemExit(__doc__)
