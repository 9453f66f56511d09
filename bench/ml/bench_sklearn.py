"""Fit-time benchmark of scikit-learn on the data `bench_fit` (crates/sluice-ml/examples) wrote.

Usage: bench_sklearn.py DATA.csv [FITS]  (run through bench/ml/run.sh, which sets 2 threads)

The CSV has features x0..x19, a regression target y_reg and a binary target y_cls. The first
160 000 rows train, the last 40 000 test, as in bench_fit. Fits each learner FITS times (default
1) and prints one JSON line per fit.
"""

import json
import sys
import time

import numpy as np
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import accuracy_score, r2_score

TRAIN = 160_000
THREADS = 2


def main(path, fits):
    data = np.loadtxt(path, delimiter=",", skiprows=1)
    x, y_reg, y_cls = data[:, :-2], data[:, -2], data[:, -1].astype(int)
    x_train, x_test = x[:TRAIN], x[TRAIN:]

    # scikit-learn's defaults, except: 10 trees and n_jobs=2 for the forests; early stopping off
    # for gradient boosting (its default "auto" turns it on above 10 000 rows; sluice-ml's
    # default is off), so both fit 100 rounds.
    learners = [
        ("linear", LinearRegression(), y_reg, "r2"),
        ("random_forest_regressor", RandomForestRegressor(n_estimators=10, n_jobs=THREADS, random_state=0), y_reg, "r2"),
        ("gradient_boosting_regressor", HistGradientBoostingRegressor(max_iter=100, early_stopping=False, random_state=0), y_reg, "r2"),
        ("logistic", LogisticRegression(), y_cls, "accuracy"),
        ("random_forest_classifier", RandomForestClassifier(n_estimators=10, n_jobs=THREADS, random_state=0), y_cls, "accuracy"),
        ("gradient_boosting_classifier", HistGradientBoostingClassifier(max_iter=100, early_stopping=False, random_state=0), y_cls, "accuracy"),
    ]
    for name, model, target, metric in learners:
        for _ in range(fits):
            start = time.perf_counter()
            model.fit(x_train, target[:TRAIN])
            seconds = time.perf_counter() - start
            predicted = model.predict(x_test)
            if metric == "r2":
                score = r2_score(target[TRAIN:], predicted)
            else:
                score = accuracy_score(target[TRAIN:], predicted)
            row = {"impl": "scikit-learn", "model": name, "fit_s": round(seconds, 3), "metric": metric, "score": round(score, 4)}
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1)
