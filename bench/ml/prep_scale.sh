#!/usr/bin/env bash
# The taxi example's `prep` at 10,000 to 10,000,000 rows: `sluice step synth-taxi --rows N`
# (seeded) written as CSV and as Parquet, then the example's `sluice step prep` on each, beside
# pandas doing the same prep (read, drop rows with missing values, one-hot the two categorical
# columns with the train split's categories, a seeded 70/15/15 split, write three Parquet
# files) and, if BEFORE names one, another sluice binary (an earlier build) on the CSV. Each
# under /usr/bin/time (wall time, peak RSS). Not a test: nothing fails on a slow result; the
# script fails (exit 1, after every size) when sluice's prep passes PREP_RSS_LIMIT_MB (default
# 256) at any size: the fixed budget prep is meant to stay within however large the table.
#
#   bench/ml/prep_scale.sh        ROWS="10000 100000 1000000 10000000" PREP_RSS_LIMIT_MB=256
#   BEFORE=/path/to/older/sluice  BEFORE_MAX_ROWS=1000000 (larger tables are not given to it)
#   PEER_MAX_ROWS=10000000        VENV=/path/to/venv (pandas, pyarrow, scikit-learn; default:
#                                 the mlflow 3 test venv)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
rows="${ROWS:-10000 100000 1000000 10000000}"
limit_mb="${PREP_RSS_LIMIT_MB:-256}"
before="${BEFORE:-}"
before_max="${BEFORE_MAX_ROWS:-1000000}"
peer_max="${PEER_MAX_ROWS:-10000000}"
venv="${VENV:-${SLUICE_TEST_CACHE:-$HOME/.cache/sluice-test}/venv-mlflow3}"
out="$here/results/prep-scale"
mkdir -p "$out"
source "$repo/bench/lib.sh"
need_tools /usr/bin/time
build_sluice
make_tmp bench-prep-scale
over=0

# `timed NAME CMD...`: runs CMD under /usr/bin/time into $d/NAME.time ("wall peak_kb").
timed() {
  local name="$1"; shift
  /usr/bin/time -f '%e %M' -o "$d/$name.time" "$@" > "$d/$name.out" 2> "$d/$name.err"
}

prep_args=(step prep --target fare_amount --drop pickup_datetime
  --categorical vendor,store_and_fwd_flag --split 0.7,0.15,0.15 --seed 42 -o json)

for n in $rows; do
  d="$tmp/$n"; mkdir -p "$d"
  timed synth_csv "$sluice" step synth-taxi --rows "$n" --path "$d/taxi.csv" -o none
  timed synth_parquet "$sluice" step synth-taxi --rows "$n" --path "$d/taxi.parquet" -o none
  for format in csv parquet; do
    timed "prep_$format" "$sluice" "${prep_args[@]}" --data "$d/taxi.$format" \
      --train-output "$d/$format/train" --validation-output "$d/$format/val" \
      --test-output "$d/$format/test"
  done
  if [ -n "$before" ] && [ "$n" -le "$before_max" ]; then
    timed before_csv "$before" "${prep_args[@]}" --data "$d/taxi.csv" \
      --train-output "$d/before/train" --validation-output "$d/before/val" \
      --test-output "$d/before/test"
  fi
  if [ "$n" -le "$peer_max" ]; then
    timed pandas_csv "$venv/bin/python" - "$d" <<'PY'
import sys
import pandas as pd
from sklearn.model_selection import train_test_split
d = sys.argv[1]
t = pd.read_csv(f"{d}/taxi.csv").drop(columns=["pickup_datetime"]).dropna()
train, rest = train_test_split(t, train_size=0.7, random_state=42)
val, test = train_test_split(rest, test_size=0.5, random_state=42)
cats = {c: sorted(train[c].unique()) for c in ["vendor", "store_and_fwd_flag"]}
for name, part in [("train", train), ("val", val), ("test", test)]:
    for c, known in cats.items():
        for k in known:
            part[f"{c}={k}"] = (part[c] == k).astype("float64")
        part = part.drop(columns=[c])
    y = part.pop("fare_amount")
    part["fare_amount"] = y
    part.to_parquet(f"{d}/pandas-{name}.parquet", index=False)
PY
  fi
  python3 - "$n" "$d" "$commit" <<'PY' | tee "$out/rows-$n.json"
import json, os, sys
n, d, commit = sys.argv[1:]
def timing(name):
    path = f"{d}/{name}.time"
    if not os.path.exists(path):
        return None
    wall, kb = open(path).read().split()[-2:]
    return {"wall_s": float(wall), "peak_mb": int(kb) // 1024}
report = json.load(open(f"{d}/prep_csv.out"))
print(json.dumps({
    "rows": int(n), "sluice": commit,
    "csv_mb": round(os.path.getsize(f"{d}/taxi.csv") / 2**20, 1),
    "parquet_mb": round(os.path.getsize(f"{d}/taxi.parquet") / 2**20, 1),
    "train_rows": report["rows"]["train"],
    **{k: timing(k) for k in ["synth_csv", "synth_parquet", "prep_csv", "prep_parquet",
                              "before_csv", "pandas_csv"]},
}))
PY
  for format in csv parquet; do
    peak_mb=$(( $(cut -d' ' -f2 "$d/prep_$format.time") / 1024 ))
    if [ "$peak_mb" -gt "$limit_mb" ]; then
      echo "sluice prep of $n rows ($format): peak RSS $peak_mb MB, over the $limit_mb MB budget" >&2
      over=1
    fi
  done
  rm -rf "$d"
done
exit "$over"
