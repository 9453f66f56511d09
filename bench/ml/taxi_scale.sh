#!/usr/bin/env bash
# The taxi example's random forest at real sizes: `sluice step synth-taxi --rows N` (seeded),
# the example's `prep`, then `sluice step train --algorithm random_forest --n-estimators 50`
# beside scikit-learn's RandomForestRegressor(n_estimators=50, n_jobs=2) on the same prepared
# rows with the same leaf size (MIN_LEAF, default 5: sluice's default; 1 grows full trees, as
# scikit-learn's default), each under /usr/bin/time (wall time, peak RSS), with the validation
# R². Not a test: nothing here fails on a slow result; the script fails (exit 1, after every
# size) when sluice's peak memory passes RSS_LIMIT_MB (default 600), the bound its defaults are
# meant to keep a 1,000,000-row forest under.
#
#   bench/ml/taxi_scale.sh                 ROWS="100000 1000000" MIN_LEAF=5 RSS_LIMIT_MB=600
#   VENV=/path/to/venv (scikit-learn, pandas, pyarrow; default: the mlflow 3 test venv)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
rows="${ROWS:-100000 1000000}"
min_leaf="${MIN_LEAF:-5}"
rss_limit_mb="${RSS_LIMIT_MB:-600}"
over=0
venv="${VENV:-${SLUICE_TEST_CACHE:-$HOME/.cache/sluice-test}/venv-mlflow3}"
out="$here/results/taxi-scale"
mkdir -p "$out"
source "$repo/bench/lib.sh"
need_tools /usr/bin/time
build_sluice
make_tmp bench-taxi-scale

for n in $rows; do
  d="$tmp/$n"; mkdir -p "$d"
  prepare_taxi "$n" "$d"
  /usr/bin/time -f '%e %M' -o "$d/sluice.time" "$sluice" step train --algorithm random_forest \
    --target fare_amount --train-data "$d/train" --validation-data "$d/val" --n-estimators 50 \
    --min-samples-leaf "$min_leaf" --seed 42 --model-output "$d/model" -o json > "$d/sluice.json" 2>/dev/null
  OMP_NUM_THREADS=2 /usr/bin/time -f '%e %M' -o "$d/sklearn.time" "$venv/bin/python" - "$d" "$min_leaf" \
    > "$d/sklearn.json" <<'PY'
import json, sys, time
import pandas as pd
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import r2_score
d, min_leaf = sys.argv[1], int(sys.argv[2])
train = pd.read_parquet(f"{d}/train/data.parquet")
val = pd.read_parquet(f"{d}/val/data.parquet")
x, y = train.drop(columns=["fare_amount"]), train["fare_amount"]
t0 = time.perf_counter()
model = RandomForestRegressor(n_estimators=50, n_jobs=2, random_state=42, min_samples_leaf=min_leaf).fit(x, y)
fit = time.perf_counter() - t0
r2 = r2_score(val["fare_amount"], model.predict(val.drop(columns=["fare_amount"])))
print(json.dumps({"fit_s": round(fit, 2), "validation_r2": r2}))
PY
  python3 - "$n" "$d" "$commit" "$min_leaf" <<'PY' | tee "$out/rows-$n-leaf-$min_leaf.json"
import json, os, sys
n, d, commit, min_leaf = sys.argv[1:]
st = open(f"{d}/sluice.time").read().split()
kt = open(f"{d}/sklearn.time").read().split()
s = json.load(open(f"{d}/sluice.json"))
k = json.load(open(f"{d}/sklearn.json"))
print(json.dumps({
    "rows": int(n), "train_rows": int(int(n) * 0.7), "min_samples_leaf": int(min_leaf),
    "sluice_wall_s": float(st[0]), "sluice_peak_mb": int(st[1]) // 1024,
    "sluice_model_mb": round(os.path.getsize(f"{d}/model/model.bin") / 2**20, 1),
    "sluice_validation_r2": s["metrics"]["validation_r2"],
    "sklearn_wall_s": float(kt[0]), "sklearn_fit_s": k["fit_s"], "sklearn_peak_mb": int(kt[1]) // 1024,
    "sklearn_validation_r2": k["validation_r2"], "sluice": commit,
}))
PY
  peak_mb=$(( $(cut -d' ' -f2 "$d/sluice.time") / 1024 ))
  if [ "$peak_mb" -gt "$rss_limit_mb" ]; then
    echo "sluice's peak RSS at $n rows: $peak_mb MB, over the $rss_limit_mb MB limit" >&2
    over=1
  fi
  rm -rf "$d"
done
exit "$over"
