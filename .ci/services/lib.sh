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

# The start/stop/restart commands of a service script. The script defines `cmd_install`,
# `pick_ports <dir>` (writes <dir>/ports: one "flag port" per line) and `start_on <dir>` (starts
# on those ports, writes <dir>/pid and <dir>/url; returns 2 when the service does not come up),
# then calls `svc_main "$@"`.

svc_start() {
  local dir t0 try rc
  t0=$(now_ns)
  dir=$(abs_dir "$1" create)
  if [ -s "$dir/pid" ] && alive "$(cat "$dir/pid")"; then
    die "already running in $dir (url: $(cat "$dir/url" 2>/dev/null))"
  fi
  for try in 1 2 3; do
    pick_ports "$dir"
    rc=0
    start_on "$dir" || rc=$?
    [ "$rc" -eq 0 ] && break
    # A port may have been taken between choosing and binding it: choose again.
    [ "$try" -lt 3 ] || die "it did not start (see the log in $dir)"
    log "start failed; trying other ports"
  done
  log "started in $(elapsed "$t0") s: pid $(cat "$dir/pid"), $(cat "$dir/url"), data $dir/data"
  cat "$dir/url"
}

svc_stop() {
  local dir t0
  t0=$(now_ns)
  dir=$(abs_dir "$1")
  if [ -s "$dir/pid" ]; then stop_pid "$(cat "$dir/pid")"; fi
  rm -f "$dir/pid"
  log "stopped in $(elapsed "$t0") s"
}

svc_restart() { # svc_restart <dir> [seconds-down]: same ports, same data
  local dir t0
  t0=$(now_ns)
  dir=$(abs_dir "$1")
  [ -s "$dir/ports" ] || die "no $dir/ports: was it started with '$0 start $1'?"
  svc_stop "$dir"
  if [ -n "${2:-}" ]; then
    log "down for $2 s"
    sleep "$2"
  fi
  start_on "$dir" || die "it did not restart (see the log in $dir)"
  log "restarted in $(elapsed "$t0") s: pid $(cat "$dir/pid")"
  cat "$dir/url"
}

svc_main() {
  local usage="usage: $0 install | start <dir> | stop <dir> | restart <dir> [seconds-down]"
  case "${1:-}" in
    install) cmd_install ;;
    start) [ $# -eq 2 ] || die "$usage"; svc_start "$2" ;;
    stop) [ $# -eq 2 ] || die "$usage"; svc_stop "$2" ;;
    restart) [ $# -eq 2 ] || [ $# -eq 3 ] || die "$usage"; svc_restart "$2" "${3:-}" ;;
    *) die "$usage" ;;
  esac
}
