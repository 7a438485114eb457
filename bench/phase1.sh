#!/usr/bin/env bash
# bench/phase1.sh — every measurement of docs/performance.md "Issue 12, phase 1", one after the
# other, into one log: kernels vs oneDNN vs the roofline, the stream/prefetch scan, the thread
# study, the load pieces and traces, and libtextgen vs llama.cpp. On a shared machine each
# repetition first waits up to GATE seconds (default 10) for a quiet moment and prints what it saw.
# Environment: BUILD_DIR (default ./build), BENCH_OUT (default bench/out), REPS (default 7),
# GATE. Takes 20-40 minutes. Not a test.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
out=${BENCH_OUT:-$root/bench/out}
reps=${REPS:-7}
gate=${GATE:-10}
ninja -C "$build" -j2 >/dev/null
model=$out/gpt2-124m-random
[ -f "$model/model.safetensors" ] || "$build/bench/make_gpt2_model" "$model"
log=$out/phase1-$(date -u +%Y%m%dT%H%M%SZ).txt
{
    echo "# bench/phase1.sh at $(git -C "$root" rev-parse --short HEAD), $(date -u), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    "$build/bench/bench_kernels" --reps "$reps" --gate "$gate"
    "$build/bench/bench_kernels" --reps 5 --tune --gate "$gate" --prec f32,bf16,f32view,u8s8
    "$build/bench/bench_threads" --reps "$reps" --gate "$gate"
    OMP_WAIT_POLICY=passive "$build/bench/bench_threads" --reps "$reps" --gate "$gate" --modes omp-static,pool
    GOMP_SPINCOUNT=0 "$build/bench/bench_threads" --reps "$reps" --gate "$gate" --modes omp-static
    "$build/bench/bench_startup" "$model" --reps 5
    for p in fp32 bf16; do
        for t in 1 2; do
            echo "load_trace: $p, OMP_NUM_THREADS=$t"
            OMP_NUM_THREADS=$t LD_PRELOAD="$build/bench/libload_trace.so" "$build/bench/peer_worker" "$model" $p --start 1 2>&1
        done
    done
    "$root/bench/peer/run.sh" --reps "$reps" --spinner --start-reps 5 --pairs fp32,bf16,q8_0
} 2>&1 | grep --line-buffered -v 'repetition [0-9]*/' | tee "$log"
echo "(saved to $log)"
