#!/usr/bin/env bash
# A single-node Slurm cluster on localhost, for the sweep tests: no systemd,
# everything under one folder. Run as root.
#   Tests/slurm/cluster.sh start   starts munge, slurmctld and slurmd; prints the SLURM_CONF to export
#   Tests/slurm/cluster.sh stop    stops them
# Needs Debian's slurmctld, slurmd, slurm-client and munge.
set -euo pipefail
ROOT=${MNEMO_SLURM_ROOT:-/tmp/mnemo-slurm}
CONF=$ROOT/slurm.conf

stop() {
  for pidfile in "$ROOT/slurmd.pid" "$ROOT/slurmctld.pid" "$ROOT/munged.pid"; do
    if [ -f "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; rm -f "$pidfile"; fi
  done
}

start() {
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null || {
    echo "Slurm or munge is not installed" >&2; exit 2; }
  stop
  mkdir -p "$ROOT"/{state,spool,log,munge}
  # munge: a key only it reads; its socket directory must be searchable by all (711).
  if [ ! -f "$ROOT/munge/munge.key" ]; then dd if=/dev/urandom of="$ROOT/munge/munge.key" bs=1024 count=1 status=none; fi
  chown -R munge:munge "$ROOT/munge" 2>/dev/null || true
  chmod 700 "$ROOT/munge"; chmod 400 "$ROOT/munge/munge.key"
  mkdir -p /run/munge && chown munge:munge /run/munge 2>/dev/null || true
  chmod 711 /run/munge
  runuser -u munge -- munged --key-file="$ROOT/munge/munge.key" --pid-file="$ROOT/munge/munged.pid" \
    --socket=/run/munge/munge.socket.2 --log-file="$ROOT/munge/munged.log" --seed-file="$ROOT/munge/munged.seed" 2>/dev/null \
    || munged --force --key-file="$ROOT/munge/munge.key" --pid-file="$ROOT/munge/munged.pid" \
         --socket=/run/munge/munge.socket.2 --log-file="$ROOT/munge/munged.log" --seed-file="$ROOT/munge/munged.seed"
  cp "$ROOT/munge/munged.pid" "$ROOT/munged.pid" 2>/dev/null || true
  local cpus; cpus=$(nproc)
  cat > "$CONF" <<CONF
ClusterName=mnemo
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
LaunchParameters=use_interactive_step
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
KillWait=10
StateSaveLocation=$ROOT/state
SlurmdSpoolDir=$ROOT/spool
SlurmctldPidFile=$ROOT/slurmctld.pid
SlurmdPidFile=$ROOT/slurmd.pid
SlurmctldLogFile=$ROOT/log/slurmctld.log
SlurmdLogFile=$ROOT/log/slurmd.log
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
NodeName=localhost CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF=$CONF
  slurmctld -f "$CONF"
  slurmd -f "$CONF"
  for _ in $(seq 1 100); do
    if sinfo -h -o %T 2>/dev/null | grep -qE 'idle|mixed|allocated'; then echo "$CONF"; return 0; fi
    sleep 0.2
  done
  echo "the cluster did not come up; see $ROOT/log" >&2
  exit 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 64 ;;
esac
