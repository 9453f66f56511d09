#!/usr/bin/env bash
# Python steps: the wall time of the Python example pipeline (examples/taxi-fare-python, four
# scripts in a uv-built virtual environment) against running its four scripts by hand with the
# same venv's python, and how long building the environment takes (cold and warm), side by side
# in one sitting, with hyperfine (builds) and interleave.py (the pipeline). Results (hyperfine JSON, versions, a markdown summary) go to
# bench/python/results/; the summary is also printed on stdout.
#
#   bench/python/run.sh
#   RUNS=9 BUILD_RUNS=5 EMPTY_CACHE_RUNS=3 bench/python/run.sh
#
# What is measured (in a temporary copy of the example; nothing in the repository is touched
# but results/):
#   env builds - `sluice environment build -n taxi-train-env`:
#                no built env and an empty uv cache (UV_CACHE_DIR = a fresh empty folder, so uv
#                resolves and downloads everything from PyPI: needs the network),
#                no built env and a warm uv cache (UV_CACHE_DIR = $BENCH_CACHE/uv-cache),
#                already built (nothing to do).
#   pipeline   - in turns (interleave.py, not hyperfine: see there),
#                `sluice job create -f mlops/azureml/train/pipeline.yml --force-rerun` (env
#                built, every step runs) vs a bash script that runs prep.py, train.py,
#                evaluate.py and register.py in the env's venv (activated), the same arguments,
#                into fresh empty output folders, logging to a `sluice server` started here on
#                127.0.0.1 (the job starts its own in-process one). Both registries hold exactly
#                one version of taxi-model (from their first run), which the re-trained model
#                does not beat, so neither registers again.
#
# Needs: cargo, hyperfine, curl, jq, python3 3.11 (the example's conda file asks for it) and
# uv (SLUICE_UV if set, else pip-installed into $BENCH_CACHE/uv; BENCH_CACHE defaults to
# ~/.cache/sluice-bench).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${BENCH_CACHE:-$HOME/.cache/sluice-bench}"
out="${OUT:-$here/results}"   # OUT=DIR for a trial run elsewhere
runs="${RUNS:-9}"
build_runs="${BUILD_RUNS:-5}"
empty_cache_runs="${EMPTY_CACHE_RUNS:-3}"
mkdir -p "$out" "$cache"
# shellcheck source=../lib.sh
. "$repo/bench/lib.sh"
need_tools hyperfine curl jq python3

build_sluice

if [ -z "${SLUICE_UV:-}" ]; then
  if [ ! -x "$cache/uv/bin/uv" ]; then
    echo "== installing uv into $cache/uv" >&2
    python3 -m pip install --quiet --disable-pip-version-check --target "$cache/uv" uv
  fi
  export SLUICE_UV="$cache/uv/bin/uv"
fi
# The warm uv cache: a folder of this benchmark's own, so the user's cache is not involved.
export UV_CACHE_DIR="$cache/uv-cache"
export NO_COLOR=1

make_tmp sluice-bench-python

proj="$tmp/proj"
cp -rL "$repo/examples/taxi-fare-python" "$proj"   # -L: data/taxi-data.csv is a link
cd "$proj"
"$sluice" data create -f mlops/azureml/train/data.yml -o none 2>/dev/null
"$sluice" environment create -f mlops/azureml/train/train-env.yml -o none 2>/dev/null
# Fills the warm uv cache (and checks that the environment builds at all).
"$sluice" environment build -n taxi-train-env -o none

# ---- environment builds
# Each timed build starts from no env (and, first, from an empty uv cache), with the previous
# build's deleted files flushed (`sync` in --prepare, untimed), so one run's disk writes do not
# slow the next.
echo "== environment builds" >&2
envs="$proj/.sluice/envs"
hyperfine --runs "$empty_cache_runs" --export-json "$out/build-empty-cache.json" \
  --prepare "rm -rf '$envs' '$tmp/uv-empty'; sync" \
  -n "environment build: no env, empty uv cache" \
  "cd '$proj' && UV_CACHE_DIR='$tmp/uv-empty' '$sluice' environment build -n taxi-train-env -o none" >&2
rm -rf "$tmp/uv-empty"
# For scale: the three uv commands the build runs (resolve, create the venv, install), alone.
env_hash="$("$sluice" environment show -n taxi-train-env --query env_hash -o tsv)"
interp="$(command -v python3.11 || command -v python3)"
mkdir -p "$tmp/uv-alone"
cp "$envs/$env_hash/requirements.in" "$tmp/uv-alone/"
cat > "$tmp/uv-alone.sh" <<EOF
set -euo pipefail
cd '$tmp/uv-alone'
'$SLUICE_UV' pip compile requirements.in -o lock.txt --no-header --no-annotate --quiet --python '$interp'
'$SLUICE_UV' venv venv --no-project --quiet --python '$interp'
'$SLUICE_UV' pip sync lock.txt --quiet --python venv/bin/python
EOF
hyperfine --warmup 1 --runs "$build_runs" --export-json "$out/build-warm-cache.json" \
  --prepare "rm -rf '$envs'; sync" \
  -n "environment build: no env, warm uv cache" \
  "cd '$proj' && '$sluice' environment build -n taxi-train-env -o none" \
  --prepare "rm -rf '$tmp/uv-alone/venv' '$tmp/uv-alone/lock.txt'; sync" \
  -n "for scale: uv pip compile + uv venv + uv pip sync alone, warm uv cache" \
  "bash '$tmp/uv-alone.sh'" >&2
rm -rf "$tmp/uv-alone"
hyperfine --warmup 3 --runs 20 --export-json "$out/build-built.json" \
  -n "environment build: already built" \
  "cd '$proj' && '$sluice' environment build -n taxi-train-env -o none" >&2
# The same, with the interpreter's own folder first on PATH: when `python3.11` on PATH is a
# pyenv shim (a shell script), finding and probing it is most of the time above.
real_bin="$(python3 -c 'import os, sys; print(os.path.dirname(os.path.realpath(sys.executable)))')"
hyperfine --warmup 3 --runs 20 --export-json "$out/build-built-direct.json" \
  -n "environment build: already built, $real_bin first on PATH" \
  "cd '$proj' && PATH='$real_bin':\"\$PATH\" '$sluice' environment build -n taxi-train-env -o none" >&2
echo "python3 on PATH: $(command -v python3), resolving to $real_bin" > "$out/python-on-path.txt"
"$sluice" environment show -n taxi-train-env -o json > "$tmp/env.json"
[ "$(jq -r .env_hash "$tmp/env.json")" = "$env_hash" ]
venv="$envs/$env_hash/venv"
[ -x "$venv/bin/python" ] || { echo "no venv at $venv" >&2; exit 1; }

# ---- the pipeline vs the scripts by hand
echo "== pipeline vs scripts by hand" >&2
start_server "$tmp/hand-ws"
curl -fsS -o /dev/null -X POST "$url/api/2.0/mlflow/experiments/create" \
  -H 'Content-Type: application/json' -d '{"name": "taxi-fare-training-python"}'
o="$tmp/hand-out"
cat > "$tmp/by-hand.sh" <<EOF
#!/usr/bin/env bash
# The example's four scripts, by hand, with the same arguments as its pipeline.yml.
set -euo pipefail
export MLFLOW_TRACKING_URI='$url' MLFLOW_EXPERIMENT_NAME=taxi-fare-training-python
# What \`source venv/bin/activate\` does.
export VIRTUAL_ENV='$venv' PATH='$venv/bin':"\$PATH"
unset PYTHONHOME
py=python
o='$o'
rm -rf "\$o"
mkdir -p "\$o/train_data" "\$o/val_data" "\$o/test_data" "\$o/trained_model" \\
  "\$o/evaluation_output" "\$o/model_info_output_path"
cd '$proj/data-science/src'
"\$py" prep.py --raw_data '$proj/data/taxi-data.csv' \\
  --train_data "\$o/train_data" --val_data "\$o/val_data" --test_data "\$o/test_data"
"\$py" train.py --train_data "\$o/train_data" --model_output "\$o/trained_model"
"\$py" evaluate.py --model_name taxi-model --model_input "\$o/trained_model" \\
  --test_data "\$o/test_data" --evaluation_output "\$o/evaluation_output"
"\$py" register.py --model_name taxi-model --model_path "\$o/trained_model" \\
  --evaluation_output "\$o/evaluation_output" --model_info_output_path "\$o/model_info_output_path"
EOF
chmod +x "$tmp/by-hand.sh"
sed "s#$tmp#\$TMP#g" "$tmp/by-hand.sh" > "$out/by-hand.sh"
# First runs: each registers taxi-model version 1 in its own registry.
"$sluice" job create -f mlops/azureml/train/pipeline.yml -o none 2>/dev/null
"$tmp/by-hand.sh" >/dev/null 2>&1
# In turns (job, by hand, by hand, job, ...): a run takes ~35 s, long enough for this shared
# machine's load to drift, and hyperfine would run all of one command first.
python3 "$here/interleave.py" --warmup 1 --runs "$runs" --export-json "$out/pipeline.json" \
  "sluice job create --force-rerun (warm env)" \
  "cd '$proj' && '$sluice' job create -f mlops/azureml/train/pipeline.yml --force-rerun -o none" \
  "the 4 scripts by hand (same venv, activated)" \
  "'$tmp/by-hand.sh'"
# Neither registered a second version.
[ "$(jq -r .id "$o/model_info_output_path/model_info.json")" = null ]
n="$(curl -fsS "$url/api/2.0/mlflow/model-versions/search?filter=name%3D%27taxi-model%27" | jq '.model_versions | length')"
[ "$n" = 1 ] || { echo "taxi-model has $n versions in the by-hand registry, not 1" >&2; exit 1; }
# Every timed job's record (newest first): its start and end and each step's, so the report can
# say how much of a job's wall time is not spent inside its steps, which is robust to the
# machine's noise, unlike the difference of two medians.
for job in $("$sluice" job list --max-results "$runs" --query '[].name' -o tsv); do
  "$sluice" job show -n "$job" -o json \
    | jq '{job: .name, status, created_at: .creation_context.created_at, start_time, end_time,
           steps: [.jobs[] | {name, start_time, end_time, env_hash}]}'
done | jq -s . > "$out/pipeline.sluice-jobs.json"
[ "$(jq 'length' "$out/pipeline.sluice-jobs.json")" = "$runs" ]
[ "$(jq '[.[] | select(.status != "Completed")] | length' "$out/pipeline.sluice-jobs.json")" = 0 ]
job="$(jq -r '.[0].job' "$out/pipeline.sluice-jobs.json")"
"$sluice" job show -n "$job" -o json \
  | jq -r '.outputs.model_info_output_path.path' | xargs -I{} jq -r .id {}/model_info.json | grep -qx null

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "sluice_commit: $commit"
  echo "uv: $("$SLUICE_UV" --version)"
  echo "python: $("$venv/bin/python" --version 2>&1)"
  echo "packages_in_env: $(jq '.lock | length' "$tmp/env.json")"
  echo "env_dir_size: $(du -sh "$envs/$env_hash" | cut -f1)"
  echo "hyperfine: $(hyperfine --version)"
  echo "cpus: $(nproc)"
  echo "memory: $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
  echo "kernel: $(uname -sr)"
} > "$out/meta.txt"
jq '{requirements, python, lock}' "$tmp/env.json" > "$out/env-lock.json"
cat "$out/meta.txt" >&2

python3 "$here/report.py" "$out" | tee "$out/summary.md"
