#!/usr/bin/env bash
# Streaming transfers: libnoxrunner vs the plain tools, against one noxd.
#
#   bench/stream.sh [BUILD_DIR] [SIZES_MIB...]     (defaults: build 64 1024)
#
# For each size it generates a workspace under /tmp (mixed file sizes, half
# compressible text, half random bytes), starts noxd on a free port, and
# measures, each in one run with /usr/bin/time -v:
#   download+extract  stream_client download   vs  curl -s URL | tar -xz -C DIR
#   pack+upload       stream_client upload     vs  tar -cz -C DIR . | curl -T - URL
# Peak RSS is the largest process of the command (GNU time reports the max
# over the children). The figures go to stdout and are appended to
# bench/RESULTS.md under "Streaming".
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
shift || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(64 1024)
build=$(cd "$build" && pwd)
work=$(mktemp -d /tmp/nox-bench-XXXXXX)
noxd_pid=
cleanup() {
  [ -n "$noxd_pid" ] && kill "$noxd_pid" 2>/dev/null && wait "$noxd_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

cc -O2 -I"$here/../include" -I"$build/include" "$here/stream_client.c" \
  -L"$build/lib" -Wl,-rpath,"$build/lib" -lnoxrunner -luv \
  -o "$work/stream_client"

# SIZE MiB in DIR: a quarter in 64 KiB files, the rest in 4 MiB ones;
# even files are random, odd ones repeat a line of text.
gen() {
  local dir=$1 mib=$2
  python3 - "$dir" "$mib" <<'EOF'
import os, sys
d, mib = sys.argv[1], int(sys.argv[2])
text = (b"the quick brown fox jumps over the lazy dog 0123456789\n" * 80000)
small, big = 64 << 10, 4 << 20
total, i = mib << 20, 0
done = 0
while done < total:
    size = small if done < total // 4 else big
    sub = os.path.join(d, "d%02d" % (i % 16))
    os.makedirs(sub, exist_ok=True)
    data = os.urandom(size) if i % 2 == 0 else text[:size]
    with open(os.path.join(sub, "f%05d" % i), "wb") as f:
        f.write(data)
    done += size
    i += 1
EOF
}

# Runs a command under /usr/bin/time -v; prints "seconds max_rss_kib".
measure() {
  local log=$work/time.log
  /usr/bin/time -v -o "$log" "$@" >/dev/null
  local rss secs
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
  secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log" |
    awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')
  echo "$secs $rss"
}

root=$work/root
mkdir -p "$root"
"$build/bin/noxd" --listen 127.0.0.1:0 --root "$root" --isolation none \
  >"$work/noxd.out" 2>"$work/noxd.err" &
noxd_pid=$!
for _ in $(seq 100); do
  grep -q listening "$work/noxd.out" 2>/dev/null && break
  sleep 0.1
done
url=$(grep -o 'http://[0-9.:]*' "$work/noxd.out" | head -1)
curl -sf -X PUT "$url/v1/sandboxes/bench" >/dev/null

results=()
for mib in "${sizes[@]}"; do
  src=$work/src$mib
  mkdir -p "$src"
  gen "$src" "$mib"
  # Put the workspace into the sandbox once (not measured).
  tar -cz -C "$src" . | curl -sf -X POST -H 'Content-Type: application/x-tar' \
    -T - "$url/v1/sandboxes/bench/files/upload?dest=/workspace/w$mib" >/dev/null
  dl="$url/v1/sandboxes/bench/files/download?src=/workspace/w$mib"
  up="$url/v1/sandboxes/bench/files/upload?dest=/workspace/u$mib"

  rm -rf "$work/out"
  read -r t_lib r_lib < <(measure "$work/stream_client" download "$url" bench \
    "/workspace/w$mib" "$work/out")
  bytes=$(du -sb "$work/out" | cut -f1)
  rm -rf "$work/out"; mkdir -p "$work/out"
  read -r t_peer r_peer < <(measure sh -c "curl -sf '$dl' | tar -xz -C '$work/out'")
  rm -rf "$work/out"
  read -r t_ulib r_ulib < <(measure "$work/stream_client" upload "$url" bench \
    "$src" "/workspace/u$mib")
  read -r t_upeer r_upeer < <(measure sh -c "tar -cz -C '$src' . | curl -sf \
    -X POST -H 'Content-Type: application/x-tar' -T - '$up'")
  results+=("| $mib MiB | download+extract | $t_lib s | $r_lib KiB | $t_peer s | $r_peer KiB | $(python3 -c "print(f'{$t_peer/$t_lib:.2f}')")x |")
  results+=("| $mib MiB | pack+upload | $t_ulib s | $r_ulib KiB | $t_upeer s | $r_upeer KiB | $(python3 -c "print(f'{$t_upeer/$t_ulib:.2f}')")x |")
  echo "$mib MiB ($bytes bytes extracted): download lib ${t_lib}s ${r_lib}KiB," \
    "peer ${t_peer}s ${r_peer}KiB; upload lib ${t_ulib}s ${r_ulib}KiB," \
    "peer ${t_upeer}s ${r_upeer}KiB"
  rm -rf "$src" "$root"/*/workspace/u$mib 2>/dev/null || true
done

{
  echo
  echo "## Streaming ($(date -u +%Y-%m-%d), $(nproc) cores shared with other jobs)"
  echo
  echo "Command: \`bench/stream.sh ${build#$PWD/} ${sizes[*]}\` against one noxd"
  echo "(--isolation none) on 127.0.0.1; the peers are"
  echo "\`curl -s URL | tar -xz -C DIR\` and \`tar -cz -C DIR . | curl -T - URL\`."
  echo "Time is wall clock of the client command (noxd's packing or unpacking"
  echo "included, the same server for both); RSS is the client's peak."
  echo
  echo "| workspace | transfer | libnoxrunner | peak RSS | peer | peer peak RSS | peer time / ours |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
  printf '%s\n' "${results[@]}"
} >>"$here/RESULTS.md"
