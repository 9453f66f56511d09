"""Joins the JSON lines of bench_fit and bench_sklearn.py into a markdown table of median fit
times (every fit's time listed) and scores.

Usage: table.py SLUICE.jsonl SKLEARN.jsonl
"""

import json
import statistics
import sys


def read(path):
    rows = {}
    with open(path) as f:
        for row in map(json.loads, filter(str.strip, f)):
            rows.setdefault(row["model"], []).append(row)
    return rows


def main(ours_path, theirs_path):
    ours, theirs = read(ours_path), read(theirs_path)
    print("| model | metric | sluice-ml fit (s) | scikit-learn fit (s) | speed-up | sluice-ml score | scikit-learn score | score difference | sluice-ml fits (s) | scikit-learn fits (s) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|---|")
    for name, a_rows in ours.items():
        b_rows = theirs[name]
        a = statistics.median(r["fit_s"] for r in a_rows)
        b = statistics.median(r["fit_s"] for r in b_rows)
        a_score, b_score = a_rows[-1]["score"], b_rows[-1]["score"]
        a_all = ", ".join(f"{r['fit_s']:.2f}" for r in a_rows)
        b_all = ", ".join(f"{r['fit_s']:.2f}" for r in b_rows)
        print(
            f"| {name} | {a_rows[0]['metric']} | {a:.2f} | {b:.2f} | {b / a:.2f}x "
            f"| {a_score:.4f} | {b_score:.4f} | {a_score - b_score:+.4f} | {a_all} | {b_all} |"
        )


if __name__ == "__main__":
    main(*sys.argv[1:])
