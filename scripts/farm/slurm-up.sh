#!/usr/bin/env bash
# Starts a one-node Slurm cluster on this machine: munged, slurmctld and slurmd on localhost,
# partition `wick` (default) over this node's cores. Installs what is missing (Debian: munge,
# slurmctld, slurmd, slurm-client). Idempotent: returns at once when the cluster answers.
#
#   scripts/farm/slurm-up.sh          # then: sinfo; wick submit slurm GRAPH --frames 1-24 --chunk 6 --wait
#   scripts/farm/slurm-down.sh        # stops the daemons
#
# It writes /etc/slurm/slurm.conf only when there is none or when it is its own (first line);
# a machine that is already part of a cluster keeps its configuration. Needs root (or sudo).
# Daemons run as root with proctrack/linuxproc and task/none (no cgroups, no systemd), so
# this works in containers and CI machines. Logs: /var/log/wick-slurm/.
set -euo pipefail

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
MARK="# Written by wick scripts/farm/slurm-up.sh"
CONF=/etc/slurm/slurm.conf
RUN=/run/wick-slurm
LOG=/var/log/wick-slurm
SPOOL=/var/spool/wick-slurm

say() { echo "slurm-up: $*" >&2; }

need=()
command -v munged >/dev/null 2>&1 || [ -x /usr/sbin/munged ] || need+=(munge)
[ -x /usr/sbin/slurmctld ] || need+=(slurmctld)
[ -x /usr/sbin/slurmd ] || need+=(slurmd)
command -v sbatch >/dev/null 2>&1 || need+=(slurm-client)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# One caller at a time (tests may call this concurrently).
$SUDO mkdir -p "$RUN" "$LOG" "$SPOOL/ctld" "$SPOOL/d"
exec 9>"$RUN/up.lock"
flock 9

up() { sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated|completing)'; }
if up; then
  say "cluster is up: $(sinfo -h -o '%P %D %T %C' | head -1)"
  exit 0
fi

if [ -f "$CONF" ] && ! head -1 "$CONF" | grep -qF "$MARK"; then
  say "$CONF exists and was not written by this script, but the cluster does not answer (sinfo):"
  sinfo 2>&1 | head -5 >&2 || true
  say "start that cluster's daemons, or move $CONF away to let this script set up a one-node cluster"
  exit 1
fi

# --- munge -----------------------------------------------------------------------------------
if [ ! -s /etc/munge/munge.key ]; then
  say "creating /etc/munge/munge.key"
  $SUDO mkdir -p /etc/munge
  $SUDO mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null \
    || $SUDO dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
fi
$SUDO chown munge:munge /etc/munge /etc/munge/munge.key
$SUDO chmod 0700 /etc/munge
$SUDO chmod 0400 /etc/munge/munge.key
$SUDO mkdir -p /run/munge /var/lib/munge /var/log/munge
$SUDO chown munge:munge /run/munge /var/lib/munge /var/log/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  say "starting munged"
  $SUDO runuser -u munge -- /usr/sbin/munged 9>&-
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n | unmunge >/dev/null || { say "munged does not answer"; exit 1; }
fi

# --- slurm.conf ------------------------------------------------------------------------------
host=$(hostname -s)
# This node as slurmd sees it (CPUs, sockets, cores, threads, memory).
node=$(/usr/sbin/slurmd -C | head -1 | sed -e "s/^NodeName=[^ ]*/NodeName=$host NodeAddr=127.0.0.1/")
tmp=$(mktemp)
cat >"$tmp" <<CONF
$MARK: a one-node cluster on this machine.
ClusterName=wick
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$SPOOL/ctld
SlurmdSpoolDir=$SPOOL/d
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=600
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
$node State=UNKNOWN
PartitionName=wick Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
$SUDO mkdir -p /etc/slurm
$SUDO install -m 0644 "$tmp" "$CONF"
rm -f "$tmp"

# --- daemons ---------------------------------------------------------------------------------
start() { # name
  local pidf="$RUN/$1.pid"
  if [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
    $SUDO kill "$(cat "$pidf")" 2>/dev/null || true   # restart on the new configuration
    for _ in $(seq 50); do kill -0 "$(cat "$pidf")" 2>/dev/null || break; sleep 0.1; done
  fi
  say "starting $1"
  # 9>&-: the daemons must not inherit (and hold) the lock.
  $SUDO "/usr/sbin/$1" 9>&- || { say "$1 failed to start; log:"; tail -20 "$LOG/$1.log" >&2 || true; exit 1; }
}
start slurmctld
start slurmd

for _ in $(seq 120); do
  if up; then
    say "cluster is up: $(sinfo -h -o '%P %D %T %C' | head -1)"
    exit 0
  fi
  sleep 0.5
done
say "the node did not become idle in 60 s:"
sinfo -N -l >&2 || true
tail -20 "$LOG/slurmctld.log" "$LOG/slurmd.log" >&2 || true
exit 1
