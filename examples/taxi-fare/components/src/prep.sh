#!/bin/sh
# Splits the raw CSV into train and test sets: every Nth data row is held out for testing.
set -eu
raw="$1"; every="$2"; train_dir="$3"; test_dir="$4"
awk -F, -v every="$every" -v train="$train_dir/train.csv" -v test="$test_dir/test.csv" '
  NR == 1 { print > train; print > test; next }
  (NR - 1) % every == 0 { print > test; t++; next }
  { print > train; n++ }
  END { printf "train rows: %d, test rows: %d\n", n, t }' "$raw"
