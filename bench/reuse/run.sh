#!/usr/bin/env bash
# Step reuse and orchestration overhead: `sluice job create` vs `dvc repro` on the taxi-fare
# example (examples/taxi-fare, four built-in `sluice step ...` commands), side by side, in one
# sitting, with hyperfine. Results (hyperfine JSON, the versions, a markdown summary) go to
# bench/reuse/results/; the summary is also printed on stdout.
#
#   bench/reuse/run.sh
#   CACHED_RUNS=20 COLD_RUNS=5 CHAIN_STEPS="1 8 16" bench/reuse/run.sh
#
# What is measured (all in temporary copies; nothing in the repository is touched but results/):
#   cached  - a re-run with nothing changed:
#               sluice, the example as shipped (evaluate/register are `is_deterministic: false`,
#               so they run again; prep/train are reused),
#               sluice, a copy with all four components `is_deterministic: true` (all reused),
#               `dvc repro` of an equivalent 4-stage dvc.yaml (all four stages cached).
#   cold    - every step runs: `sluice job create --force-rerun` vs `dvc repro -f`, and the four
#             step commands run one after the other by a plain bash script (the steps' own cost).
#   chain   - orchestration overhead: pipelines of N sequential command steps that each run
#             `true` (sluice, --force-rerun) and N dvc stages that each run `: > FILE` (dvc
#             repro -f), against the cost of spawning `/bin/bash -c true` and `/bin/sh -c true`.
#
# The dvc stages run the very commands sluice ran (taken from `sluice job show` of the first
# run, with output paths rewritten into the dvc project), with the same MLflow environment a
# sluice step gets: MLFLOW_TRACKING_URI of a `sluice server` started here on 127.0.0.1 (port
# picked by the OS), MLFLOW_EXPERIMENT_ID/NAME, and a fresh MLFLOW_RUN_ID per step, created and
# ended with two curl calls around the step (the sluice engine does the same in-process).
#
# Needs: cargo, hyperfine, git, curl, jq, python3 (dvc is pip-installed into a venv under
# $BENCH_CACHE, default ~/.cache/sluice-bench).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${BENCH_CACHE:-$HOME/.cache/sluice-bench}"
out="${OUT:-$here/results}"   # OUT=DIR for a trial run elsewhere
cached_runs="${CACHED_RUNS:-20}"
cold_runs="${COLD_RUNS:-7}"
chain_steps="${CHAIN_STEPS:-1 8 16}"
mkdir -p "$out" "$cache"
# shellcheck source=../lib.sh
. "$repo/bench/lib.sh"
need_tools hyperfine git curl jq python3

build_sluice
# `sluice step ...` in the dvc stages and the by-hand script is this very binary (inside a job
# the engine puts the binary's folder first on PATH too).
export PATH="$repo/target/release:$PATH"

if [ ! -x "$cache/dvc-venv/bin/dvc" ]; then
  echo "== installing dvc into $cache/dvc-venv" >&2
  python3 -m venv "$cache/dvc-venv"
  "$cache/dvc-venv/bin/pip" install --quiet dvc
fi
dvc="$cache/dvc-venv/bin/dvc"
export DVC_NO_ANALYTICS=1 NO_COLOR=1

make_tmp sluice-bench-reuse

# ---- versions
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "sluice_commit: $commit"
  echo "dvc: $("$dvc" --version)"
  echo "hyperfine: $(hyperfine --version)"
  echo "cpus: $(nproc)"
  echo "memory: $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
  echo "kernel: $(uname -sr)"
  echo "cached_runs: $cached_runs"
  echo "cold_runs: $cold_runs"
} > "$out/meta.txt"
cat "$out/meta.txt" >&2

# ---- sluice: the example as shipped, and a copy with every component deterministic
echo "== preparing the sluice workspaces" >&2
cp -r "$repo/examples/taxi-fare" "$tmp/shipped"
cp -r "$repo/examples/taxi-fare" "$tmp/det"
sed -i 's/^is_deterministic: false/is_deterministic: true/' "$tmp/det/components/"*.yml
grep -q '^is_deterministic: false' "$tmp/shipped/components/evaluate.yml"
if grep -q 'is_deterministic: false' "$tmp/det/components/"*.yml; then
  echo "the deterministic copy still has a non-deterministic component" >&2; exit 1
fi
for d in shipped det; do
  (cd "$tmp/$d" && "$sluice" job create -f pipeline.yml -o none 2>/dev/null)
  # The second run is the first that can reuse everything it may.
  (cd "$tmp/$d" && "$sluice" job create -f pipeline.yml -o none 2>/dev/null)
  job="$(cd "$tmp/$d" && "$sluice" job list --max-results 1 --query '[0].name' -o tsv)"
  (cd "$tmp/$d" && "$sluice" job explain -n "$job" -o json) > "$out/explain.$d.json"
done
[ "$(jq '[.[] | select(.decision == "reused")] | length' "$out/explain.shipped.json")" = 2 ]
[ "$(jq '[.[] | select(.decision == "reused")] | length' "$out/explain.det.json")" = 4 ]

# ---- dvc: the same four commands as four stages
echo "== preparing the dvc project" >&2
first_job="$(cd "$tmp/shipped" && "$sluice" job list --query '[-1].name' -o tsv)"
(cd "$tmp/shipped" && "$sluice" job show -n "$first_job" -o json) > "$tmp/first-job.json"
# Output folders of the job -> out/STEP/OUTPUT in the dvc project; the data file -> data/.
step_cmd() { # step
  jq -r --arg s "$1" '.jobs[$s].command' "$tmp/first-job.json" \
    | sed -e "s#[^ ]*/\.sluice/jobs/[^/ ]*/steps/\([^/ ]*\)/outputs/\([^/ ]*\)#out/\1/\2#g" \
          -e "s#$tmp/shipped/data/#data/#g"
}
dvcp="$tmp/dvc"
mkdir -p "$dvcp/data"
cp "$repo/examples/taxi-fare/data/taxi-data.csv" "$dvcp/data/"
cat > "$dvcp/run-step.sh" <<'EOF'
#!/usr/bin/env bash
# run-step.sh STEP CMD...: runs CMD in a fresh MLflow run, as a sluice job step would.
set -uo pipefail
api="$MLFLOW_TRACKING_URI/api/2.0/mlflow"
now() { echo $(( $(date +%s%N) / 1000000 )); }
run_id="$(curl -fsS -X POST "$api/runs/create" -H 'Content-Type: application/json' \
  -d "{\"experiment_id\": \"$MLFLOW_EXPERIMENT_ID\", \"run_name\": \"$1\", \"start_time\": $(now)}" \
  | jq -r .run.info.run_id)" || exit 1
step="$1"; shift
MLFLOW_RUN_ID="$run_id" SLUICE_STEP_NAME="$step" "$@"
rc=$?
status=FINISHED; [ "$rc" = 0 ] || status=FAILED
curl -fsS -o /dev/null -X POST "$api/runs/update" -H 'Content-Type: application/json' \
  -d "{\"run_id\": \"$run_id\", \"status\": \"$status\", \"end_time\": $(now)}" || exit 1
exit "$rc"
EOF
chmod +x "$dvcp/run-step.sh"
{
  echo "stages:"
  echo "  prep_data:"
  echo "    cmd: ./run-step.sh prep_data $(step_cmd prep_data)"
  echo "    deps: [data/taxi-data.csv]"
  echo "    outs: [out/prep_data/train_data, out/prep_data/val_data, out/prep_data/test_data]"
  echo "  train_model:"
  echo "    cmd: ./run-step.sh train_model $(step_cmd train_model)"
  echo "    deps: [out/prep_data/train_data, out/prep_data/val_data]"
  echo "    outs: [out/train_model/model_output]"
  echo "  evaluate_model:"
  echo "    cmd: ./run-step.sh evaluate_model $(step_cmd evaluate_model)"
  echo "    deps: [out/train_model/model_output, out/prep_data/test_data]"
  echo "    outs: [out/evaluate_model/evaluation_output]"
  echo "  register_model:"
  echo "    cmd: ./run-step.sh register_model $(step_cmd register_model)"
  echo "    deps: [out/train_model/model_output, out/evaluate_model/evaluation_output]"
  echo "    outs: [out/register_model/model_info_output_path]"
} > "$dvcp/dvc.yaml"
if grep -q '\.sluice' "$dvcp/dvc.yaml"; then
  echo "a workspace path was left in dvc.yaml:" >&2; cat "$dvcp/dvc.yaml" >&2; exit 1
fi
cp "$dvcp/dvc.yaml" "$out/dvc.yaml"
(cd "$dvcp" && git init -q && git config user.email bench@localhost && git config user.name bench \
  && "$dvc" init -q && "$dvc" config core.analytics false && git add -A && git commit -qm init)

# The tracking server the dvc stages and the by-hand script log to.
start_server "$tmp/dvc-ws"
export MLFLOW_TRACKING_URI="$url" MLFLOW_EXPERIMENT_NAME=taxi-fare-training
MLFLOW_EXPERIMENT_ID="$(curl -fsS -X POST "$url/api/2.0/mlflow/experiments/create" \
  -H 'Content-Type: application/json' -d '{"name": "taxi-fare-training"}' | jq -r .experiment_id)"
export MLFLOW_EXPERIMENT_ID
# Every run in this server's registry must compare against the one version the first run
# registered (evaluate scores every registered version): checked after each timed group.
one_version() {
  local n
  n="$(curl -fsS "$url/api/2.0/mlflow/model-versions/search?filter=name%3D%27taxi-fare-model%27" \
    | jq '.model_versions | length')"
  [ "$n" = 1 ] || { echo "taxi-fare-model has $n versions in the dvc server's registry, not 1" >&2; exit 1; }
}
(cd "$dvcp" && "$dvc" repro -q >/dev/null)     # registers version 1, as the first sluice run did
(cd "$dvcp" && "$dvc" repro) > "$tmp/dvc-check.txt" 2>&1
grep -q "up to date" "$tmp/dvc-check.txt" || { echo "dvc repro was not cached:" >&2; cat "$tmp/dvc-check.txt" >&2; exit 1; }
one_version

# The same four commands, one after the other, into fresh folders: the steps' own cost. Each
# logs into an MLflow run created here once (re-logging the same params is allowed), so no run
# bookkeeping is timed. by-hand-er.sh runs only evaluate and register (what the shipped example
# re-runs when nothing changed), on the outputs by-hand.sh left.
mkdir -p "$tmp/hand"
cp -r "$dvcp/data" "$tmp/hand/"
hand_lines() { # step...
  for s in "$@"; do
    id="$(curl -fsS -X POST "$url/api/2.0/mlflow/runs/create" -H 'Content-Type: application/json' \
      -d "{\"experiment_id\": \"$MLFLOW_EXPERIMENT_ID\", \"run_name\": \"by-hand-$s\"}" | jq -r .run.info.run_id)"
    echo "rm -rf out/$s && mkdir -p out/$s"
    echo "MLFLOW_RUN_ID=$id SLUICE_STEP_NAME=$s $(sed -n "/^  $s:/,/^  [a-z]/ s/^    cmd: .\/run-step.sh $s //p" "$dvcp/dvc.yaml")"
  done
}
{
  echo '#!/usr/bin/env bash'
  echo 'set -euo pipefail'
  echo "cd '$tmp/hand'"
  hand_lines prep_data train_model evaluate_model register_model
} > "$tmp/by-hand.sh"
{
  echo '#!/usr/bin/env bash'
  echo 'set -euo pipefail'
  echo "cd '$tmp/hand'"
  hand_lines evaluate_model register_model
} > "$tmp/by-hand-er.sh"
chmod +x "$tmp/by-hand.sh" "$tmp/by-hand-er.sh"
sed "s#$tmp#\$TMP#g" "$tmp/by-hand.sh" > "$out/by-hand.sh"
if [ "$(grep -c ' sluice step ' "$tmp/by-hand.sh")" != 4 ] || [ "$(grep -c ' sluice step ' "$tmp/by-hand-er.sh")" != 2 ]; then
  echo "the by-hand scripts are not as expected:" >&2; cat "$tmp/by-hand.sh" "$tmp/by-hand-er.sh" >&2; exit 1
fi
"$tmp/by-hand.sh" >/dev/null 2>&1

# ---- cached re-runs
echo "== cached re-runs" >&2
hyperfine --warmup 3 --runs "$cached_runs" --export-json "$out/cached.json" \
  -n "sluice, as shipped (prep+train reused, evaluate+register run)" \
  "cd '$tmp/shipped' && '$sluice' job create -f pipeline.yml -o none" \
  -n "sluice, all 4 deterministic (all reused)" \
  "cd '$tmp/det' && '$sluice' job create -f pipeline.yml -o none" \
  -n "dvc repro (all 4 cached)" \
  "cd '$dvcp' && '$dvc' repro -q" \
  -n "evaluate + register commands by hand (bash script)" \
  "'$tmp/by-hand-er.sh'" >&2
one_version
# Still reused after the timing runs (nothing drifted).
job="$(cd "$tmp/det" && "$sluice" job list --max-results 1 --query '[0].name' -o tsv)"
[ "$(cd "$tmp/det" && "$sluice" job explain -n "$job" -o json | jq '[.[] | select(.decision == "reused")] | length')" = 4 ]

# The two steps the shipped example re-runs, alone: where a cached re-run's time goes.
eval_line="$(grep ' sluice step evaluate ' "$tmp/by-hand.sh")"
reg_line="$(grep ' sluice step register ' "$tmp/by-hand.sh")"
hyperfine --warmup 3 --runs "$cached_runs" --export-json "$out/steps.json" \
  -n "sluice step evaluate (scores the candidate and the registered champion)" \
  "cd '$tmp/hand' && $eval_line" \
  -n "sluice step evaluate, no tracking server (candidate only)" \
  "cd '$tmp/hand' && MLFLOW_TRACKING_URI= ${eval_line/evaluation_output/evaluation_no_champion}" \
  -n "sluice step register (deploy_flag 0: registers nothing)" \
  "cd '$tmp/hand' && $reg_line" >&2
one_version

# ---- cold runs: every step runs
echo "== cold runs (every step runs)" >&2
hyperfine --warmup 1 --runs "$cold_runs" --export-json "$out/cold.json" \
  -n "sluice --force-rerun" \
  "cd '$tmp/shipped' && '$sluice' job create -f pipeline.yml --force-rerun -o none" \
  -n "dvc repro -f" \
  "cd '$dvcp' && '$dvc' repro -f -q" \
  -n "the 4 step commands by hand (bash script)" \
  "'$tmp/by-hand.sh'" >&2
one_version
# Per-step durations of the last sluice cold run, from its record.
job="$(cd "$tmp/shipped" && "$sluice" job list --max-results 1 --query '[0].name' -o tsv)"
(cd "$tmp/shipped" && "$sluice" job show -n "$job" -o json) \
  | jq '{job: .name, start_time, end_time, steps: [.jobs[] | {name, start_time, end_time}]}' > "$out/cold.sluice-job.json"

# ---- orchestration overhead: chains of N trivial steps
echo "== orchestration overhead" >&2
hyperfine -N --warmup 50 --runs 500 --export-json "$out/spawn.json" \
  "/bin/bash -c true" "/bin/sh -c true" >&2
chain_args=()
for n in $chain_steps; do
  d="$tmp/chain-sluice-$n"
  mkdir -p "$d"
  {
    echo 'type: pipeline'
    echo "experiment_name: chain-$n"
    echo 'jobs:'
    for i in $(seq 1 "$n"); do
      echo "  s$i:"
      echo '    type: command'
      if [ "$i" = 1 ]; then
        echo '    command: true ${{outputs.out}}'
      else
        echo '    command: true ${{inputs.prev}} ${{outputs.out}}'
        echo '    inputs:'
        echo "      prev: \${{parent.jobs.s$((i - 1)).outputs.out}}"
      fi
      echo '    outputs:'
      echo '      out:'
      echo '        type: uri_folder'
    done
  } > "$d/pipeline.yml"
  (cd "$d" && "$sluice" job create -f pipeline.yml -o none 2>/dev/null)
  chain_args+=(-n "sluice, $n steps, --force-rerun" "cd '$d' && '$sluice' job create -f pipeline.yml --force-rerun -o none")
  chain_args+=(-n "sluice, $n steps, all reused" "cd '$d' && '$sluice' job create -f pipeline.yml -o none")

  d="$tmp/chain-dvc-$n"
  mkdir -p "$d/o"
  {
    echo 'stages:'
    for i in $(seq 1 "$n"); do
      echo "  s$i:"
      echo "    cmd: ': > o/s$i'"
      [ "$i" = 1 ] || echo "    deps: [o/s$((i - 1))]"
      echo "    outs: [o/s$i]"
    done
  } > "$d/dvc.yaml"
  (cd "$d" && git init -q && git config user.email bench@localhost && git config user.name bench \
    && "$dvc" init -q && "$dvc" config core.analytics false && touch o/.keep && git add -A \
    && git commit -qm init && "$dvc" repro -q >/dev/null)
  chain_args+=(-n "dvc, $n stages, repro -f" "cd '$d' && '$dvc' repro -f -q")
  chain_args+=(-n "dvc, $n stages, repro (all cached)" "cd '$d' && '$dvc' repro -q")
done
hyperfine --warmup 2 --runs "$cached_runs" --export-json "$out/chain.json" "${chain_args[@]}" >&2

python3 "$here/report.py" "$out" | tee "$out/summary.md"
