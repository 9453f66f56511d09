# Helpers shared by the service scripts in this folder (sourced, not run). Each script sets
# SERVICE (its name in messages) before sourcing.

log() { printf '%s: %s\n' "$SERVICE" "$*" >&2; }
die() { log "error: $*"; exit 1; }
now_ns() { date +%s%N; }
elapsed() { # elapsed <start_ns>: seconds with two decimals
  local d=$(( $(now_ns) - $1 ))
  printf '%d.%02d' $((d / 1000000000)) $((d % 1000000000 / 10000000))
}

abs_dir() { # abs_dir <dir> [create]: the absolute path (created when asked)
  [ "${2:-}" = create ] && mkdir -p "$1"
  [ -d "$1" ] || die "no such directory: $1"
  (cd "$1" && pwd -P)
}

free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    return
  fi
  local p i
  for i in $(seq 1 50); do
    p=$(( 20000 + RANDOM % 40000 ))
    # A refused connection means nothing listens there.
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  die "no free port found"
}

# Whether a process runs (a zombie, dead but not yet reaped by its parent, does not).
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0 # no /proc: trust kill -0
  stat=${stat##*) } # the state follows the command name in parentheses
  [ "${stat:0:1}" != Z ]
}

# stop_pid <pid>: TERM, up to 30 s, then KILL; fails if it still runs.
stop_pid() {
  local pid=$1 i
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 300); do
    alive "$pid" || return 0
    sleep 0.1
  done
  log "$pid still running after 30 s; sending KILL"
  kill -KILL "$pid" 2>/dev/null || true
  sleep 0.5
  ! alive "$pid" || die "$pid is still running"
}

# wait_http <seconds> <url>: until something answers HTTP there.
wait_http() {
  local i
  for i in $(seq 1 $(( $1 * 10 ))); do
    curl -s -o /dev/null --max-time 2 "$2" && return 0
    sleep 0.1
  done
  return 1
}

# Where installed services live: shared by every clone on the machine.
CACHE="${SLUICE_TEST_CACHE:-$HOME/.cache/sluice-test}"
