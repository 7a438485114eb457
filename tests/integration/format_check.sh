#!/usr/bin/env bash
# Every tracked C source and header is formatted as .clang-format says (Debian's clang-format 14).
set -euo pipefail
cd "$1"
command -v clang-format >/dev/null || { echo "skipped: clang-format is not installed"; exit 77; }
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find include lib plugins tools tests bench examples -name '*.[ch]')
out=$(clang-format --dry-run $files 2>&1 | grep 'warning:' | cut -d: -f1 | sort -u || true)
if [ -n "$out" ]; then
  echo "not formatted (run clang-format -i on them):"
  echo "$out"
  exit 1
fi
echo "$(echo "$files" | wc -w) files formatted"
