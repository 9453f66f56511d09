#!/usr/bin/env bash
# The model file: `model.bin` (what training writes) beside `model.json` (the text form, written
# by `sluice model export --format json`) for the taxi example's learners, at the example's size
# (10,000 synthetic trips) and at 100,000 and 1,000,000: bytes on disk; the median time to load
# each (`Model::load`) and to open `model.bin` mapped (`MappedModel::open`) over RUNS; the private
# memory (RssAnon) loading and mapping it added; and the median time of predicting 100,000 rows
# with the model loaded and mapped (the example `crates/sluice-ml/examples/model_load.rs`).
# Not a test: nothing here fails on a slow result.
#
#   bench/ml/model_files.sh                ROWS="10000 100000 1000000" RUNS=5
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
rows="${ROWS:-10000 100000 1000000}"
runs="${RUNS:-5}"
out="$here/results/model-files"
mkdir -p "$out"
source "$repo/bench/lib.sh"
build_sluice
make_tmp bench-model-files

(cd "$repo" && cargo build --release --locked -p sluice-ml --example model_load >&2)
loader="$repo/target/release/examples/model_load"
# dir -> "load_ms map_ms load_private_kb map_private_kb predict_loaded_ms predict_mapped_ms"
opened() { RUNS="$runs" "$loader" "$1" | cut -d' ' -f2-; }

echo "sluice $commit, $(date -u +%Y-%m-%dT%H:%MZ)" | tee "$out/meta.txt"
printf '%s\n' "| rows | learner | nodes | model.bin | model.json | load model.bin | load model.json | open model.bin mapped | private memory loaded / mapped | predict 100,000 rows loaded / mapped |" \
  "|---|---|---|---|---|---|---|---|---|---|" | tee "$out/table.md"
for n in $rows; do
  d="$tmp/$n"; mkdir -p "$d"
  prepare_taxi "$n" "$d"
  for algorithm in random_forest gradient_boosting; do
    m="$d/$algorithm"
    "$sluice" step train --algorithm "$algorithm" --target fare_amount --train-data "$d/train" \
      --validation-data "$d/val" --seed 42 --model-output "$m" -o none 2>/dev/null
    mkdir -p "$m-json"
    "$sluice" model export --path "$m" --format json --file "$m-json/model.json" -o none 2>/dev/null
    cp "$m/MLmodel" "$m-json/"
    bin=$(stat -c %s "$m/model.bin"); json=$(stat -c %s "$m-json/model.json")
    nodes=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["model"]; t=m["trees"]; t=[x for it in t for x in (it if isinstance(it, list) else [it])]; print(sum(len(x["left"]) for x in t))' "$m-json/model.json")
    read -r eb map pl pm xl xm <<<"$(opened "$m")"
    ej=$(opened "$m-json" | cut -d' ' -f1)
    echo "| $n | $algorithm | $nodes | $(python3 -c "print(f'{$bin/2**20:.2f} MB')") | $(python3 -c "print(f'{$json/2**20:.2f} MB')") | $eb ms | $ej ms | $map ms | $((pl / 1024)) MB / $((pm / 1024)) MB | $xl ms / $xm ms |" | tee -a "$out/table.md"
  done
done
