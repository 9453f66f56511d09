#!/usr/bin/env bash
# A private Slurm cluster (munged + slurmctld + slurmd) for CI and tests.
#
# Usage: .ci/services/slurm.sh install          # Debian's slurm-wlm and munge (as root)
#        .ci/services/slurm.sh start <dir>      # prints the slurm.conf path (one line) on stdout
#        .ci/services/slurm.sh stop  <dir>
#
# SLURM_NODES=N (default 1) starts N nodes on this machine (`node1` ... `nodeN`, one slurmd
# each on a port of its own, Slurm's multiple-slurmd mode), so that steps spanning nodes run
# as on a real cluster.
#
# Everything lives in <dir>: slurm.conf (free ports on 127.0.0.1), the controller's state, the
# node's spool, logs, pid files, and a munged of its own on a socket in <dir>/munge, so nothing
# system-wide is touched and nothing listens beyond 127.0.0.1. Clients find the cluster through
# SLURM_CONF=<dir>/slurm.conf. The daemons run as root (slurmd must, to start jobs as their
# users); there is no accounting daemon, so finished jobs are known to `scontrol` for MinJobAge
# (300 s) and the job-completion file keeps their final states. Stopped by the PIDs in <dir>.
# Everything but the conf path goes to stderr.
set -euo pipefail

SERVICE=slurm.sh
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

cmd_install() {
  if command -v slurmctld >/dev/null 2>&1 && command -v slurmd >/dev/null 2>&1 \
    && command -v munged >/dev/null 2>&1 && command -v sbatch >/dev/null 2>&1; then
    log "already installed: slurm $(dpkg-query -W -f='${Version}' slurm-client 2>/dev/null || echo "(version unknown)")"
    return
  fi
  [ "$(id -u)" -eq 0 ] || die "installing Slurm needs root (apt-get)"
  local t0; t0=$(now_ns)
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null; }
  log "installed in $(elapsed "$t0") s: $(sbatch --version)"
}

wait_for() { # wait_for <seconds> <command...>
  local i n=$(( $1 * 10 ))
  shift
  for i in $(seq 1 "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

cmd_start() {
  local dir t0 node hw ctld_port slurmd_port
  t0=$(now_ns)
  [ "$(id -u)" -eq 0 ] || die "a Slurm cluster here needs root (slurmd starts jobs as their users)"
  command -v slurmctld >/dev/null 2>&1 || die "Slurm is not installed: run '$0 install' first"
  dir=$(abs_dir "$1" create)
  if [ -s "$dir/slurmctld.pid" ] && alive "$(cat "$dir/slurmctld.pid")"; then
    die "already running in $dir"
  fi
  mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
  rm -rf "${dir:?}/state/"* "${dir:?}/spool/"*
  # munged: its own key and socket, run as the munge user (it refuses root).
  if [ ! -s "$dir/munge/munge.key" ]; then
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  fi
  chown -R munge:munge "$dir/munge"
  chmod 711 "$dir/munge"
  chmod 400 "$dir/munge/munge.key"
  # munged walks the socket's parent folders and wants them not writable by others.
  runuser -u munge -- munged --key-file="$dir/munge/munge.key" --socket="$dir/munge/socket" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
    --seed-file="$dir/munge/munged.seed" --force
  wait_for 10 munge -n -S "$dir/munge/socket" || die "munged did not start (see $dir/munge/munged.log)"
  cp "$dir/munge/munged.pid" "$dir/munged.pid"

  node=$(hostname -s)
  # The node offers 8 cores whatever the machine has (`config_overrides` keeps slurmd from
  # draining it), so that several steps run at once on a 2-core CI machine: the tests and
  # benchmarks run short, mostly idle commands, and what they check is how many run at once.
  mem=$(slurmd -C | head -1 | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
  hw="CPUs=8 Boards=1 SocketsPerBoard=1 CoresPerSocket=8 ThreadsPerCore=1 RealMemory=${mem:-2048}"
  ctld_port=$(free_port)
  slurmd_port=$(free_port)
  while [ "$slurmd_port" = "$ctld_port" ]; do slurmd_port=$(free_port); done
  local nodes="${SLURM_NODES:-1}" node_lines="" names="" i port used
  [[ "$nodes" =~ ^[1-9][0-9]?$ ]] || die "SLURM_NODES must be a number of nodes (1-99), not '$nodes'"
  if [ "$nodes" -eq 1 ]; then
    node_lines="NodeName=$node NodeAddr=127.0.0.1 $hw State=UNKNOWN"
    names=$node
  else
    used="$ctld_port $slurmd_port"
    for i in $(seq 1 "$nodes"); do
      port=$(free_port)
      while [[ " $used " == *" $port "* ]]; do port=$(free_port); done
      used="$used $port"
      node_lines="${node_lines}NodeName=node$i NodeHostname=$node NodeAddr=127.0.0.1 Port=$port $hw State=UNKNOWN"$'\n'
      names="${names:+$names,}node$i"
    done
  fi
  cat > "$dir/slurm.conf" <<CONF
ClusterName=sluicetest
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/socket
MpiDefault=none
MailProg=/bin/true
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.%n.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.%n.log
# no cgroups in a container: track processes by parent pid, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp.log
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
ReturnToService=2
SlurmdParameters=config_overrides
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=30
$node_lines
PartitionName=debug Nodes=$names Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF="$dir/slurm.conf"
  slurmctld -f "$dir/slurm.conf"
  if [ "$nodes" -eq 1 ]; then
    mkdir -p "$dir/spool/$node"
    slurmd -f "$dir/slurm.conf"
  else
    for i in $(seq 1 "$nodes"); do
      mkdir -p "$dir/spool/node$i"
      slurmd -f "$dir/slurm.conf" -N "node$i"
    done
  fi
  if ! wait_for 30 bash -c '[ "$(sinfo -h -o %T | sort -u)" = idle ]'; then
    tail -20 "$dir/slurmctld.log" "$dir"/slurmd.*.log >&2 || true
    cmd_stop "$dir"
    die "the nodes did not become idle"
  fi
  log "started in $(elapsed "$t0") s: slurmctld $(cat "$dir/slurmctld.pid") on port $ctld_port, $nodes slurmd ($names), partition debug"
  echo "$dir/slurm.conf"
}

cmd_stop() {
  local dir t0 pf
  t0=$(now_ns)
  dir=$(abs_dir "$1")
  # Jobs first (slurmd's job steps), then the daemons, munged last.
  if [ -s "$dir/slurmctld.pid" ] && alive "$(cat "$dir/slurmctld.pid")"; then
    SLURM_CONF="$dir/slurm.conf" scancel --full --quiet --user=root 2>/dev/null || true
  fi
  for pf in "$dir"/slurmd.*.pid "$dir/slurmctld.pid" "$dir/munged.pid"; do
    if [ -s "$pf" ]; then stop_pid "$(cat "$pf")"; fi
    rm -f "$pf"
  done
  log "stopped in $(elapsed "$t0") s"
}

case "${1:-}" in
  install) cmd_install ;;
  start) [ $# -eq 2 ] || die "usage: $0 start <dir>"; cmd_start "$2" ;;
  stop) [ $# -eq 2 ] || die "usage: $0 stop <dir>"; cmd_stop "$2" ;;
  *) die "usage: $0 install | start <dir> | stop <dir>" ;;
esac
