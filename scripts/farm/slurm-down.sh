#!/usr/bin/env bash
# Stops the one-node cluster scripts/farm/slurm-up.sh started (slurmd, slurmctld; munged stays).
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
for d in slurmd slurmctld; do
  pidf=/run/wick-slurm/$d.pid
  if [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
    $SUDO kill "$(cat "$pidf")"
    echo "slurm-down: stopped $d" >&2
  fi
done
