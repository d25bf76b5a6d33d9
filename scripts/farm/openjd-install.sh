#!/usr/bin/env bash
# Installs the Open Job Description CLI (PyPI openjd-cli, pinned) into a virtual environment
# and prints the path of its `openjd` command:
#
#   OPENJD=$(scripts/farm/openjd-install.sh)
#   wick submit openjd GRAPH --frames 1-24 --chunk 6 --out job.template.yaml && $OPENJD run job.template.yaml
#
# The environment is target/farm/openjd-venv (WICK_OPENJD_VENV overrides); Debian's
# python3-venv is installed with apt when missing. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=0.8.0
VENV=${WICK_OPENJD_VENV:-$PWD/target/farm/openjd-venv}
mkdir -p "$(dirname "$VENV")"
exec 9>"$(dirname "$VENV")/.openjd-install.lock"
flock 9
if [ -x "$VENV/bin/openjd" ] && "$VENV/bin/python" -m pip show openjd-cli 2>/dev/null | grep -qx "Version: $VERSION"; then
  echo "$VENV/bin/openjd"
  exit 0
fi
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "openjd-install: installing python3-venv" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi
rm -rf "$VENV"
python3 -m venv "$VENV"
echo "openjd-install: pip install openjd-cli==$VERSION into $VENV" >&2
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "openjd-cli==$VERSION" >&2
"$VENV/bin/openjd" --version >&2
echo "$VENV/bin/openjd"
