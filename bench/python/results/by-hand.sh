#!/usr/bin/env bash
# The example's four scripts, by hand, with the same arguments as its pipeline.yml.
set -euo pipefail
export MLFLOW_TRACKING_URI='http://127.0.0.1:45007' MLFLOW_EXPERIMENT_NAME=taxi-fare-training-python
# What `source venv/bin/activate` does.
export VIRTUAL_ENV='$TMP/proj/.sluice/envs/94c3765bc645e09e4c193ab0a2bffc220f60da91fb1b1f47dd3769e25fb51879/venv' PATH='$TMP/proj/.sluice/envs/94c3765bc645e09e4c193ab0a2bffc220f60da91fb1b1f47dd3769e25fb51879/venv/bin':"$PATH"
unset PYTHONHOME
py=python
o='$TMP/hand-out'
rm -rf "$o"
mkdir -p "$o/train_data" "$o/val_data" "$o/test_data" "$o/trained_model" \
  "$o/evaluation_output" "$o/model_info_output_path"
cd '$TMP/proj/data-science/src'
"$py" prep.py --raw_data '$TMP/proj/data/taxi-data.csv' \
  --train_data "$o/train_data" --val_data "$o/val_data" --test_data "$o/test_data"
"$py" train.py --train_data "$o/train_data" --model_output "$o/trained_model"
"$py" evaluate.py --model_name taxi-model --model_input "$o/trained_model" \
  --test_data "$o/test_data" --evaluation_output "$o/evaluation_output"
"$py" register.py --model_name taxi-model --model_path "$o/trained_model" \
  --evaluation_output "$o/evaluation_output" --model_info_output_path "$o/model_info_output_path"
