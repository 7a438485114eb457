#!/usr/bin/env bash
# A moved install keeps working: install into a scratch prefix, move the whole prefix elsewhere,
# then the installed CLI (no LD_LIBRARY_PATH: its run path is relative to itself) and a C program
# built with the moved textgen.pc find the bundled model and every built-in processor, in the
# moved prefix, with no environment variable helping.
# usage: relocation_check.sh BUILD_DIR SOURCE_DIR B_SANITIZE
set -euo pipefail
build=$1 src=$2 sanitize=${3:-none}
if [ "$sanitize" != none ]; then
  echo "skipped: the build uses -Db_sanitize=$sanitize (programs built here lack its runtime)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# What the build tree's plugins provide: the processor names every install must list.
want=$(TEXTGEN_PLUGIN_NO_DEFAULT=1 TEXTGEN_PLUGIN_PATH=$build/plugins "$build/tools/textgen/textgen" \
  --list-plugins | sed -n 's/^\([a-z_0-9]*\) (.*): .*/\1/p' | sort)
[ "$(echo "$want" | wc -l)" -ge 18 ] || { echo "the build tree lists too few processors: $want"; exit 1; }

meson install -C "$build" --destdir "$tmp/first" --quiet >/dev/null
mv "$tmp/first" "$tmp/moved"
unset TEXTGEN_PLUGIN_PATH TEXTGEN_PLUGIN_NO_DEFAULT TEXTGEN_MODEL LD_LIBRARY_PATH
moved=$(realpath "$tmp/moved")
cli=$(find "$moved" -path '*/bin/textgen' -type f | head -1)
[ -x "$cli" ] || { echo "no installed textgen CLI"; exit 1; }

echo "== the moved CLI"
got=$("$cli" --list-plugins | sed -n 's/^\([a-z_0-9]*\) (.*): .*/\1/p' | sort)
if [ "$got" != "$want" ]; then
  echo "the moved CLI lists other processors:"; diff <(echo "$want") <(echo "$got") || true; exit 1
fi
paths=$("$cli" --list-plugins | sed -n 's/^    plugin .*, \(\/.*\)$/\1/p')
if echo "$paths" | grep -v "^$moved/"; then echo "plugins loaded from outside the moved prefix"; exit 1; fi
json=$("$cli" --json -n 8 --temperature 0 "ROMEO:")
echo "$json" | python3 -c '
import json, os, sys
r = json.load(sys.stdin)
moved = sys.argv[1]
assert os.path.realpath(r["model"]).startswith(moved + "/"), r["model"]
assert r["timing"]["n_generated"] == 8, r
print("cli: %s -> %r" % (r["model"], r["text"]))' "$moved"

echo "== a C program built against the moved prefix"
pc=$(find "$moved" -name textgen.pc | head -1)
grep -q '^prefix=${pcfiledir}' "$pc" || { echo "textgen.pc is not relocatable (this build dir was configured before pkgconfig.relocatable became the default): run meson configure $build -Dpkgconfig.relocatable=true"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc")
cc -std=c99 -Wall -Wextra -Werror -o "$tmp/relocated" "$src/tests/integration/relocated.c" \
  $(pkg-config --cflags --libs textgen)
out=$(LD_LIBRARY_PATH=$(pkg-config --variable=libdir textgen) "$tmp/relocated")
echo "$out"
plugins=$(echo "$out" | sed -n 's/^plugins //p')
model=$(echo "$out" | sed -n 's/^model //p')
count=$(echo "$out" | sed -n 's/^processors //p')
case "$plugins" in "$moved"/*/textgen-0/plugins) ;; *) echo "plugins dir '$plugins' is not in the moved prefix"; exit 1 ;; esac
case "$model" in "$moved"/*/share/textgen/models/shakespeare-char) ;; *) echo "model dir '$model' is not in the moved prefix"; exit 1 ;; esac
[ "$count" = "$(echo "$want" | wc -l)" ] || { echo "$count processors, want $(echo "$want" | wc -l)"; exit 1; }
echo "a moved prefix works: $moved"
