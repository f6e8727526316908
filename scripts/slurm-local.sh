#!/usr/bin/env bash
# A one-node Slurm cluster on localhost, all of its files in one directory: for trying
# `sim sweep slurm` without a cluster, and for the CI test of it (tests/slurm.rs).
#
#   bash scripts/slurm-local.sh start DIR   # munged, slurmctld, slurmd; prints `export SLURM_CONF=...`
#   bash scripts/slurm-local.sh stop DIR    # stops the three daemons started for DIR
#
# Needs root (slurmd runs jobs as their user) and Debian's slurm-wlm and munge (installed here
# when missing). Nothing outside DIR is written: its own munge key and socket, slurm.conf with
# free ports, state, spool, pid and log files. The daemons daemonise; `stop` reads their pid files.
set -euo pipefail

log() { printf '[slurm-local] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ $# -eq 2 ] || die "usage: $0 start|stop DIR"
cmd="$1"
mkdir -p "$2"
dir="$(cd "$2" && pwd)"

stop() {
  for d in slurmd slurmctld; do
    if [ -f "$dir/$d.pid" ]; then
      pid="$(cat "$dir/$d.pid")"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$dir/$d.pid"
    fi
  done
  if [ -S "$dir/munge/munge.socket" ]; then
    munged --stop --socket="$dir/munge/munge.socket" >/dev/null 2>&1 || true
  fi
  log "stopped the cluster in $dir"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for() { # what, seconds, command...
  local what="$1" secs="$2"; shift 2
  for _ in $(seq $((secs * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  die "$what did not come up in ${secs} s; logs in $dir"
}

start() {
  [ "$(id -u)" -eq 0 ] || die "needs root (slurmd starts jobs as their owner)"
  if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    log "apt: installing slurm-wlm munge"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
  fi
  stop 2>/dev/null
  mkdir -p "$dir/munge" "$dir/state" "$dir/spool"
  chmod 700 "$dir" "$dir/munge"
  # munged refuses a key readable by others, and a socket directory writable by others.
  [ -f "$dir/munge/munge.key" ] || dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chmod 600 "$dir/munge/munge.key"
  munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
    --seed-file="$dir/munge/munged.seed"
  wait_for munged 10 munge --socket="$dir/munge/munge.socket" -n

  local ctl_port slurmd_port
  ctl_port="$(free_port)"
  slurmd_port="$(free_port)"
  cat >"$dir/slurm.conf" <<EOF
# Written by scripts/slurm-local.sh: one node, localhost, every file under $dir.
ClusterName=rt-twin-local
SlurmctldHost=localhost
SlurmctldPort=$ctl_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=local Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF="$dir/slurm.conf"
  slurmctld -f "$SLURM_CONF"
  wait_for slurmctld 20 scontrol ping
  slurmd -f "$SLURM_CONF" -N localhost
  wait_for "the node" 30 bash -c "sinfo -h -n localhost -o %t | grep -qx idle"
  log "up: one node, $(nproc) CPUs; slurmctld on port $ctl_port"
  echo "export SLURM_CONF=$SLURM_CONF"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) die "usage: $0 start|stop DIR" ;;
esac
