#!/usr/bin/env bash
# bench/run_beam.sh — beam search against greedy on the random GPT-2 124M bench model (made if
# missing, as bench/run.sh does), with GPT-2's tokenizer copied next to it and a Shakespeare
# prompt: per-step time at 1 and 2 threads, and KV memory. Not a test.
#
# Usage: bench/run_beam.sh [extra bench_beam options, e.g. --reps 9 --threads 1,2]
# Environment: BUILD_DIR (default ./build), BENCH_OUT (default bench/out).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
out=${BENCH_OUT:-$root/bench/out}
model=$out/gpt2-124m-random

if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "$root"
fi
ninja -C "$build" -j2 bench/bench_beam bench/make_gpt2_model >/dev/null
mkdir -p "$out"
if [ ! -f "$model/model.safetensors" ] || [ ! -f "$model/config.json" ]; then
    "$build/bench/make_gpt2_model" "$model"
fi
[ -f "$model/tokenizer.json" ] || cp "$root/tests/data/tokenizer/gpt2/tokenizer.json" "$model/"

log=$out/beam-$(date -u +%Y%m%dT%H%M%SZ).txt
{
    echo "# bench/run_beam.sh on $(hostname), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "# git $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet 2>/dev/null || echo ' (dirty tree)')"
    TEXTGEN_PLUGIN_PATH=$build/plugins TEXTGEN_PLUGIN_NO_DEFAULT=1 \
        "$build/bench/bench_beam" "$model" --text "$root/tests/data/tokenizer/shakespeare.txt" "$@"
} | tee "$log" # progress lines on stderr go to the terminal only
echo "(saved to $log)"
