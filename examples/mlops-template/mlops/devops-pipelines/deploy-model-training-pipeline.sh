#!/usr/bin/env bash
# The "deploy model training pipeline" stage of the Azure MLOps template's CI, with `az ml`
# swapped for `sluice`: create the compute, register the data and the environment, submit the
# pipeline with one `--set` carrying several values, then poll its status as the template does
# and fail on anything but Completed. SLUICE names the binary (default: `sluice` on PATH).
set -uo pipefail
cd "$(dirname "$0")/../.."
sluice=${SLUICE:-sluice}
experiment_name=${EXPERIMENT_NAME:-taxi-fare-training}
display_name=${DISPLAY_NAME:-taxi-fare-run-$(date +%s)}

$sluice compute create --name cpu-cluster --type amlcompute --size Standard_DS3_v2 \
  --min-instances 0 --max-instances 4 --tier low_priority \
  --resource-group rg-mlops --workspace-name mlw-mlops -o none || exit 1
$sluice data create --file mlops/azureml/train/data.yml -o none || exit 1
$sluice environment create --file mlops/azureml/train/train-env.yml -o none || exit 1

run_id=$($sluice job create --file mlops/azureml/train/pipeline.yml \
  --set experiment_name="$experiment_name" display_name="$display_name" \
  --query name -o tsv)
if [[ -z "$run_id" ]]; then
  echo "Job creation failed"
  exit 3
fi
$sluice job show -n "$run_id" --web -o none
status=$($sluice job show -n "$run_id" --query status -o tsv)
if [[ -z "$status" ]]; then
  echo "Status query failed"
  exit 4
fi
running=("NotStarted" "Queued" "Starting" "Preparing" "Running" "Finalizing" "CancelRequested")
while [[ ${running[*]} =~ $status ]]; do
  sleep 8
  status=$($sluice job show -n "$run_id" --query status -o tsv)
  echo "$status"
done
if [[ "$status" == "Completed" ]]; then
  echo "Job completed"
elif [[ "$status" == "Failed" ]]; then
  echo "Job failed"
  exit 1
else
  echo "Job status not failed or completed"
  exit 2
fi
