#!/usr/bin/env bash
# bench/fuzz.sh — build the libFuzzer targets and run one of them (tests/fuzz/README.md).
#
#   bench/fuzz.sh TARGET SECONDS [LIBFUZZER_OPTION...]   fuzz TARGET for SECONDS
#   bench/fuzz.sh TARGET merge                          add new-coverage inputs found by earlier
#                                                       runs (build-fuzz/fuzz-out/TARGET) to the
#                                                       committed corpus, kept small (-merge=1)
#   bench/fuzz.sh list                                  the targets
#   bench/fuzz.sh build                                 only (re)build build-fuzz
#
# build-fuzz (override with TG_FUZZ_BUILD_DIR) is a clang build with ASan + UBSan where the
# library and the plugins carry libFuzzer's coverage instrumentation (-fsanitize=fuzzer-no-link)
# and the targets link libFuzzer (-fsanitize=fuzzer). A run fuzzes with the committed corpus
# (tests/fuzz/corpus/TARGET, read-only) as seeds, writes what it finds to
# build-fuzz/fuzz-out/TARGET, and stops at the first crash, leak or broken invariant, leaving the
# input as build-fuzz/fuzz-out/crash-* (reproduce: build-fuzz/tests/fuzz/fuzz_TARGET FILE).
# TG_FUZZ_KEEP_GOING=1 runs in libFuzzer's fork mode and goes on after a crash (useful while a
# reported defect waits for its fix: every crash is still saved). One worker: the machine is shared.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
build=${TG_FUZZ_BUILD_DIR:-build-fuzz}
targets=(safetensors config generation_config tokenizer_json vocab_merges chain_spec chain_file
  chain_restore tokenizer)

usage() {
  echo "usage: bench/fuzz.sh TARGET SECONDS [LIBFUZZER_OPTION...] | TARGET merge | list | build" >&2
  echo "targets: ${targets[*]}" >&2
  exit 2
}

configure() {
  if [ -d "$build/meson-private" ] && [ ! -f "$build/build.ninja" ]; then
    rm -rf "$build" # a set-up that failed half-way
  fi
  if [ ! -f "$build/build.ninja" ]; then
    CC=clang meson setup "$build" -Dbuildtype=debugoptimized \
      -Db_sanitize=address,undefined -Db_lundef=false \
      -Dc_args="-fsanitize=fuzzer-no-link -fno-sanitize-recover=undefined -fno-omit-frame-pointer" >&2
  fi
  ninja -C "$build" build.ninja >&2 # regenerate first, so the target list below is current
  # The fuzz targets and every plugin module (the chain targets load them); not the whole tree.
  local outputs
  mapfile -t outputs < <(meson introspect --targets "$build" | /usr/bin/python3 -c '
import json, sys
for t in json.load(sys.stdin):
    if t["name"].startswith("fuzz_") and not t["name"].startswith("fuzz_replay_") \
            or (t["type"] == "shared module" and "/plugins/" in t["filename"][0] and "/tests/" not in t["filename"][0]):
        print(t["filename"][0])')
  ninja -C "$build" -j "${TG_FUZZ_JOBS:-2}" "${outputs[@]#"$PWD/$build/"}" >&2
}

valid_target() {
  local t
  for t in "${targets[@]}"; do [ "$t" = "$1" ] && return 0; done
  return 1
}

[ $# -ge 1 ] || usage
case "$1" in
list)
  printf '%s\n' "${targets[@]}"
  exit 0
  ;;
build)
  configure
  exit 0
  ;;
esac
[ $# -ge 2 ] || usage
target=$1
valid_target "$target" || usage
shift
mode=$1
shift

configure
exe="$build/tests/fuzz/fuzz_$target"
corpus="tests/fuzz/corpus/$target"
out="$build/fuzz-out/$target"
dict="tests/fuzz/$target.dict"
mkdir -p "$out"
export TG_TEST_DATA="$here/tests/data"
export TEXTGEN_PLUGIN_PATH="$here/$build/plugins" TEXTGEN_PLUGIN_NO_DEFAULT=1
export OMP_NUM_THREADS=1
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:allocator_may_return_null=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
dict_opt=()
[ -f "$dict" ] && dict_opt=("-dict=$dict")
keep_going=()
[ "${TG_FUZZ_KEEP_GOING:-0}" = 1 ] && keep_going=(-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1)

if [ "$mode" = merge ]; then
  # Keep only inputs that add coverage, small ones first; the corpus stays small.
  "$exe" -merge=1 -max_len=65536 "${dict_opt[@]}" "$corpus" "$out"
  echo "fuzz: merged into $corpus; review 'git status $corpus' and commit what is worth keeping" >&2
  exit 0
fi
[[ "$mode" =~ ^[0-9]+$ ]] || usage
start=$(date +%s)
rc=0
# -rss_limit_mb: ASan's shadow memory counts; 2 GB still catches runaway allocations.
"$exe" "$out" "$corpus" "${dict_opt[@]}" -max_total_time="$mode" -timeout=25 \
  -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 -artifact_prefix="$build/fuzz-out/" \
  "${keep_going[@]}" "$@" || rc=$?
echo "fuzz: $target ran $(($(date +%s) - start)) s, exit $rc" >&2
exit "$rc"
