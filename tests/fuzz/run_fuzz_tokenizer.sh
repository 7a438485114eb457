#!/bin/sh
# Build the tokenizer fuzz target with clang (libFuzzer + ASan + UBSan) into build-fuzz/ and run
# it for SECONDS (default 60) from a small seed corpus. Needs clang and libclang-rt-14-dev.
#   tests/fuzz/run_fuzz_tokenizer.sh [SECONDS]
# (tests/fuzz/meson.build builds the same target inside a CC=clang meson build.)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-60}
out="$root/build-fuzz"
mkdir -p "$out"
clang -std=c11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
    -Wall -Wextra -Wno-unused-parameter \
    -I"$root/include" -I"$root/lib" $(pkg-config --cflags glib-2.0 json-glib-1.0) \
    -DTG_FUZZ_DATA="\"$root/tests/data\"" \
    "$root/tests/fuzz/fuzz_tokenizer.c" "$root"/lib/tokenizer/*.c "$root/lib/core/error.c" \
    "$root/lib/core/fileutil.c" "$root/lib/core/json_util.c" \
    $(pkg-config --libs glib-2.0 json-glib-1.0) -o "$out/fuzz_tokenizer"
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
printf '\000Hello world, it'"'"'s 12345 \360\237\214\215  \n\tok' > "$corpus/text"
# the same text for the small tokenizers in the formats of Llama 3, Llama 2 and Metaspace
printf '\003a <mask> b<|sep|>  \357\254\201x 123456 I'"'"'M \r\n\r\n<|eot_id|>' > "$corpus/bytelevel"
printf '\006<s>Hello \342\226\201 world</s>\n\t\303\251\377' > "$corpus/sentencepiece"
printf '\011Hello  world <s>x' > "$corpus/metaspace"
printf '\001\000\001\000\000\330\060\000\000\352\000\000\000' > "$corpus/ids"
printf '\002{"pre_tokenizer":null,"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}' \
    > "$corpus/json"
ASAN_OPTIONS=detect_leaks=1 "$out/fuzz_tokenizer" -max_total_time="$secs" -max_len=4096 "$corpus"
