#!/usr/bin/env bash
# Installs the build into a scratch DESTDIR, then builds and runs a program with nothing but
# `pkg-config --cflags --libs textgen`: proves the library, headers and textgen.pc install and work.
set -euo pipefail
build=$1 src=$2 sanitize=${3:-none}
# A sanitized libtextgen needs the sanitizer runtime in every program that loads it; this test
# builds plain programs against the install, so it only runs on an unsanitized build.
if [ "$sanitize" != none ]; then
  echo "skipped: the build uses -Db_sanitize=$sanitize"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
meson install -C "$build" --destdir "$tmp" --quiet >/dev/null
pcdir=$(dirname "$(find "$tmp" -name textgen.pc | head -1)")
[ -n "$pcdir" ] || { echo "textgen.pc was not installed"; exit 1; }
grep -q '^prefix=${pcfiledir}' "$pcdir/textgen.pc" || { echo "textgen.pc is not relocatable (this build dir was configured before pkgconfig.relocatable became the default): run meson configure $build -Dpkgconfig.relocatable=true"; exit 1; }
# textgen.pc is relocatable (prefix=${pcfiledir}/...): no sysroot is needed to use the DESTDIR.
export PKG_CONFIG_PATH=$pcdir
for h in textgen.h common.h model.h session.h version.h; do
  [ -n "$(find "$tmp" -path "*/include/textgen/$h")" ] || { echo "header $h not installed"; exit 1; }
done
pluginsdir=$(pkg-config --variable=pluginsdir textgen)
case "$pluginsdir" in */textgen-0/plugins) ;; *) echo "bad pluginsdir '$pluginsdir'"; exit 1 ;; esac
cc -std=c99 -Wall -Wextra -Werror -o "$tmp/greedy" "$src/examples/greedy.c" $(pkg-config --cflags --libs textgen)
libdir=$(dirname "$(find "$tmp" -name 'libtextgen.so.0' | head -1)")
out=$(LD_LIBRARY_PATH=$libdir "$tmp/greedy" "$src/tests/data/models/hf_tanh_bias" 5 82 61 56 0 1)
[ "$out" = "43 65 55 49 29" ] || { echo "unexpected output from the installed library: '$out'"; exit 1; }
# The out-of-tree plugin example builds with its own Makefile against the installed files alone,
# and a host program finds the installed built-in plugins plus the example.
cp -r "$src/examples/plugin" "$tmp/plugin"
make -s -C "$tmp/plugin" >/dev/null
cc -std=c99 -Wall -Wextra -Werror -o "$tmp/plugin_host" "$src/tests/integration/plugin_host.c" \
  $(pkg-config --cflags --libs textgen) -lm
LD_LIBRARY_PATH=$libdir TEXTGEN_PLUGIN_NO_DEFAULT=1 TEXTGEN_PLUGIN_PATH= \
  "$tmp/plugin_host" "$tmp/plugin/epsilon_cutoff.so" "$pluginsdir"
echo "installed library, headers and textgen.pc work (pluginsdir=$pluginsdir)"
