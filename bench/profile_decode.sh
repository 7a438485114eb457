#!/usr/bin/env bash
# bench/profile_decode.sh — where does a decoded token's time go? Runs bench_decode with
# ONEDNN_VERBOSE=1 and --mark, keeps the oneDNN primitives executed during the decode phase (one
# token per tg_session_decode), and prints per-token milliseconds per primitive, their sum, and
# the remainder spent outside oneDNN (embedding, K/V copies, softmax, argmax, bookkeeping).
#
# Usage: bench/profile_decode.sh [THREADS (default 1)] [REPS (default 3)] [--bf16]
# Assumes bench/run.sh has built the programs and generated the model. The verbose log itself
# costs some time per primitive, so "wall" is a little above the un-profiled decode time.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
model=${BENCH_OUT:-$root/bench/out}/gpt2-124m-random
threads=${1:-1}
reps=${2:-3}
shift $(( $# < 2 ? $# : 2 ))
ONEDNN_VERBOSE=1 "$build/bench/bench_decode" "$model" --threads "$threads" --reps "$reps" \
    --no-rss --bw-mib 64 --mark "$@" |
awk -F, -v threads="$threads" '
function label(prim, dims) {
    if (prim == "layer_normalization") return "layer_norm"
    if (prim != "matmul") return prim
    if (dims ~ /^1x768:768x2304/) return "attn.c_attn (qkv)"
    if (dims ~ /^1x768:768x768/) return "attn.c_proj"
    if (dims ~ /^1x768:768x3072/) return "mlp.c_fc (+gelu)"
    if (dims ~ /^1x3072:3072x768/) return "mlp.c_proj"
    if (dims ~ /x50257/) return "lm_head"
    if (dims ~ /^[0-9]+x\*x[0-9]+:[0-9]+x[0-9]+x\*/) return "attention q.K^T"
    if (dims ~ /^[0-9]+x\*x\*:/) return "attention p.V"
    return "matmul " dims
}
/^MARK decode/ { phase = "decode"; next }
/^MARK prefill/ { phase = "prefill"; next }
/^MARK end/ {
    phase = ""
    split($0, a, /[ =]/)
    for (i = 1; i < length(a); i++) {
        if (a[i] == "decode_s") wall += a[i + 1]
        if (a[i] == "tokens") tokens += a[i + 1]
    }
    next
}
/^onednn_verbose,exec/ && phase == "decode" {
    k = label($4, $(NF - 1)) " [" $5 "]"
    t[k] += $NF; n[k]++
}
END {
    if (tokens == 0) { print "no decode phase found"; exit 1 }
    printf "decode profile, %d thread(s), %d tokens (warm-up run included)\n", threads, tokens
    printf "%-52s %8s %9s %8s\n", "primitive [implementation]", "calls/tok", "ms/token", "share"
    for (k in t) { sum += t[k] }
    wall_ms = wall * 1000 / tokens
    for (k in t)
        printf "%-52s %8.1f %9.3f %7.1f%%\n", k, n[k] / tokens, t[k] / tokens, 100 * t[k] / tokens / wall_ms | "sort -k1,1 -t\"[\""
    close("sort -k1,1 -t\"[\"")
    printf "%-52s %8s %9.3f %7.1f%%\n", "all oneDNN primitives", "", sum / tokens, 100 * sum / tokens / wall_ms
    printf "%-52s %8s %9.3f %7.1f%%\n", "outside oneDNN (embedding, KV copy, softmax, argmax...)", "", wall_ms - sum / tokens, 100 * (wall_ms - sum / tokens) / wall_ms
    printf "%-52s %8s %9.3f\n", "wall per decoded token", "", wall_ms
}'
