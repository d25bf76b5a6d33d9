#!/usr/bin/env bash
# Installs what Wick's build, main job and tests need on a fresh Debian machine, skipping what
# is already there. Safe to run repeatedly. Needs root (or sudo) only when something is missing.
set -euo pipefail

need_apt=()
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
command -v curl >/dev/null 2>&1 || need_apt+=(curl ca-certificates)
command -v cargo >/dev/null 2>&1 || need_apt+=(rustup)
# The frei0r hosts the tests drive (tests/frei0r.rs): FFmpeg, melt (Kdenlive/Shotcut's engine)
# and GStreamer with its frei0r elements (plugins-bad), plus frei0r.h for reference.
command -v ffmpeg >/dev/null 2>&1 || need_apt+=(ffmpeg)
command -v melt >/dev/null 2>&1 || need_apt+=(melt)
[ -f /usr/include/frei0r.h ] || need_apt+=(frei0r-plugins-dev)
command -v gst-launch-1.0 >/dev/null 2>&1 || need_apt+=(gstreamer1.0-tools)
gst_plugin_dir=/usr/lib/$(uname -m)-linux-gnu/gstreamer-1.0
[ -f "$gst_plugin_dir/libgstfrei0r.so" ] || need_apt+=(gstreamer1.0-plugins-bad)
[ -f "$gst_plugin_dir/libgstpng.so" ] || need_apt+=(gstreamer1.0-plugins-good)
[ -f "$gst_plugin_dir/libgstvideoconvertscale.so" ] || [ -f "$gst_plugin_dir/libgstvideoconvert.so" ] || need_apt+=(gstreamer1.0-plugins-base)
# The memory checker the tests run over the C host example and the C ABI (tests/memcheck.rs).
command -v valgrind >/dev/null 2>&1 || need_apt+=(valgrind)

# The farm engines tests/farm.rs drives (docs/farm.md): Slurm with munge (scripts/farm/slurm-up.sh
# configures and starts a one-node cluster), Open MPI and libclang (libwick_mpi.so, built by
# scripts/farm/mpi-build.sh), python3-venv (openjd-cli from PyPI, scripts/farm/openjd-install.sh).
# Without recommends: the servers' recommended extras (mail, databases) are not needed.
need_farm=()
[ -x /usr/sbin/munged ] || need_farm+=(munge)
[ -x /usr/sbin/slurmctld ] || need_farm+=(slurmctld)
[ -x /usr/sbin/slurmd ] || need_farm+=(slurmd)
command -v sbatch >/dev/null 2>&1 || need_farm+=(slurm-client)
command -v mpirun >/dev/null 2>&1 || need_farm+=(openmpi-bin)
pkg-config --exists ompi 2>/dev/null || need_farm+=(libopenmpi-dev)
ls /usr/lib/llvm-*/lib/libclang.so >/dev/null 2>&1 || need_farm+=(libclang-dev)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need_farm+=(python3-venv)

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ ${#need_apt[@]} -gt 0 ] || [ ${#need_farm[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}" >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if [ ${#need_farm[@]} -gt 0 ]; then
  echo "setup: installing ${need_farm[*]}" >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_farm[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  # Debian's rustup package installs the proxy; fetch a stable toolchain through it.
  rustup default stable
fi

# The test command also checks formatting and lints (scripts/test.sh): rustfmt and clippy come
# with the toolchain through rustup, or from Debian when cargo is Debian's.
for tool in fmt:rustfmt clippy:clippy; do
  sub=${tool%%:*}
  comp=${tool##*:}
  if ! cargo "$sub" --version >/dev/null 2>&1; then
    if command -v rustup >/dev/null 2>&1; then
      echo "setup: rustup component add $comp" >&2
      rustup component add "$comp"
    else
      SUDO=""
      [ "$(id -u)" -eq 0 ] || SUDO="sudo"
      pkg=$comp
      [ "$comp" = clippy ] && pkg=rust-clippy
      echo "setup: installing $pkg" >&2
      $SUDO apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$pkg" >/dev/null
    fi
  fi
done
