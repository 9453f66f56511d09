#!/usr/bin/env bash
# The taxi example's random forest at real sizes: `sluice step synth-taxi --rows N` (seeded),
# the example's `prep`, then `sluice step train --algorithm random_forest --n-estimators 50`
# beside scikit-learn's RandomForestRegressor(n_estimators=50, n_jobs=2) on the same prepared
# rows, each under /usr/bin/time (wall time, peak RSS), with the validation R².
# Not a test: nothing here fails on a slow result.
#
#   bench/ml/taxi_scale.sh                 ROWS="100000 1000000"
#   VENV=/path/to/venv (scikit-learn, pandas, pyarrow; default: the mlflow 3 test venv)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
rows="${ROWS:-100000 1000000}"
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
    --seed 42 --model-output "$d/model" -o json > "$d/sluice.json" 2>/dev/null
  OMP_NUM_THREADS=2 /usr/bin/time -f '%e %M' -o "$d/sklearn.time" "$venv/bin/python" - "$d" \
    > "$d/sklearn.json" <<'PY'
import json, sys, time
import pandas as pd
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import r2_score
d = sys.argv[1]
train = pd.read_parquet(f"{d}/train/data.parquet")
val = pd.read_parquet(f"{d}/val/data.parquet")
x, y = train.drop(columns=["fare_amount"]), train["fare_amount"]
t0 = time.perf_counter()
model = RandomForestRegressor(n_estimators=50, n_jobs=2, random_state=42).fit(x, y)
fit = time.perf_counter() - t0
r2 = r2_score(val["fare_amount"], model.predict(val.drop(columns=["fare_amount"])))
print(json.dumps({"fit_s": round(fit, 2), "validation_r2": r2}))
PY
  python3 - "$n" "$d" "$commit" <<'PY' | tee "$out/rows-$n.json"
import json, os, sys
n, d, commit = sys.argv[1:]
st = open(f"{d}/sluice.time").read().split()
kt = open(f"{d}/sklearn.time").read().split()
s = json.load(open(f"{d}/sluice.json"))
k = json.load(open(f"{d}/sklearn.json"))
print(json.dumps({
    "rows": int(n), "train_rows": int(int(n) * 0.7),
    "sluice_wall_s": float(st[0]), "sluice_peak_mb": int(st[1]) // 1024,
    "sluice_model_mb": round(os.path.getsize(f"{d}/model/model.bin") / 2**20, 1),
    "sluice_validation_r2": s["metrics"]["validation_r2"],
    "sklearn_wall_s": float(kt[0]), "sklearn_fit_s": k["fit_s"], "sklearn_peak_mb": int(kt[1]) // 1024,
    "sklearn_validation_r2": k["validation_r2"], "sluice": commit,
}))
PY
  rm -rf "$d"
done
