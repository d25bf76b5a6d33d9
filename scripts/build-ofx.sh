#!/usr/bin/env bash
# Builds the Wick OpenFX bundle:
#   target/ofx/Wick.ofx.bundle/Contents/Linux-x86-64/Wick.ofx   (libwick.so, renamed)
#   target/ofx/Wick.ofx.debug                                   (its symbols, release builds)
# A release bundle's library is stripped (scripts/split-debug.sh): its symbols and debug info
# go to Wick.ofx.debug next to the bundle, for crash reports (not installed with the bundle).
#
# Usage: scripts/build-ofx.sh [--debug] [--keep-debug] [--install DIR] [extra cargo args]
#   --debug        assemble from the debug build (target/debug) instead of a release build
#                  (not stripped)
#   --keep-debug   leave the release library's debug info in place (no split)
#   --install DIR  also copy the bundle into DIR (e.g. /usr/OFX/Plugins, or a folder on
#                  OFX_PLUGIN_PATH)
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
install=""
split=1
cargo_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --debug) profile=debug ;;
        --keep-debug) split=0 ;;
        --install) install="${2:?--install needs a folder}"; shift ;;
        *) cargo_args+=("$1") ;;
    esac
    shift
done

case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) arch=Linux-x86-64 ;;
    *) echo "build-ofx.sh: only Linux x86-64 bundles are assembled (this is $(uname -sm))" >&2; exit 1 ;;
esac

# The same package set the tests build (src/lib.rs), so both share one build of the
# dependencies (a different set changes feature unification and rebuilds Candle); it also
# builds the `wick` test host.
packages=(-p wick-plugin -p wick-cli)
if [ "$profile" = release ]; then
    cargo build --release "${packages[@]}" ${cargo_args[@]+"${cargo_args[@]}"}
else
    cargo build "${packages[@]}" ${cargo_args[@]+"${cargo_args[@]}"}
fi

target_dir="${CARGO_TARGET_DIR:-target}"
bundle="$target_dir/ofx/Wick.ofx.bundle"
mkdir -p "$bundle/Contents/$arch"
lib="$bundle/Contents/$arch/Wick.ofx"
cp -f "$target_dir/$profile/libwick.so" "$lib.tmp"
mv -f "$lib.tmp" "$lib"
rm -f "$target_dir/ofx/Wick.ofx.debug"
if [ "$profile" = release ] && [ "$split" = 1 ]; then
    ./scripts/split-debug.sh "$lib" "$target_dir/ofx/Wick.ofx.debug"
    echo "symbols: $target_dir/ofx/Wick.ofx.debug ($(stat -c %s "$target_dir/ofx/Wick.ofx.debug") bytes)"
fi
# The bundled weights travel with the bundle; hosts set WICK_WEIGHTS_DIR to this folder when the
# source tree the plugin was built from is not on the machine.
mkdir -p "$bundle/Contents/Resources"
rm -rf "$bundle/Contents/Resources/weights"
cp -r models/weights "$bundle/Contents/Resources/weights"
echo "built $bundle ($profile; Wick.ofx $(stat -c %s "$lib") bytes)"

if [ -n "$install" ]; then
    mkdir -p "$install"
    rm -rf "$install/Wick.ofx.bundle"
    cp -r "$bundle" "$install/"
    echo "installed $install/Wick.ofx.bundle"
fi
