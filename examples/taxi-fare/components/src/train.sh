#!/bin/sh
# Least-squares fit of fare_amount on distance; writes the model as `slope intercept`.
set -eu
awk -F, 'NR > 1 { n++; x += $1; y += $4; xx += $1 * $1; xy += $1 * $4 }
  END {
    slope = (n * xy - x * y) / (n * xx - x * x); intercept = (y - slope * x) / n
    printf "%.6f,%.6f\n", slope, intercept > "'"$2"'/model.txt"
    printf "trained on %d rows: fare = %.4f + %.4f * distance\n", n, intercept, slope
  }' "$1"
