#!/usr/bin/env bash
# Moves a library's debug info into a separate file and strips the library, the way
# distributions ship binaries: what a user installs stays small, and the symbols stay at hand
# for crash reports (gdb, eu-stack, addr2line read the .debug file; the library carries a
# .gnu_debuglink naming it, and the build ID both share).
#
# Usage: scripts/split-debug.sh LIB DEBUG_FILE
#   LIB         the library to strip in place (written to a temp name and renamed)
#   DEBUG_FILE  where its symbols and debug info go (the folder is created)
# To use the symbols, put DEBUG_FILE next to the installed library, in a `.debug/` folder
# beside it, or under gdb's debug-file-directory (e.g. /usr/lib/debug/.build-id/xx/yyy.debug).
set -euo pipefail
lib=${1:?usage: split-debug.sh LIB DEBUG_FILE}
dbg=${2:?usage: split-debug.sh LIB DEBUG_FILE}
command -v objcopy >/dev/null || { echo "split-debug.sh: objcopy (binutils) is needed" >&2; exit 1; }
mkdir -p "$(dirname "$dbg")"
objcopy --only-keep-debug "$lib" "$dbg.tmp"
mv -f "$dbg.tmp" "$dbg"
# --strip-all keeps the dynamic symbol table (OfxGetPlugin, f0r_*: what hosts load) and drops
# the static one and the debug sections; both are in DEBUG_FILE.
objcopy --strip-all --add-gnu-debuglink="$dbg" "$lib" "$lib.tmp"
mv -f "$lib.tmp" "$lib"
