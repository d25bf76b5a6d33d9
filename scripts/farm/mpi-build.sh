#!/usr/bin/env bash
# Builds libwick_mpi.so, the MPI collectives of data-parallel `wick train` (crate wick-mpi with
# its `mpi` feature, the rsmpi bindings over the system's Open MPI), beside libwick.so:
#
#   scripts/farm/mpi-build.sh             # target/release/libwick_mpi.so
#   scripts/farm/mpi-build.sh --debug     # target/debug/libwick_mpi.so (what the tests use)
#
# Installs what is missing with apt: Open MPI (openmpi-bin, libopenmpi-dev) and libclang-dev
# (rsmpi generates its bindings with bindgen at build time). The plugin itself never links
# MPI: it loads this library only for a distributed run.
set -euo pipefail
cd "$(dirname "$0")/../.."
profile=(--release)
if [ "${1:-}" = "--debug" ]; then profile=(); shift; fi
need=()
command -v mpirun >/dev/null 2>&1 || need+=(openmpi-bin)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
pkg-config --exists ompi 2>/dev/null || need+=(libopenmpi-dev)
# bindgen loads libclang and needs clang's own headers: both come with libclang-dev.
ls /usr/lib/llvm-*/lib/libclang.so >/dev/null 2>&1 || need+=(libclang-dev)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "mpi-build: installing ${need[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
cargo build "${profile[@]}" -p wick-mpi --features mpi "$@"
