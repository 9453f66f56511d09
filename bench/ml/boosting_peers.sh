#!/usr/bin/env bash
# Gradient boosting beside its peers: `sluice step train --algorithm gradient_boosting` (its
# defaults: 100 rounds, rate 0.1, 31 leaves, 20 rows a leaf, 255 bins, no L2, no early stopping)
# and LightGBM, XGBoost (`hist`, leaves grown best first) and scikit-learn's
# HistGradientBoostingRegressor given the same settings and 2 threads (THREADS), on the taxi example's
# data at ROWS rows (`sluice step synth-taxi`, seeded; the example's `prep`) and on 200,000
# uniform rows x 20 features. Each learner runs in a process of its own under /usr/bin/time
# (the whole command's wall time and peak RSS); the fit alone is timed inside (sluice reports
# `fit_seconds`). ROUNDS rounds, learners alternating within each; the table gives medians, and
# the median (and range) of each round's ratio of a peer's fit to sluice's.
# Not a test: nothing here fails on a slow result.
#
#   bench/ml/boosting_peers.sh           ROWS="100000 1000000" ROUNDS=5 THREADS=2
#   OUT=folder for results.jsonl, table.md (default results/boosting-peers)
#   VENV=/path/to/venv                   (default ~/.cache/sluice-bench/venv; lightgbm, xgboost,
#                                        scikit-learn, pandas and pyarrow installed if missing)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
rows="${ROWS:-100000 1000000}"
rounds="${ROUNDS:-5}"
threads="${THREADS:-2}"
venv="${VENV:-$HOME/.cache/sluice-bench/venv}"
out="${OUT:-$here/results/boosting-peers}"
mkdir -p "$out"
source "$repo/bench/lib.sh"
need_tools /usr/bin/time
build_sluice
make_tmp bench-boosting-peers

if ! "$venv/bin/python" -c "import lightgbm, xgboost, sklearn, pandas, pyarrow" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet lightgbm xgboost scikit-learn pandas pyarrow
fi
py="$venv/bin/python"
versions="$("$py" -c 'import lightgbm, xgboost, sklearn; print(f"LightGBM {lightgbm.__version__}, XGBoost {xgboost.__version__}, scikit-learn {sklearn.__version__}")')"
results="$out/results.jsonl"
: > "$results"

# One measured run: label data learner dir target, the command after them.
measure() {
  local data="$1" learner="$2" dir="$3"; shift 3
  THREADS="$threads" OMP_NUM_THREADS="$threads" RAYON_NUM_THREADS="$threads" /usr/bin/time -f '%e %M' -o "$tmp/time" "$@" > "$tmp/out.json" 2>/dev/null
  "$py" - "$data" "$learner" "$tmp/time" "$tmp/out.json" <<'PY' | tee -a "$results"
import json, sys
data, learner, time_file, out_file = sys.argv[1:]
wall, rss_kb = open(time_file).read().split()
out = json.load(open(out_file))
r2 = out.get("validation_r2", out.get("metrics", {}).get("validation_r2"))
print(json.dumps({"data": data, "learner": learner, "fit_seconds": out["fit_seconds"],
                  "wall_s": float(wall), "peak_mb": int(rss_kb) // 1024, "validation_r2": r2}))
PY
}

datasets=()
for n in $rows; do
  d="$tmp/taxi-$n"; mkdir -p "$d"
  prepare_taxi "$n" "$d"
  datasets+=("taxi, $n rows ($((n * 7 / 10)) train)|$d|fare_amount")
done
"$py" "$here/boosting_peers.py" uniform "$tmp/uniform"
datasets+=("uniform, 200000 rows (160000 train)|$tmp/uniform|y")

echo "== $(date -u +%H:%M) start; $versions; sluice $commit" >&2
for entry in "${datasets[@]}"; do
  IFS='|' read -r data dir target <<<"$entry"
  train="$dir/train"; [ -d "$train" ] || train="$dir/train.parquet"
  val="$dir/val"; [ -d "$val" ] || val="$dir/val.parquet"
  for round in $(seq "$rounds"); do
    echo "== $data: round $round" >&2
    measure "$data" sluice "$dir" "$sluice" step train --algorithm gradient_boosting \
      --target "$target" --train-data "$train" --validation-data "$val" \
      --model-output "$tmp/model-$round" -o json
    for learner in lightgbm xgboost sklearn; do
      measure "$data" "$learner" "$dir" "$py" "$here/boosting_peers.py" fit "$learner" "$dir" "$target"
    done
  done
done
echo "== $(date -u +%H:%M) end" >&2
echo "$versions; sluice $commit; $(nproc) cores, $threads threads each" > "$out/versions.txt"
"$py" "$here/boosting_peers.py" table "$results" | tee "$out/table.md"
