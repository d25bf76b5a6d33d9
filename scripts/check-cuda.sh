#!/usr/bin/env bash
# Compile-only gate for the `cuda` feature of wick-models (Candle 0.11 CUDA backend).
#
# What: `cargo check -p wick-models --features cuda` on a machine with no GPU and no system CUDA
# toolkit. `check` runs the build scripts, so this really compiles Candle's CUDA kernels
# (candle-kernels' build.rs: every .cu file to PTX, plus the MoE/MMQ kernels into libmoe.a with
# `nvcc -c`), and then type-checks Wick's code against Candle's CUDA types. Nothing is linked and
# nothing runs on a GPU, so it says nothing about whether the kernels are correct or fast.
#
# Why a PyPI toolkit: the `nvidia-cuda-nvcc` wheels of CUDA 13 ship a complete nvcc (nvcc,
# cudafe++, fatbinary, nvlink, ptxas; cicc and libdevice come from `nvidia-nvvm`) in one
# toolkit-shaped tree, site-packages/nvidia/cu13/{bin,include,lib,nvvm}, whose nvcc.profile finds
# cicc, the headers and CCCL (include/cccl) by itself. The CUDA 12 wheels
# (`nvidia-cuda-nvcc-cu12`, 12.9.86) ship only ptxas and libnvvm: no nvcc driver, no cicc, so they
# cannot be used. No root, no apt, ~300 MB.
#
# Usage (from the repository root, or anywhere inside the clone):
#   scripts/check-cuda.sh                 # check wick-models
#   scripts/check-cuda.sh -p wick-plugin  # other cargo check arguments replace the default package
# Environment:
#   WICK_CUDA_VENV    venv holding the toolkit (default: <repo>/target/cuda-venv)
#   CUDA_COMPUTE_CAP  GPU architecture to compile the kernels for (default 80, i.e. sm_80/A100;
#                     there is no GPU here for nvidia-smi to ask)
#   CARGO_BUILD_JOBS, CUDAFORGE_THREADS  parallelism (defaults: 1 and 1, the machine is shared)
#   NICE              niceness for pip and cargo (default 19)
set -euo pipefail

repo_root="$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)"
cd "$repo_root"

venv="${WICK_CUDA_VENV:-$repo_root/target/cuda-venv}"
nice_level="${NICE:-19}"

# Pinned CUDA 13.0 (Update 2) toolkit pieces from PyPI. CUDA 13.0 because cudarc 0.19.10 (Candle
# 0.11.1's CUDA bindings) accepts 11.4..13.4 but not 12.7 or 13.5, and 13.0 is the oldest 13.x.
# host g++: Debian 12's g++ 12 is inside CUDA 13.0's supported range (no -allow-unsupported-compiler).
packages=(
    nvidia-cuda-nvcc==13.0.88    # nvcc, cudafe++, fatbinary, nvlink, ptxas, nvcc.profile
    nvidia-nvvm==13.0.88         # nvvm/bin/cicc, libdevice, libnvvm
    nvidia-cuda-crt==13.0.88     # include/crt/* (host_config.h, ...), needed by every nvcc run
    nvidia-cuda-runtime==13.0.96 # cuda.h, cuda_runtime.h, cuda_fp16/bf16/fp8.h, mma.h, libcudart
    nvidia-cuda-cccl==13.0.85    # include/cccl: thrust, cub, cuda/std (candle's moe kernels)
)

if [[ ! -x "$venv/bin/python" ]]; then
    nice -n "$nice_level" python3 -m venv "$venv"
fi
# pip is quiet and quick when everything is already installed at these versions.
nice -n "$nice_level" "$venv/bin/pip" install --quiet --disable-pip-version-check "${packages[@]}"

# The toolkit root: site-packages/nvidia/cu13 (found through Python, so the Python version in
# the venv's path does not matter).
cuda_root="$("$venv/bin/python" -c 'import os, nvidia; print(os.path.join(list(nvidia.__path__)[0], "cu13"))')"
if [[ ! -x "$cuda_root/bin/nvcc" ]]; then
    echo "check-cuda.sh: no nvcc at $cuda_root/bin/nvcc" >&2
    exit 1
fi

# nvcc on PATH: cudarc's build.rs (feature cuda-version-from-build-system, set by candle-core)
# runs `nvcc --version` to pick its CUDA API version; cudaforge (candle-kernels' build.rs) finds
# nvcc on PATH too.
export PATH="$cuda_root/bin:$PATH"
# CUDA_HOME: cudaforge's fallback for nvcc and cudarc's link-search roots (unused by check).
export CUDA_HOME="$cuda_root"
# No GPU to query: compile the kernels for this architecture.
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-80}"
# Be gentle with a shared 2-core machine: one rustc and one nvcc at a time.
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"
export CUDAFORGE_THREADS="${CUDAFORGE_THREADS:-1}"

nvcc --version | tail -n 2
if [[ $# -eq 0 ]]; then
    set -- -p wick-models
fi
# Same target dir as the rest of the workspace unless CARGO_TARGET_DIR says otherwise; the cuda
# feature set gets its own build-script outputs there, so the CPU build is not invalidated.
exec nice -n "$nice_level" cargo check "$@" --features cuda
