#!/usr/bin/env bash
# consumer_test.sh BUILD_DIR SOURCE_DIR CC "EXTRA_FLAGS"
#
# Installs the build tree into a temporary prefix, checks what landed there,
# builds tests/consumer against the installed copy with find_package (shared
# and static) and with pkg-config (shared and static), and runs all four
# against the installed noxd, started on a free port and stopped by PID.
# EXTRA_FLAGS carries the sanitizer flags of an instrumented build, which
# every program linking the library must share.
set -euo pipefail

build=$1
src=$2
cc=$3
flags=${4:-}

work=$(mktemp -d "${TMPDIR:-/tmp}/nox-consumer.XXXXXX")
noxd_pid=
cleanup() {
  if [ -n "$noxd_pid" ]; then
    kill -TERM "$noxd_pid" 2>/dev/null || true
    wait "$noxd_pid" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "consumer_test: $*" >&2
  exit 1
}

prefix=$work/prefix
cmake --install "$build" --prefix "$prefix"

# --- What was installed -----------------------------------------------------
so=$(find "$prefix" -name 'libnoxrunner.so' -print -quit)
[ -n "$so" ] || fail "no libnoxrunner.so under $prefix"
libdir=$(dirname "$so")
version=$(sed -nE 's/^#define NOX_VERSION_STRING "([0-9.]+)".*/\1/p' \
  "$src/include/noxrunner/version.h")
major=${version%%.*}
[ -f "$libdir/libnoxrunner.so.$version" ] || fail "no libnoxrunner.so.$version"
[ -L "$libdir/libnoxrunner.so.$major" ] || fail "no libnoxrunner.so.$major link"
[ -f "$libdir/libnoxrunner.a" ] || fail "no libnoxrunner.a"
soname=$(objdump -p "$libdir/libnoxrunner.so.$version" | awk '$1 == "SONAME" {print $2}')
[ "$soname" = "libnoxrunner.so.$major" ] || fail "SONAME is '$soname'"
for h in noxrunner.h noxrunner/version.h noxrunner/sync.h noxrunner/util.h; do
  [ -f "$prefix/include/$h" ] || fail "header $h not installed"
done
for h in "$src"/include/noxrunner/*.h; do
  [ -f "$prefix/include/noxrunner/$(basename "$h")" ] ||
    fail "header $(basename "$h") not installed"
done
[ -f "$libdir/pkgconfig/noxrunner.pc" ] || fail "noxrunner.pc not installed"
[ -f "$libdir/cmake/noxrunner/noxrunnerConfig.cmake" ] ||
  fail "noxrunnerConfig.cmake not installed"
[ -f "$libdir/cmake/noxrunner/noxrunnerConfigVersion.cmake" ] ||
  fail "noxrunnerConfigVersion.cmake not installed"
# Every tool that was built is installed with its man page.
for t in noxd:8 noxrc:1 nox-bench:1; do
  tool=${t%:*}
  section=${t#*:}
  if [ -x "$build/bin/$tool" ]; then
    [ -x "$prefix/bin/$tool" ] || fail "$tool not installed"
    [ -f "$prefix/share/man/man$section/$tool.$section" ] ||
      fail "$tool.$section not installed"
  fi
done
[ -x "$prefix/bin/noxd" ] || fail "noxd not installed (the test runs it)"

# --- Build against it -------------------------------------------------------
echo "=== find_package"
CFLAGS="$flags" LDFLAGS="$flags" cmake -S "$src/tests/consumer" \
  -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Debug
cmake --build "$work/cmake-build"

echo "=== pkg-config"
export PKG_CONFIG_PATH=$libdir/pkgconfig
pkg-config --exists --print-errors "noxrunner = $version"
# shellcheck disable=SC2046,SC2086
"$cc" $flags -Wall -Wextra -Werror -o "$work/consumer_pc" \
  "$src/tests/consumer/consumer.c" $(pkg-config --cflags --libs noxrunner)
# Static: the archive plus the packages noxrunner.pc names as required, so
# a dependency missing from Requires.private fails the link. Not
# `pkg-config --static`: it recurses into libcurl.pc's own private
# libraries, whose static archives Debian does not ship.
deps=$(pkg-config --print-requires --print-requires-private noxrunner |
  awk '{print $1}')
# shellcheck disable=SC2046,SC2086
"$cc" $flags -Wall -Wextra -Werror -o "$work/consumer_pc_static" \
  "$src/tests/consumer/consumer.c" $(pkg-config --cflags noxrunner) \
  "-L$libdir" -l:libnoxrunner.a $(pkg-config --libs $deps) -lpthread -lm
# Output captured first: under pipefail, `cmd | grep -q` fails at random
# when grep exits early and cmd dies of SIGPIPE.
dyn=$(objdump -p "$work/consumer_pc_static")
if grep -q 'NEEDED.*libnoxrunner' <<<"$dyn"; then
  fail "consumer_pc_static links the shared library"
fi

# --- Run against the installed noxd ----------------------------------------
mkdir -p "$work/root"
mkfifo "$work/noxd.out"
# The installed noxd finds its library through its RPATH alone.
env -u LD_LIBRARY_PATH "$prefix/bin/noxd" --listen 127.0.0.1:0 \
  --root "$work/root" --isolation auto >"$work/noxd.out" \
  2>"$work/noxd.err" &
noxd_pid=$!
exec 3<"$work/noxd.out"
if ! IFS= read -r -t 60 first <&3; then
  cat "$work/noxd.err" >&2
  fail "noxd printed no address"
fi
# Keep draining noxd's stdout so it never blocks on the pipe.
cat <&3 >/dev/null &
exec 3<&-
url=${first#noxd listening on }
case $url in
http://127.0.0.1:*) ;;
*) fail "unexpected first line from noxd: $first" ;;
esac

for bin in "$work/cmake-build/consumer" "$work/cmake-build/consumer_static" \
  "$work/consumer_pc" "$work/consumer_pc_static"; do
  echo "=== $(basename "$bin") $url"
  out=$(LD_LIBRARY_PATH=$libdir "$bin" "$url") ||
    fail "$(basename "$bin") failed: $out"
  printf '%s\n' "$out"
  grep -qx "libnoxrunner $version" <<<"$out" || fail "no version line"
  grep -qx "async exec: hello from an installed libnoxrunner" <<<"$out" ||
    fail "no async answer"
  grep -qx "sync exec: 42" <<<"$out" || fail "no sync answer"
done
# The shared builds really load the installed library.
libs=$(LD_LIBRARY_PATH=$libdir ldd "$work/consumer_pc")
grep -q "$libdir/libnoxrunner.so.$major" <<<"$libs" ||
  fail "consumer_pc does not load $libdir/libnoxrunner.so.$major"

kill -TERM "$noxd_pid"
wait "$noxd_pid" || fail "noxd exited with $? after SIGTERM"
noxd_pid=
echo "consumer_test: all four consumers passed"
