#!/usr/bin/env bash
# bench/peer/run.sh — libtextgen vs llama.cpp on the same weights, in one invocation.
#
# Usage: bench/peer/run.sh [compare.mjs options, e.g. --reps 7 --spinner --start-reps 5]
# Environment: BUILD_DIR (default ./build), BENCH_OUT (default bench/out).
# Missing pieces are made first: the build (peer_worker, export_gguf, make_gpt2_model), the random
# GPT-2 124M folder, its GGUF exports (f32, f16, q8_0; ~1 s each) and llama.cpp itself: npm
# `node-llama-cpp@3.21.1` with its prebuilt linux-x64 CPU binaries, installed into
# $BENCH_OUT/llama (83 MB, about 5-25 s). The output is also saved to
# $BENCH_OUT/peer-<UTC date>.txt. Not a test.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build}
out=${BENCH_OUT:-$root/bench/out}
model=$out/gpt2-124m-random
llama=$out/llama

if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "$root"
fi
ninja -C "$build" -j2 bench/peer_worker bench/export_gguf bench/make_gpt2_model >/dev/null
mkdir -p "$out"
if [ ! -f "$model/model.safetensors" ] || [ ! -f "$model/config.json" ]; then
    "$build/bench/make_gpt2_model" "$model"
fi
for t in f32 f16 q8_0; do
    if [ ! -f "$model.$t.gguf" ] || [ "$model/model.safetensors" -nt "$model.$t.gguf" ]; then
        "$build/bench/export_gguf" "$model" "$model.$t.gguf" --type "$t" \
            --vocab "$root/tests/data/tokenizer/gpt2/vocab.json" \
            --merges "$root/tests/data/tokenizer/gpt2/merges.txt"
    fi
done
if [ ! -d "$llama/node_modules/@node-llama-cpp/linux-x64" ]; then
    mkdir -p "$llama"
    # --omit=optional skips the CUDA/Vulkan/ARM binary packages (650 MB); the CPU one is named.
    # npm does not run node-llama-cpp's postinstall (it only checks the binaries).
    (cd "$llama" && time npm install --no-audit --no-fund --omit=optional \
        node-llama-cpp@3.21.1 @node-llama-cpp/linux-x64@3.21.1)
fi

log=$out/peer-$(date -u +%Y%m%dT%H%M%SZ).txt
{
    echo "# git $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet 2>/dev/null || echo ' (dirty tree)')"
    node "$root/bench/peer/compare.mjs" --build "$build" --model "$model" --gguf-prefix "$model" \
        --llama-dir "$llama" "$@"
} | tee "$log"
echo "(saved to $log)"
