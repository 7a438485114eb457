#!/usr/bin/env bash
# bench/run.sh — build, generate the random GPT-2 124M model folder if it is missing, and run the
# decode benchmark for fp32 weights and then bf16 weights (same file, converted at load).
#
# Usage: bench/run.sh [extra bench_decode options, e.g. --reps 11]
# Environment: BUILD_DIR (default ./build), BENCH_OUT (default bench/out), REPS (default 9),
#              BF16=0 to skip the bf16 run.
# The output is also saved to $BENCH_OUT/results-<UTC date>.txt. Not a test: nothing here is
# registered with `meson test`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
out=${BENCH_OUT:-$root/bench/out}
reps=${REPS:-9}
model=$out/gpt2-124m-random

if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "$root"
fi
ninja -C "$build" bench/bench_decode bench/make_gpt2_model >/dev/null
mkdir -p "$out"
if [ ! -f "$model/model.safetensors" ] || [ ! -f "$model/config.json" ]; then
    "$build/bench/make_gpt2_model" "$model"
fi

log=$out/results-$(date -u +%Y%m%dT%H%M%SZ).txt
{
    echo "# bench/run.sh on $(hostname), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "# git $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet 2>/dev/null || echo ' (dirty tree)'); reps $reps"
    "$build/bench/bench_decode" "$model" --reps "$reps" "$@"
    if [ "${BF16:-1}" != 0 ]; then
        echo
        "$build/bench/bench_decode" "$model" --bf16 --reps "$reps" "$@"
    fi
} | tee "$log" # progress lines on stderr go to the terminal only
echo "(saved to $log)"
