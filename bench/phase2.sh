#!/usr/bin/env bash
# bench/phase2.sh — the figures of docs/performance.md "Issue 12, phase 2", one after the other,
# into one log: libtextgen vs llama.cpp at every precision (fp32/f32, bf16/f16, int8/Q8_0), 1 and
# 2 threads, quiet and with a spinner on one CPU, and the time to the first logits
# (bench/peer/run.sh); decode efficiency against the read bandwidth and peak RSS at every
# precision (bench_decode); batched decode of 8 sequences (bench_batch); beam search
# (bench/run_beam.sh). Environment: BUILD_DIR (default ./build), BENCH_OUT (default bench/out),
# REPS (default 5). Takes 15-30 minutes. Not a test.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
out=${BENCH_OUT:-$root/bench/out}
reps=${REPS:-5}
ninja -C "$build" -j2 >/dev/null
model=$out/gpt2-124m-random
[ -f "$model/model.safetensors" ] || "$build/bench/make_gpt2_model" "$model"
log=$out/phase2-$(date -u +%Y%m%dT%H%M%SZ).txt
{
    echo "# bench/phase2.sh at $(git -C "$root" rev-parse --short HEAD), $(date -u), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    "$root/bench/peer/run.sh" --reps "$reps" --threads 1,2 --spinner --gen 64 --start-reps 3 \
        --pairs fp32,bf16,int8
    for w in "" --bf16 --int8; do
        "$build/bench/bench_decode" "$model" $w --reps "$reps" --threads 1,2 --gen 64
    done
    for w in f32 bf16 int8; do
        for t in 1 2; do
            "$build/bench/bench_batch" "$model" --weights $w --threads $t --reps "$reps"
        done
    done
    "$root/bench/run_beam.sh" --threads 1,2
} 2>&1 | grep --line-buffered -v 'repetition [0-9]*/' | tee "$log"
echo "(saved to $log)"
