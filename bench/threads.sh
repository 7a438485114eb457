#!/usr/bin/env bash
# bench/threads.sh — the thread study of docs/performance.md ("Threads on a busy machine").
#
# Usage: bench/threads.sh [bench_threads options, e.g. --reps 5]
# Runs build/bench/bench_threads (OpenMP static / dynamic splits vs the kernels' pool, quiet and
# with a spinner on one CPU) once per libgomp waiting setting, since libgomp reads them from the
# environment at start-up: the default (spin ~300k iterations, then sleep), OMP_WAIT_POLICY=passive,
# OMP_WAIT_POLICY=active, GOMP_SPINCOUNT=0 and =10000. Then, for the real library (its own pool,
# no OpenMP team), build/bench/bench_decode at 1 and 2 threads for fp32, bf16 and int8 weights,
# quiet and with --spinner (a child process keeps one CPU busy during the model runs).
# THREADS_REPS (default 5): repetitions of each bench_decode run.
# Environment: BUILD_DIR (default ./build), BENCH_OUT (default bench/out). Output also saved to
# $BENCH_OUT/threads-<UTC date>.txt. Not a test.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
out=${BENCH_OUT:-$root/bench/out}
ninja -C "$build" -j2 bench/bench_threads bench/bench_decode bench/make_gpt2_model >/dev/null
mkdir -p "$out"
model=$out/gpt2-124m-random
[ -f "$model/model.safetensors" ] || "$build/bench/make_gpt2_model" "$model"
log=$out/threads-$(date -u +%Y%m%dT%H%M%SZ).txt
{
    echo "# bench/threads.sh, $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'); loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
    for setting in "" OMP_WAIT_POLICY=passive OMP_WAIT_POLICY=active GOMP_SPINCOUNT=0 GOMP_SPINCOUNT=10000; do
        echo
        env $setting "$build/bench/bench_threads" "$@"
    done
    echo
    echo "== the library (its pool), 1 vs 2 threads, quiet and with one CPU kept busy =="
    for wt in "" --bf16 --int8; do
        for spin in "" --spinner; do
            echo "-- ${wt:---fp32} ${spin:-quiet} --"
            "$build/bench/bench_decode" "$model" $wt $spin --threads 1,2 --reps "${THREADS_REPS:-5}" \
                --gen 64 --no-rss | grep -E '^prefill|^decode tok/s|paired|^other load'
        done
    done
} 2>/dev/null | tee "$log"
echo "(saved to $log)"
