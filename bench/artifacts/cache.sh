#!/usr/bin/env bash
# What the datastore cache saves on a re-run: a pipeline whose input is a data asset on a remote
# datastore (Azure Blob on Azurite, S3 on SeaweedFS), SIZE_MB in FILES objects, run three times
# in one workspace: cold (everything downloaded), again unchanged (nothing downloaded; the step
# reused), and with one object rewritten (only it downloaded; the step runs). Wall time of
# `sluice job create` each time, REPEAT times, medians.
#
#   bench/artifacts/cache.sh                SIZE_MB=1024 FILES=16 REPEAT=3
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
size_mb="${SIZE_MB:-1024}"
files="${FILES:-16}"
repeat="${REPEAT:-3}"
backends="${BACKENDS:-azure s3}"
out="$here/results"
mkdir -p "$out"
source "$repo/bench/lib.sh"
build_sluice

tmp="$(mktemp -d "${TMPDIR:-/tmp}/bench-cache.XXXXXX")"
az_dir="$tmp/azurite" sw_dir="$tmp/seaweedfs"
cleanup() {
  [ -d "$az_dir" ] && bash "$repo/.ci/services/azurite.sh" stop "$az_dir" >/dev/null 2>&1 || true
  [ -d "$sw_dir" ] && bash "$repo/.ci/services/seaweedfs.sh" stop "$sw_dir" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
az_url=$(bash "$repo/.ci/services/azurite.sh" start "$az_dir")
s3_url=$(bash "$repo/.ci/services/seaweedfs.sh" start "$sw_dir")
azurite_key='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

per=$(( size_mb * 1024 * 1024 / files ))
mkdir -p "$tmp/input"
for i in $(seq -w 1 "$files"); do head -c "$per" /dev/urandom > "$tmp/input/part-$i.bin"; done

now() { date +%s.%N; }
for backend in $backends; do
  for r in $(seq "$repeat"); do
    ws="$tmp/ws-$backend-$r"; mkdir -p "$ws"; cd "$ws"
    prefix="cache-$backend-$r-$RANDOM"
    if [ "$backend" = azure ]; then
      cat > ds.yml <<YML
name: remote
type: azure_blob
account_name: devstoreaccount1
container_name: artifacts
endpoint: $az_url
credentials:
  account_key: $azurite_key
YML
    else
      cat > ds.yml <<YML
name: remote
type: s3
bucket: artifacts
endpoint: $s3_url
credentials:
  access_key_id: sluice
  secret_access_key: sluice-test-secret
YML
    fi
    "$sluice" datastore create -f ds.yml >/dev/null
    # Upload the input with a throwaway server-less helper: a one-step job that publishes it.
    cat > upload.yml <<YML
type: command
command: cp $tmp/input/* \${{outputs.out}}/
outputs:
  out:
    type: uri_folder
    path: azureml://datastores/remote/paths/$prefix/input/
YML
    "$sluice" job create -f upload.yml -o json >/dev/null
    cat > data.yml <<YML
name: big_input
type: uri_folder
path: azureml://datastores/remote/paths/$prefix/input/
YML
    "$sluice" data create -f data.yml >/dev/null
    rm -rf .sluice/cache/datastores/remote/fetched   # the registration fetched it: start cold
    cat > pipeline.yml <<'YML'
type: pipeline
inputs:
  big:
    type: uri_folder
    path: azureml:big_input@latest
jobs:
  size:
    type: command
    command: du -sb ${{inputs.data}} > ${{outputs.out}}/size.txt
    inputs:
      data: ${{parent.inputs.big}}
    outputs:
      out:
        type: uri_folder
YML
    t0=$(now); "$sluice" job create -f pipeline.yml -o json >/dev/null; t1=$(now)
    "$sluice" job create -f pipeline.yml -o json >/dev/null; t2=$(now)
    # One object rewritten in the store (through the same datastore), then a third run.
    cat > change.yml <<YML
type: command
command: head -c $per /dev/urandom > \${{outputs.out}}/part-01.bin
outputs:
  out:
    type: uri_folder
    path: azureml://datastores/remote/paths/$prefix/input/
YML
    "$sluice" job create -f change.yml -o json >/dev/null
    t3=$(now); "$sluice" job create -f pipeline.yml -o json >/dev/null; t4=$(now)
    python3 -c "import json,sys; print(json.dumps({'backend': sys.argv[1], 'cold_s': round($t1-$t0,3), 'unchanged_s': round($t2-$t1,3), 'one_changed_s': round($t4-$t3,3), 'size_mb': $size_mb, 'files': $files}))" "$backend" \
      | tee "$out/cache-$backend.run$r.json" >&2
    cd "$tmp"; rm -rf "$ws"
  done
done

python3 - "$out" "$size_mb" "$files" "$commit" <<'PY'
import glob, json, os, statistics, sys
out, size_mb, files, commit = sys.argv[1:5]
print(f"{size_mb} MB in {files} objects on the datastore; `sluice job create` wall time, medians; sluice {commit}\n")
print("| backend | cold (all downloaded) | re-run, unchanged (nothing downloaded) | re-run, 1 object changed |")
print("|---|---|---|---|")
for b in ("azure", "s3"):
    rs = [json.load(open(f)) for f in sorted(glob.glob(os.path.join(out, f"cache-{b}.run*.json")))]
    if rs:
        m = lambda k: statistics.median(r[k] for r in rs)
        print(f"| {b} | {m('cold_s'):.2f} s | {m('unchanged_s'):.2f} s | {m('one_changed_s'):.2f} s |")
PY
