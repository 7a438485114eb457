#!/usr/bin/env bash
# Downstream builds against an installed libtextgen, with nothing but PKG_CONFIG_PATH pointing at
# the prefix (docs/bindings.md):
#   1. a C consumer compiled with `pkg-config --cflags --libs textgen`;
#   2. the out-of-tree example plugin built with its own meson.build (dependency('textgen')) and
#      installed into `pkg-config --variable=pluginsdir textgen`;
#   3. the consumer run: it loads that plugin through a chain spec from the default search path
#      and generates from the installed bundled model;
#   4. the C++ example built against the installed <textgen/textgen.hpp>;
#   5. the Rust crates and the Go package built and run against the same prefix (copied out of
#      the source tree, as a downstream project would have them), and the Python binding finding
#      the library through pkg-config.
# usage: downstream_check.sh BUILD_DIR SOURCE_DIR B_SANITIZE
set -euo pipefail
build=$1 src=$2 sanitize=${3:-none}
if [ "$sanitize" != none ]; then
  echo "skipped: the build uses -Db_sanitize=$sanitize (programs built here lack its runtime)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
step() { echo "== $*"; }

step "install into a scratch prefix"
meson install -C "$build" --destdir "$tmp/dest" --quiet >/dev/null
pc=$(find "$tmp/dest" -name textgen.pc | head -1)
[ -n "$pc" ] || { echo "textgen.pc was not installed"; exit 1; }
grep -q '^prefix=${pcfiledir}' "$pc" || { echo "textgen.pc is not relocatable (this build dir was configured before pkgconfig.relocatable became the default): run meson configure $build -Dpkgconfig.relocatable=true"; exit 1; }
# Only the prefix: no build tree, no environment of the test harness.
unset TEXTGEN_PLUGIN_PATH TEXTGEN_PLUGIN_NO_DEFAULT TEXTGEN_MODEL LD_LIBRARY_PATH TEXTGEN_LIBRARY
export PKG_CONFIG_PATH=$(dirname "$pc")
libdir=$(pkg-config --variable=libdir textgen)
pluginsdir=$(pkg-config --variable=pluginsdir textgen)
case "$(realpath "$pluginsdir")" in "$tmp"/dest/*) ;; *) echo "pluginsdir '$pluginsdir' is outside the prefix"; exit 1 ;; esac
# The prefix is not on the loader's path: programs get it from LD_LIBRARY_PATH (docs/bindings.md).
export LD_LIBRARY_PATH=$libdir

step "1. a C consumer from pkg-config alone"
cc -std=c99 -Wall -Wextra -Werror -o "$tmp/consumer" "$src/tests/integration/downstream_consumer.c" \
  $(pkg-config --cflags --libs textgen)

step "2. the example plugin with its own meson.build, into pluginsdir"
cp -r "$src/examples/plugin" "$tmp/plugin"
meson setup "$tmp/plugin/build" "$tmp/plugin" >/dev/null
meson compile -C "$tmp/plugin/build" >/dev/null
meson install -C "$tmp/plugin/build" --quiet >/dev/null
[ -f "$pluginsdir/epsilon_cutoff.so" ] || { echo "the plugin is not in $pluginsdir"; exit 1; }

step "3. the consumer loads it through a chain spec"
out=$("$tmp/consumer")
[ "$(echo "$out" | wc -w)" = 30 ] || { echo "consumer printed '$out'"; exit 1; }
echo "consumer: $out"

step "4. the C++ example against the installed textgen.hpp"
if command -v c++ >/dev/null; then
  c++ -std=c++17 -Wall -Wextra -pedantic -Werror -Wzero-as-null-pointer-constant -Wold-style-cast \
    -o "$tmp/generate_cpp" "$src/bindings/cpp/examples/generate.cpp" $(pkg-config --cflags --libs textgen)
  "$tmp/generate_cpp" "ROMEO:" "eo" | tail -1
else
  echo "no C++ compiler: C++ part skipped"
fi

step "5a. Rust"
cargo=$(command -v /usr/bin/cargo || command -v cargo || true)
if [ -n "$cargo" ]; then
  cp -r "$src/bindings/rust" "$tmp/rust"
  CARGO_HOME=$build/bindings/rust/cargo-home CARGO_TARGET_DIR=$tmp/rust/target \
    "$cargo" run -q --offline --locked --manifest-path "$tmp/rust/Cargo.toml" --example generate -- \
    "ROMEO:" "eo" | tail -1
else
  echo "cargo is not installed: Rust part skipped"
fi

step "5b. Go"
gobin=$(command -v /usr/bin/go || command -v go || true)
if [ -n "$gobin" ]; then
  cp -r "$src/bindings/go" "$tmp/go"
  (cd "$tmp/go" && GOPATH=$build/bindings/go/gopath GOCACHE=$build/bindings/go/gocache \
    GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local "$gobin" run ./example "ROMEO:" "eo" | tail -1)
else
  echo "go is not installed: Go part skipped"
fi

step "5c. Python: the library found through pkg-config"
PYTHONPATH=$src/bindings/python PYTHONDONTWRITEBYTECODE=1 python3 "$src/bindings/python/examples/generate.py" \
  "ROMEO:" "eo" | tail -1

echo "downstream builds work against the installed prefix ($PKG_CONFIG_PATH)"
