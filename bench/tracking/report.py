"""Prints the side-by-side table of bench/tracking/run.sh from its results folder."""
import json
import sys
from pathlib import Path

out = Path(sys.argv[1])
mlflow_version = sys.argv[2] if len(sys.argv) > 2 else "?"


def load(label):
    return json.loads((out / f"{label}.run2.json").read_text())["figures"]


s, m = load("sluice"), load("mlflow")
rows = []
for key, field, unit, better in [
    ("runs/create", "req_per_s", "req/s", "higher"),
    ("runs/log-batch", "req_per_s", "req/s (100 metrics each)", "higher"),
    ("runs/log-metric", "req_per_s", "req/s", "higher"),
    ("metrics/get-history", "p50_ms", "ms p50 (10k steps)", "lower"),
    ("runs/search[max_results=100]", "p50_ms", "ms p50 (10k runs, filter+order)", "lower"),
    ("runs/search[max_results=1000]", "p50_ms", "ms p50 (10k runs, filter+order)", "lower"),
]:
    if key not in s or key not in m:
        continue
    sv, mv = s[key].get(field), m[key].get(field)
    if not sv or not mv:
        continue
    ratio = sv / mv if better == "higher" else mv / sv
    rows.append(f"| {key} | {unit} | {sv:,.1f} | {mv:,.1f} | {ratio:,.1f}× |")
rss = {l: int((out / f"{l}.peak_rss_kb").read_text().strip() or 0) / 1024 for l in ("sluice", "mlflow")}
start = {l: float((out / f"{l}.start_s").read_text().strip()) for l in ("sluice", "mlflow")}
print(f"| figure | unit | sluice | MLflow {mlflow_version} | sluice advantage |")
print("|---|---|---|---|---|")
print("\n".join(rows))
print(f"| peak RSS under load | MB | {rss['sluice']:.1f} | {rss['mlflow']:.1f} (main process) | {rss['mlflow'] / max(rss['sluice'], 0.1):.1f}× |")
print(f"| start to ready | s | {start['sluice']:.3f} | {start['mlflow']:.3f} | {start['mlflow'] / max(start['sluice'], 0.001):.0f}× |")
