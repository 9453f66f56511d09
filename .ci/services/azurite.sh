#!/usr/bin/env bash
# Azurite, Azure's Blob storage emulator (npm), for the tests of Azure Blob artifact stores and
# datastores.
#
# Usage: .ci/services/azurite.sh install
#        .ci/services/azurite.sh start   <dir>   # prints the blob endpoint (one line) on stdout
#        .ci/services/azurite.sh stop    <dir>
#        .ci/services/azurite.sh restart <dir> [seconds-down]   # same port, same data
#
# `install` puts azurite (pinned) under $SLUICE_TEST_CACHE/azurite (default
# ~/.cache/sluice-test). `start` listens on a free port of 127.0.0.1 only, keeps blobs in
# <dir>/data, and prints `http://127.0.0.1:PORT/devstoreaccount1`. The account is Azurite's
# well-known development account (`devstoreaccount1` and its published key, below); requests
# must be signed (anonymous reads are refused); the container `artifacts` is made. Files in
# <dir>: url, ports, pid, azurite.log, data/.
set -euo pipefail

SERVICE=azurite.sh
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

VERSION=3.37.0
HOME_DIR="$CACHE/azurite"
BIN="$HOME_DIR/node_modules/.bin/azurite-blob"
# Azurite's published development key: not a secret.
export AZURITE_ACCOUNT=devstoreaccount1
export AZURITE_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

cmd_install() {
  if [ -x "$BIN" ]; then
    log "already installed: $BIN"
    return 0
  fi
  command -v npm >/dev/null 2>&1 || die "npm is needed (Debian: apt-get install nodejs npm)"
  local t0; t0=$(now_ns)
  mkdir -p "$HOME_DIR"
  npm install --prefix "$HOME_DIR" --no-audit --no-fund --loglevel=error "azurite@$VERSION" >&2
  log "installed in $(elapsed "$t0") s"
}

pick_ports() { echo "blobPort $(free_port)" >"$1/ports"; }

# start_on <dir>: on the port in <dir>/ports; returns 2 when it does not come up.
start_on() {
  local dir=$1 port pid
  [ -x "$BIN" ] || die "not installed: run '$0 install' first"
  port=$(awk '$1 == "blobPort" { print $2 }' "$dir/ports")
  mkdir -p "$dir/data"
  nohup "$BIN" --blobHost 127.0.0.1 --blobPort "$port" --location "$dir/data" \
    --skipApiVersionCheck --disableTelemetry >"$dir/azurite.log" 2>&1 </dev/null &
  pid=$!   # azurite-blob has a node shebang: this is the server's own PID
  echo "$pid" >"$dir/pid"
  if ! wait_http 60 "http://127.0.0.1:$port/"; then
    stop_pid "$pid"
    tail -20 "$dir/azurite.log" >&2 || true
    return 2
  fi
  echo "http://127.0.0.1:$port/$AZURITE_ACCOUNT" >"$dir/url"
  make_container "$(cat "$dir/url")" artifacts
}

# make_container <blob-endpoint> <name>: creates the container (signed with an account SAS made
# with Python's standard library; no Azure SDK needed). An existing one is fine.
make_container() {
  local sas code
  sas=$(python3 - "$AZURITE_ACCOUNT" "$AZURITE_KEY" <<'PY'
import base64, datetime, hashlib, hmac, sys, urllib.parse
acc, key = sys.argv[1], sys.argv[2]
exp = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
sp, ss, srt, sv, spr = "rwdlac", "b", "sco", "2021-08-06", "https,http"
sts = "\n".join([acc, sp, ss, srt, "", exp, "", spr, sv, ""]) + "\n"
sig = base64.b64encode(hmac.new(base64.b64decode(key), sts.encode(), hashlib.sha256).digest()).decode()
print(urllib.parse.urlencode({"sv": sv, "ss": ss, "srt": srt, "sp": sp, "se": exp, "spr": spr, "sig": sig}))
PY
)
  code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$1/$2?restype=container&$sas")
  case $code in 201|409) ;; *) die "creating the container $2 answered HTTP $code" ;; esac
}

svc_main "$@"
