#!/usr/bin/env bash
# The example beam scorer (examples/beam_scorer) builds out of tree with its own Makefile against
# an install found with pkg-config alone, loads into the installed textgen with --plugin-dir, and
# decides the beam scores: each returned sequence's score is its tokens' sum / ((5 + n) / 6)^0.6.
set -euo pipefail
build=$1 src=$2 sanitize=${3:-none}
if [ "$sanitize" != none ]; then # plain programs cannot load a sanitized library
  echo "skipped: the build uses -Db_sanitize=$sanitize"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
meson install -C "$build" --destdir "$tmp" --quiet >/dev/null
pcdir=$(dirname "$(find "$tmp" -name textgen.pc | head -1)")
export PKG_CONFIG_PATH=$pcdir PKG_CONFIG_SYSROOT_DIR=$tmp
pluginsdir=$(pkg-config --variable=pluginsdir textgen)
libdir=$(dirname "$(find "$tmp" -name 'libtextgen.so.0' | head -1)")
textgen=$(find "$tmp" -path '*/bin/textgen' | head -1)
cp -r "$src/examples/beam_scorer" "$tmp/beam_scorer"
make -s -C "$tmp/beam_scorer" CFLAGS="-O2 -Wall -Wextra -Werror" >/dev/null
out=$(LD_LIBRARY_PATH=$libdir TEXTGEN_PLUGIN_NO_DEFAULT=1 TEXTGEN_PLUGIN_PATH=$pluginsdir \
  "$textgen" -m "$src/tests/data/models/char_eos" --plugin-dir "$tmp/beam_scorer" -n 16 \
  --samplers greedy --beams 3 --num-return 3 --json \
  --beam-scorers "gnmt_length_penalty(alpha=0.6)" "Second Servant:")
python3 - "$out" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
seqs = r["sequences"]
assert len(seqs) == 3, seqs
scores = [s["score"] for s in seqs]
assert scores == sorted(scores, reverse=True), scores
best = seqs[0]
assert best["tokens"] == r["tokens"]
n = len(r["logprobs"])
want = sum(r["logprobs"]) / ((5 + n) / 6) ** 0.6
assert abs(best["score"] - want) < 1e-5, (best["score"], want)
assert abs(best["score"] - sum(r["logprobs"]) / n) > 1e-3, "not the default length_penalty"
PY
echo "the example beam scorer builds out of tree and scores the beams (pluginsdir=$pluginsdir)"
