#!/usr/bin/env bash
# The one test command (README "The two commands"; .ci/run calls exactly this). On a fresh
# Debian machine it installs what the tests need (scripts/setup.sh), then checks formatting,
# lints every target with warnings as errors, and runs every test. Each step prints its wall
# time, so CI's cost per step is visible in the log.
#   ./scripts/test.sh               everything (what CI runs)
#   ./scripts/test.sh -- --test X   extra arguments go to `cargo test --workspace`
set -euo pipefail
cd "$(dirname "$0")/.."

extra=()
if [ "${1:-}" = "--" ]; then
  shift
  extra=("$@")
fi

step() {
  local name=$1
  shift
  local t0=$SECONDS
  echo "test.sh: == $name: $*" >&2
  "$@"
  echo "test.sh: == $name took $((SECONDS - t0)) s" >&2
}

step setup ./scripts/setup.sh
step fmt cargo fmt --all --check
step clippy cargo clippy --workspace --all-targets -- -D warnings
step test cargo test --workspace "${extra[@]}"
echo "test.sh: all steps passed in $SECONDS s" >&2
