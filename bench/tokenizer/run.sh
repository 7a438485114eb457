#!/bin/sh
# Tokenizer encode-throughput benchmark (not a test): libtextgen vs js-tiktoken vs tiktoken
# (WASM), encoding gpt2, one thread, on tiny Shakespeare (1.1 MB, English) and on a ~1 MB
# mixed-script text. Prints each library's median over RUNS runs and the ratios.
#
#   bench/tokenizer/run.sh [BUILD_DIR] [RUNS]      (default: build, 7)
#
# Needs node + npm (npm ci runs here once, into bench/tokenizer/node_modules) and a build of the
# project (meson setup BUILD_DIR -Dbuildtype=release && ninja -C BUILD_DIR).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
runs=${2:-7}
bench="$build/bench/tokenizer/bench_tokenizer"
[ -x "$bench" ] || { echo "run.sh: $bench not built (ninja -C $build)" >&2; exit 1; }
if [ ! -d "$here/node_modules/tiktoken" ] || [ ! -d "$here/node_modules/js-tiktoken" ]; then
    (cd "$here" && npm ci --no-audit --no-fund >/dev/null)
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cp "$root/tests/data/tokenizer/shakespeare.txt" "$out/shakespeare.txt"
node "$here/make_mixed.mjs" "$out/mixed.txt"
tok="$root/tests/data/tokenizer/gpt2/tokenizer.json"
{
    for f in "$out/shakespeare.txt" "$out/mixed.txt"; do
        "$bench" "$tok" "$f" "$runs"
    done
    node "$here/bench.mjs" "$runs" "$out/shakespeare.txt" "$out/mixed.txt"
} | tee "$out/results.txt"
echo
awk '
{ lib=$1; file=$2; for (i = 3; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
  mbs[lib, file] = v["mb_per_s"]; tokens[lib, file] = v["tokens"]; files[file] = 1 }
END {
  for (f in files) {
    printf "%-16s libtextgen %7.2f MB/s | tiktoken-wasm %7.2f MB/s (x%.2f) | js-tiktoken %7.2f MB/s (x%.2f)\n",
      f, mbs["libtextgen", f], mbs["tiktoken-wasm", f], mbs["libtextgen", f] / mbs["tiktoken-wasm", f],
      mbs["js-tiktoken", f], mbs["libtextgen", f] / mbs["js-tiktoken", f]
    if (tokens["libtextgen", f] != tokens["tiktoken-wasm", f] || tokens["libtextgen", f] != tokens["js-tiktoken", f])
      printf "  WARNING: token counts differ: libtextgen %s, tiktoken %s, js-tiktoken %s\n",
        tokens["libtextgen", f], tokens["tiktoken-wasm", f], tokens["js-tiktoken", f]
  }
}' "$out/results.txt"
