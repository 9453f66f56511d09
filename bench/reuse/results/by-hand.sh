#!/usr/bin/env bash
set -euo pipefail
cd '$TMP/hand'
rm -rf out/prep_data && mkdir -p out/prep_data
MLFLOW_RUN_ID=891f98eb36ea40c62ed602fea122ccf9 SLUICE_STEP_NAME=prep_data sluice step prep --data data/taxi-data.csv --target fare_amount --drop pickup_datetime --categorical vendor,store_and_fwd_flag --split 0.7,0.15,0.15 --seed 42 --train-output out/prep_data/train_data --validation-output out/prep_data/val_data --test-output out/prep_data/test_data
rm -rf out/train_model && mkdir -p out/train_model
MLFLOW_RUN_ID=f874f71143c3a0e6b6a14a4d196c06d3 SLUICE_STEP_NAME=train_model sluice step train --algorithm random_forest --target fare_amount --train-data out/prep_data/train_data --validation-data out/prep_data/val_data --n-estimators 50 --seed 42 --model-output out/train_model/model_output
rm -rf out/evaluate_model && mkdir -p out/evaluate_model
MLFLOW_RUN_ID=55c0a50eb5394ad2a9b56f0cee7678ed SLUICE_STEP_NAME=evaluate_model sluice step evaluate --model out/train_model/model_output --test-data out/prep_data/test_data --model-name taxi-fare-model --metric r2 --evaluation-output out/evaluate_model/evaluation_output
rm -rf out/register_model && mkdir -p out/register_model
MLFLOW_RUN_ID=773ae0f4e0fa1d3359fa7290f82b398c SLUICE_STEP_NAME=register_model sluice step register --model out/train_model/model_output --model-name taxi-fare-model --evaluation-output out/evaluate_model/evaluation_output --model-info-output out/register_model/model_info_output_path
