#!/usr/bin/env bash
# tests/concurrency/run_tsan.sh — the concurrency suite under ThreadSanitizer.
#
#   tests/concurrency/run_tsan.sh            build build-tsan if needed, run the suite
#   tests/concurrency/run_tsan.sh --slice    the same with GLib's slice allocator left on
#
# build-tsan (override with TG_TSAN_BUILD_DIR) is a gcc build with -fsanitize=thread; only what
# the suite needs is compiled (test_concurrency, the built-in plugins, the test plugins). A data
# race report fails the test that raised it.
#
# G_SLICE=always-malloc: GLib 2.74 recycles small blocks (GHashTable nodes, GList links, ...)
# through its slice allocator, whose per-thread magazines are handed between threads under
# GLib's own futex-based GMutex. GLib is not built with TSan, so TSan sees neither that lock
# nor the reuse, and reports a block freed by one thread and reused by another as a race
# (docs/reliability.md, "Threads", has the evidence). With always-malloc every block goes
# through malloc/free, which TSan intercepts, and those false reports disappear; nothing in
# libtextgen's own code changes. --slice shows the reports.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$here"
build=${TG_TSAN_BUILD_DIR:-build-tsan}
slice=0
[ "${1:-}" = "--slice" ] && slice=1

if [ -d "$build/meson-private" ] && [ ! -f "$build/build.ninja" ]; then
  rm -rf "$build" # a set-up that failed half-way
fi
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" -Db_sanitize=thread -Db_lundef=false -Dbuildtype=debugoptimized >&2
fi
ninja -C "$build" build.ninja >&2 # regenerate first, so the target list below is current
mapfile -t outputs < <(meson introspect --targets "$build" | /usr/bin/python3 -c '
import json, sys
for t in json.load(sys.stdin):
    f = t["filename"][0]
    if t["name"] == "test_concurrency" or (t["type"] == "shared module" and "/plugins/" in f):
        print(f)')
ninja -C "$build" -j "${TG_TSAN_JOBS:-2}" "${outputs[@]#"$PWD/$build/"}" >&2

export TSAN_OPTIONS="halt_on_error=1:exitcode=66:second_deadlock_stack=1${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
if [ "$slice" -eq 1 ]; then
  unset G_SLICE
else
  export G_SLICE=always-malloc
fi
start=$(date +%s)
rc=0
meson test -C "$build" --no-rebuild --suite concurrency --print-errorlogs --num-processes 2 || rc=$?
echo "tsan: concurrency suite ran $(($(date +%s) - start)) s (G_SLICE=${G_SLICE:-unset}), exit $rc" >&2
exit "$rc"
