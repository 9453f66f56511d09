#!/bin/sh
# Scores the model on the test set; writes metrics.json and deploy_flag (1 when MAE <= max).
set -eu
model="$1"; test="$2"; max_mae="$3"; out="$4"
awk -F, -v max="$max_mae" -v out="$out" '
  NR == FNR { slope = $1; intercept = $2; next }
  FNR > 1 { n++; e = ($4 - (intercept + slope * $1)); ae += (e < 0 ? -e : e); se += e * e }
  END {
    mae = ae / n; rmse = sqrt(se / n)
    printf "{\"mae\": %.4f, \"rmse\": %.4f, \"rows\": %d}\n", mae, rmse, n > out "/metrics.json"
    printf "%d", (mae <= max) > out "/deploy_flag"
    printf "mae %.4f rmse %.4f on %d rows\n", mae, rmse, n
  }' "$model" "$test"
