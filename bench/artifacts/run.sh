#!/usr/bin/env bash
# Artifact throughput through the `mlflow-artifacts` proxy, `sluice server` beside MLflow's own
# server, in one sitting, on three backends: a local folder, Azure Blob (Azurite) and S3
# (SeaweedFS). For each server and backend: a fresh server, then the real `mlflow` client logs a
# SIZE_MB file as a run artifact and downloads it back (checked byte for byte), REPEAT times,
# while the server's memory is sampled (the sum of its process tree's RSS, every 0.2 s; for
# sluice, one process, also its kernel-reported peak, VmHWM).
#
# Both servers are measured as proxies: the client sends the bytes to the server, which streams
# them to the store (MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD/DOWNLOAD=false; MLflow 3's default
# for S3 and Azure has the client upload parts straight to the store with presigned URLs, which
# bypasses the server and, on Azurite, fails: see docs/benchmarks/artifacts.md).
#
#   bench/artifacts/run.sh                   SIZE_MB=2048 REPEAT=1 by default
#   SIZE_MB=512 REPEAT=3 bench/artifacts/run.sh
#   ONLY="sluice" BACKENDS="s3" bench/artifacts/run.sh
#
# Needs: a release build of sluice (built here), the bench venv with mlflow, boto3 and
# azure-storage-blob (made under $BENCH_CACHE, default ~/.cache/sluice-bench), Azurite and
# SeaweedFS (`.ci/services/azurite.sh install`, `.ci/services/seaweedfs.sh install`; started
# here on free ports and stopped by PID). Results: bench/artifacts/results/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${BENCH_CACHE:-$HOME/.cache/sluice-bench}"
out="$here/results"
size_mb="${SIZE_MB:-2048}"
repeat="${REPEAT:-1}"
servers="${ONLY:-sluice mlflow}"
backends="${BACKENDS:-local azure s3}"
mkdir -p "$out" "$cache"
source "$repo/bench/lib.sh"

build_sluice
py="$cache/venv/bin/python"
if ! "$py" -c 'import mlflow, boto3, azure.storage.blob' 2>/dev/null; then
  echo "== installing mlflow, boto3 and azure-storage-blob into $cache/venv" >&2
  [ -x "$py" ] || python3 -m venv "$cache/venv"
  "$cache/venv/bin/pip" install --quiet mlflow boto3 azure-storage-blob azure-identity
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/bench-artifacts.XXXXXX")"
az_dir="$tmp/azurite" sw_dir="$tmp/seaweedfs" pid=""
cleanup() {
  [ -n "$pid" ] && stop_tree "$pid"
  [ -d "$az_dir" ] && bash "$repo/.ci/services/azurite.sh" stop "$az_dir" >/dev/null 2>&1 || true
  [ -d "$sw_dir" ] && bash "$repo/.ci/services/seaweedfs.sh" stop "$sw_dir" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

descendants() { local c; for c in $(pgrep -P "$1" 2>/dev/null); do echo "$c"; descendants "$c"; done; }
stop_tree() { local all; all="$1 $(descendants "$1")"; kill -TERM $all 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
tree_rss_kb() { local p s=0; for p in $1 $(descendants "$1"); do s=$((s + $(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0))); done; echo "$s"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

export MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD=false MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD=false

echo "== a ${size_mb} MB file" >&2
head -c "$((size_mb * 1024 * 1024))" /dev/urandom > "$tmp/model-weights.bin"

azurite_key='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
[[ " $backends " == *" azure "* ]] && az_url=$(bash "$repo/.ci/services/azurite.sh" start "$az_dir")
[[ " $backends " == *" s3 "* ]] && s3_url=$(bash "$repo/.ci/services/seaweedfs.sh" start "$sw_dir")

# destination <backend> <label>: sets `dest` and the environment the server needs.
destination() {
  unset AZURE_STORAGE_CONNECTION_STRING AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY MLFLOW_S3_ENDPOINT_URL
  case $1 in
    local) dest="$tmp/store-$2" ;;
    azure)
      dest="wasbs://artifacts@devstoreaccount1.blob.core.windows.net/bench-$2"
      export AZURE_STORAGE_CONNECTION_STRING="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$azurite_key;BlobEndpoint=$az_url;"
      ;;
    s3)
      dest="s3://artifacts/bench-$2"
      export AWS_ACCESS_KEY_ID=sluice AWS_SECRET_ACCESS_KEY=sluice-test-secret MLFLOW_S3_ENDPOINT_URL="$s3_url"
      ;;
  esac
}

for backend in $backends; do
  for server in $servers; do
    label="$server-$backend"
    destination "$backend" "$label-$RANDOM"
    port=$(free_port)
    if [ "$server" = sluice ]; then
      "$sluice" --workspace "$tmp/ws-$label" server --port "$port" --artifacts-destination "$dest" \
        2>"$tmp/$label.log" &
    else
      "$cache/venv/bin/mlflow" server --host 127.0.0.1 --port "$port" \
        --backend-store-uri "sqlite:///$tmp/$label.db" --artifacts-destination "$dest" \
        >"$tmp/$label.log" 2>&1 &
    fi
    pid=$!
    for _ in $(seq 1200); do curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.05; done
    curl -fsS "http://127.0.0.1:$port/health" >/dev/null || { cat "$tmp/$label.log" >&2; exit 1; }
    base=$(tree_rss_kb "$pid")
    for i in $(seq "$repeat"); do
      peak=0
      "$py" "$here/client.py" --url "http://127.0.0.1:$port" --file "$tmp/model-weights.bin" \
        --label "$label" > "$tmp/$label.$i.json" &
      cp=$!
      while kill -0 "$cp" 2>/dev/null; do
        r=$(tree_rss_kb "$pid"); [ "$r" -gt "$peak" ] && peak=$r
        sleep 0.2
      done
      if ! wait "$cp"; then
        echo "{\"label\": \"$label\", \"failed\": true}" > "$tmp/$label.$i.json"
        tail -20 "$tmp/$label.log" >&2
      fi
      hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
      "$py" - "$tmp/$label.$i.json" "$peak" "$base" "$hwm" "$(tree_rss_kb "$pid" | wc -w)" >"$out/$label.run$i.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
r.update(peak_rss_mb=round(int(sys.argv[2]) / 1024, 1), idle_rss_mb=round(int(sys.argv[3]) / 1024, 1),
         main_process_hwm_mb=round(int(sys.argv[4]) / 1024, 1))
print(json.dumps(r))
PY
      cat "$out/$label.run$i.json" >&2
    done
    stop_tree "$pid"; pid=""
    [ "$backend" = local ] && rm -rf "$dest"
  done
done

"$py" - "$out" "$size_mb" "$repeat" "$commit" <<'PY'
import glob, json, os, statistics, sys
out, size_mb, repeat, commit = sys.argv[1:5]
rows = {}
for f in sorted(glob.glob(os.path.join(out, "*.run*.json"))):
    r = json.load(open(f))
    rows.setdefault(r["label"], []).append(r)
print(f"{size_mb} MB artifact, {repeat} round trip(s) per server and backend (medians), sluice {commit}\n")
print("| backend | server | upload MB/s | download MB/s | server RSS idle → peak (MB) | identical |")
print("|---|---|---|---|---|---|")
for backend in ("local", "azure", "s3"):
    for server in ("sluice", "mlflow"):
        rs = rows.get(f"{server}-{backend}")
        if not rs:
            continue
        if any(r.get("failed") for r in rs):
            print(f"| {backend} | {server} | failed | failed | {rs[0].get('idle_rss_mb')} → {max(r['peak_rss_mb'] for r in rs)} | - |")
            continue
        med = lambda k: statistics.median(r[k] for r in rs)
        print(f"| {backend} | {server} {rs[0].get('mlflow', '') if server == 'mlflow' else ''} | {med('upload_mb_s')} | {med('download_mb_s')} "
              f"| {rs[0]['idle_rss_mb']} → {max(r['peak_rss_mb'] for r in rs)} | {all(r['identical'] for r in rs)} |")
PY
