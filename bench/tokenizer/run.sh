#!/bin/sh
# Tokenizer encode-throughput benchmark (not a test), one thread, on tiny Shakespeare (1.1 MB,
# English) and on a ~1 MB mixed-script text:
#   - GPT-2: libtextgen vs js-tiktoken vs tiktoken (WASM);
#   - Llama 3, Qwen3 and the SentencePiece "llama2" vocabulary (the real tokenizer.json files of
#     tests/reference/tokenizer/fetch_tokenizers.sh; skipped with a note when not fetched):
#     libtextgen vs npm @huggingface/tokenizers (Hugging Face's JavaScript implementation).
# Prints each library's median over RUNS runs and the ratios.
#
#   bench/tokenizer/run.sh [BUILD_DIR] [RUNS] [BASELINE_BUILD_DIR]      (default: build, 7)
#
# BASELINE_BUILD_DIR: another build (e.g. of the main branch) whose bench_tokenizer runs on GPT-2
# in the same session, for a before/after comparison on the same machine state.
# Needs node + npm (npm ci runs here once, into bench/tokenizer/node_modules) and a build of the
# project (meson setup BUILD_DIR -Dbuildtype=release && ninja -C BUILD_DIR).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
runs=${2:-7}
baseline=${3:-}
bench="$build/bench/tokenizer/bench_tokenizer"
[ -x "$bench" ] || { echo "run.sh: $bench not built (ninja -C $build)" >&2; exit 1; }
if [ -n "$baseline" ] && [ ! -x "$baseline/bench/tokenizer/bench_tokenizer" ]; then
    echo "run.sh: $baseline/bench/tokenizer/bench_tokenizer not built" >&2
    exit 1
fi
if [ ! -d "$here/node_modules/tiktoken" ] || [ ! -d "$here/node_modules/js-tiktoken" ] ||
    [ ! -d "$here/node_modules/@huggingface/tokenizers" ]; then
    (cd "$here" && npm ci --no-audit --no-fund >/dev/null)
fi
cache=${TG_TOKENIZER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/libtextgen/tokenizers}
hf=""
for name in llama3 qwen3 llama2; do
    if [ -f "$cache/$name/tokenizer.json" ]; then
        hf="$hf $cache/$name"
    else
        echo "run.sh: $cache/$name not fetched (tests/reference/tokenizer/fetch_tokenizers.sh): skipped" >&2
    fi
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cp "$root/tests/data/tokenizer/shakespeare.txt" "$out/shakespeare.txt"
node "$here/make_mixed.mjs" "$out/mixed.txt"
tok="$root/tests/data/tokenizer/gpt2/tokenizer.json"
{
    for f in "$out/shakespeare.txt" "$out/mixed.txt"; do
        "$bench" "$tok" "$f" "$runs" libtextgen
        if [ -n "$baseline" ]; then
            "$baseline/bench/tokenizer/bench_tokenizer" "$tok" "$f" "$runs" baseline
        fi
    done
    node "$here/bench.mjs" "$runs" "$out/shakespeare.txt" "$out/mixed.txt"
    for d in $hf; do
        for f in "$out/shakespeare.txt" "$out/mixed.txt"; do
            "$bench" "$d" "$f" "$runs" "libtextgen/$(basename "$d")"
        done
    done
    if [ -n "$hf" ]; then
        # shellcheck disable=SC2086
        node "$here/bench_hf.mjs" "$runs" $hf -- "$out/shakespeare.txt" "$out/mixed.txt"
    fi
} | tee "$out/results.txt"
echo
awk '
{ lib=$1; file=$2; for (i = 3; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
  mbs[lib, file] = v["mb_per_s"]; cpu[lib, file] = v["cpu_mb_per_s"]; tokens[lib, file] = v["tokens"]
  load[lib, file] = v["load_s"]; files[file] = 1
  if (lib ~ /^libtextgen\//) { sub(/^libtextgen\//, "", lib); hfs[lib] = 1 } }
END {
  for (f in files) {
    printf "gpt2     %-16s libtextgen %7.2f MB/s | tiktoken-wasm %7.2f MB/s (x%.2f) | js-tiktoken %7.2f MB/s (x%.2f)\n",
      f, mbs["libtextgen", f], mbs["tiktoken-wasm", f], mbs["libtextgen", f] / mbs["tiktoken-wasm", f],
      mbs["js-tiktoken", f], mbs["libtextgen", f] / mbs["js-tiktoken", f]
    if (("baseline", f) in mbs)
      printf "gpt2     %-16s this build %7.2f MB/s (cpu %7.2f) | baseline build %7.2f MB/s (cpu %7.2f)\n",
        f, mbs["libtextgen", f], cpu["libtextgen", f], mbs["baseline", f], cpu["baseline", f]
    if (tokens["libtextgen", f] != tokens["tiktoken-wasm", f] || tokens["libtextgen", f] != tokens["js-tiktoken", f])
      printf "  WARNING: token counts differ: libtextgen %s, tiktoken %s, js-tiktoken %s\n",
        tokens["libtextgen", f], tokens["tiktoken-wasm", f], tokens["js-tiktoken", f]
    for (h in hfs) {
      printf "%-8s %-16s libtextgen %7.2f MB/s (load %.2f s) | hf-js %7.2f MB/s (x%.2f, load %.2f s)\n", h, f,
        mbs["libtextgen/" h, f], load["libtextgen/" h, f], mbs["hf-js/" h, f],
        mbs["libtextgen/" h, f] / mbs["hf-js/" h, f], load["hf-js/" h, f]
      if (tokens["libtextgen/" h, f] != tokens["hf-js/" h, f])
        printf "  WARNING: token counts differ: libtextgen %s, hf-js %s\n", tokens["libtextgen/" h, f], tokens["hf-js/" h, f]
    }
  }
}' "$out/results.txt"
