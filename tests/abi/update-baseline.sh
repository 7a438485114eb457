#!/bin/sh
# Regenerate tests/abi/baseline/libtextgen.abi from a fresh build of the current tree.
#
# Do this ONLY when the public ABI changes on purpose, never to make abi-abidiff pass over a
# break (docs/abi.md): until 0.1.0 is released, in the commit that adds or changes public API;
# after that, in the release commit of a minor version that adds API (each new function in a new
# version node of lib/textgen.map). Review the diff of the baseline before committing it.
#
# usage: tests/abi/update-baseline.sh [BUILD_DIR]     (BUILD_DIR defaults to ./build)
set -eu

src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-"$src/build"}
build=$(cd "$build" && pwd)
baseline="$src/tests/abi/baseline/libtextgen.abi"

if ! command -v abidw >/dev/null 2>&1; then
    echo "abidw not found: apt-get install abigail-tools" >&2
    exit 1
fi
if [ "$(uname -m)" != x86_64 ]; then
    echo "the committed baseline describes x86_64; this machine is $(uname -m)" >&2
    exit 1
fi

meson compile -C "$build" lib/textgen:shared_library
lib=$(ls -d "$build"/lib/libtextgen.so.* 2>/dev/null | grep -E '[.]so[.][0-9]+$' | head -n 1) ||
    true
if [ -z "$lib" ]; then
    echo "no $build/lib/libtextgen.so.N: is $build a build dir of $src?" >&2
    exit 1
fi

mkdir -p "$(dirname "$baseline")"
python3 "$src/tests/abi/check_abidiff.py" --write "$baseline" --lib "$lib" \
    --headers-dir "$src/include/textgen" --headers-dir "$build/include/textgen"

echo
echo "Baseline regenerated. Review it, then commit it with the change that alters the ABI:"
echo "  git diff --stat -- tests/abi/baseline/"
echo "  meson test -C $build --suite abi"
