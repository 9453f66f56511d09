# Shared by the benchmark scripts (source it after setting `repo`): building sluice, a temporary
# folder removed on exit, and a `sluice server` on a free loopback port, stopped on exit.

# Fails unless every named tool is on PATH.
need_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "needs $tool on PATH" >&2; exit 2; }
  done
}

# Builds the release binary; sets `sluice` and `commit` (the commit it was built from, noting
# uncommitted changes: another session may commit while a benchmark runs).
build_sluice() {
  echo "== building sluice (release)" >&2
  (cd "$repo" && cargo build --release --locked -p sluice >&2)
  sluice="$repo/target/release/sluice"
  commit="$(git -C "$repo" rev-parse --short HEAD)"
  git -C "$repo" diff --quiet HEAD -- crates Cargo.toml Cargo.lock 2>/dev/null \
    || commit="$commit + uncommitted changes under crates/ or Cargo.*"
}

# Makes `tmp` (named after $1) and removes it, and stops the server if one was started, on exit.
make_tmp() {
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")"
  server_pid=""
  trap bench_cleanup EXIT
}

bench_cleanup() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}

# Starts `sluice server` on workspace $1 on a free 127.0.0.1 port; sets `server_pid` and `url`
# once it answers /health.
start_server() {
  "$sluice" --workspace "$1" server --port 0 2>"$tmp/server.log" &
  server_pid=$!
  url=""
  for _ in $(seq 200); do
    url="$(sed -n 's#^Listening on \(http://127\.0\.0\.1:[0-9]*\).*#\1#p' "$tmp/server.log")"
    [ -n "$url" ] && curl -fsS "$url/health" >/dev/null 2>&1 && return 0
    url=""; sleep 0.05
  done
  echo "sluice server did not start:" >&2; cat "$tmp/server.log" >&2; exit 1
}

# The taxi example's data at N rows in folder $2: `sluice step synth-taxi --rows N` (seeded),
# then the example's `prep` (70 % train, 15 % validation, 15 % test) into $2/train, val, test.
prepare_taxi() {
  "$sluice" step synth-taxi --rows "$1" --path "$2/taxi.parquet" -o none 2>/dev/null
  "$sluice" step prep --data "$2/taxi.parquet" --target fare_amount --drop pickup_datetime \
    --categorical vendor,store_and_fwd_flag --split 0.7,0.15,0.15 --seed 42 \
    --train-output "$2/train" --validation-output "$2/val" --test-output "$2/test" -o none 2>/dev/null
}
