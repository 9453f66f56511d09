#!/usr/bin/env bash
# Benchmarks sluice-ml against scikit-learn on the same seeded 200 000 x 20 data, 2 threads each,
# and prints a markdown table (also written to $OUT/table.md). scikit-learn is installed into a
# venv under /tmp on first use. Not a test: nothing here fails on a slow result.
#
# The two alternate, one fit of every learner per round, for $ROUNDS rounds (default 3), and the
# table reports median fit times: on a shared machine the speed drifts, and alternating spreads
# the drift over both sides.
set -euo pipefail
cd "$(dirname "$0")/../.."

OUT=${OUT:-/tmp/sluice-bench}
VENV=${VENV:-/tmp/sluice-bench-venv}
ROUNDS=${ROUNDS:-3}
THREADS=2
mkdir -p "$OUT"
rm -f "$OUT/sluice.jsonl" "$OUT/sklearn.jsonl"

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import sklearn, numpy, threadpoolctl" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet scikit-learn numpy threadpoolctl
fi
cargo build --quiet --release -p sluice-ml --example bench_fit

# Some machines set OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE for old OpenBLAS builds; they slow a
# current numpy, so scikit-learn runs without them. OpenMP (HistGradientBoosting) and BLAS get 2
# threads; the forests get n_jobs=2 in the script.
python_env=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE
    OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS)
"${python_env[@]}" "$VENV/bin/python" -c \
    "import json, numpy, sklearn, threadpoolctl; print(json.dumps({'numpy': numpy.__version__, 'sklearn': sklearn.__version__, 'threadpools': threadpoolctl.threadpool_info()}))" \
    >"$OUT/versions.json"

for round in $(seq "$ROUNDS"); do
    echo "== round $round: sluice-ml (writes the data to $OUT/data.csv)" >&2
    RAYON_NUM_THREADS=$THREADS cargo run --quiet --release -p sluice-ml --example bench_fit -- "$OUT/data.csv" 1 \
        | tee -a "$OUT/sluice.jsonl" >&2
    echo "== round $round: scikit-learn" >&2
    "${python_env[@]}" "$VENV/bin/python" bench/ml/bench_sklearn.py "$OUT/data.csv" 1 \
        | tee -a "$OUT/sklearn.jsonl" >&2
done

"$VENV/bin/python" bench/ml/table.py "$OUT/sluice.jsonl" "$OUT/sklearn.jsonl" | tee "$OUT/table.md"
