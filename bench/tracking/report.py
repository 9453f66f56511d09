"""Prints the side-by-side table of bench/tracking/run.sh from its results folder: sluice and
MLflow on SQLite, and on PostgreSQL where those results exist."""
import json
import sys
from pathlib import Path

out = Path(sys.argv[1])
mlflow_version = sys.argv[2] if len(sys.argv) > 2 else "?"

FIGURES = [
    ("runs/create", "req_per_s", "req/s", "higher"),
    ("runs/log-batch", "req_per_s", "req/s (100 metrics each)", "higher"),
    ("runs/log-metric", "req_per_s", "req/s", "higher"),
    ("metrics/get-history", "p50_ms", "ms p50 (10k steps)", "lower"),
    ("runs/search[max_results=100]", "p50_ms", "ms p50 (10k runs, filter+order)", "lower"),
    ("runs/search[max_results=1000]", "p50_ms", "ms p50 (10k runs, filter+order)", "lower"),
]


def load(label):
    path = out / f"{label}.run2.json"
    return json.loads(path.read_text())["figures"] if path.exists() else None


def extra(label, name, convert):
    path = out / f"{label}.{name}"
    return convert(path.read_text().strip()) if path.exists() else None


pairs = [(b, f"sluice{s}", f"mlflow{s}") for b, s in (("SQLite", ""), ("PostgreSQL", "-pg"))]
pairs = [(b, s, m) for b, s, m in pairs if load(s) and load(m)]

head = ["figure", "unit"]
for backend, _, _ in pairs:
    head += [f"sluice, {backend}", f"MLflow {mlflow_version}, {backend}", "sluice advantage"]
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))


def cell(v):
    return "–" if v is None else f"{v:,.1f}"


for key, field, unit, better in FIGURES:
    row = [key, unit]
    for _, s_label, m_label in pairs:
        sv = (load(s_label).get(key) or {}).get(field)
        mv = (load(m_label).get(key) or {}).get(field)
        ratio = None
        if sv and mv:
            ratio = sv / mv if better == "higher" else mv / sv
        row += [cell(sv), cell(mv), "–" if ratio is None else f"{ratio:,.1f}×"]
    print("| " + " | ".join(row) + " |")

row = ["peak RSS under load", "MB"]
for _, s_label, m_label in pairs:
    s_rss = extra(s_label, "peak_rss_kb", lambda t: int(t or 0) / 1024)
    m_rss = extra(m_label, "peak_rss_kb", lambda t: int(t or 0) / 1024)
    row += [cell(s_rss), f"{cell(m_rss)} (main process)",
            f"{m_rss / max(s_rss, 0.1):.1f}×" if s_rss and m_rss else "–"]
print("| " + " | ".join(row) + " |")
row = ["start to ready", "s"]
for _, s_label, m_label in pairs:
    s_start = extra(s_label, "start_s", float)
    m_start = extra(m_label, "start_s", float)
    row += [f"{s_start:.3f}", f"{m_start:.3f}", f"{m_start / max(s_start, 0.001):.0f}×"]
print("| " + " | ".join(row) + " |")
