#!/usr/bin/env bash
# bench/run.sh — build, generate the random GPT-2 124M and Llama 135M (SmolLM2-shaped) model
# folders if they are missing, and run the decode benchmark on each, with fp32 weights, then
# bf16 and int8 weights (same file, converted at load).
#
# Usage: bench/run.sh [extra bench_decode options, e.g. --reps 11]
# Environment: BUILD_DIR (default ./build), BENCH_OUT (default bench/out), REPS (default 9),
#              BF16=0 / INT8=0 to skip the bf16 / int8 runs, MODELS="gpt2 llama" (default both).
# The output is also saved to $BENCH_OUT/results-<UTC date>.txt. Not a test: nothing here is
# registered with `meson test`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
out=${BENCH_OUT:-$root/bench/out}
reps=${REPS:-9}
models=${MODELS:-gpt2 llama}

if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "$root"
fi
ninja -C "$build" -j2 bench/bench_decode bench/make_gpt2_model bench/make_llama_model >/dev/null
mkdir -p "$out"
declare -A dirs=([gpt2]=$out/gpt2-124m-random [llama]=$out/llama-135m-random)
for m in $models; do
    d=${dirs[$m]}
    if [ ! -f "$d/model.safetensors" ] || [ ! -f "$d/config.json" ]; then
        "$build/bench/make_${m}_model" "$d"
    fi
done

log=$out/results-$(date -u +%Y%m%dT%H%M%SZ).txt
{
    echo "# bench/run.sh on $(hostname), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "# git $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet 2>/dev/null || echo ' (dirty tree)'); reps $reps"
    for m in $models; do
        echo
        echo "## $m (${dirs[$m]})"
        "$build/bench/bench_decode" "${dirs[$m]}" --reps "$reps" "$@"
        if [ "${BF16:-1}" != 0 ]; then
            echo
            "$build/bench/bench_decode" "${dirs[$m]}" --bf16 --reps "$reps" "$@"
        fi
        if [ "${INT8:-1}" != 0 ]; then
            echo
            "$build/bench/bench_decode" "${dirs[$m]}" --int8 --reps "$reps" "$@"
        fi
    done
} | tee "$log" # progress lines on stderr go to the terminal only
echo "(saved to $log)"
