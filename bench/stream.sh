#!/usr/bin/env bash
# Streaming transfers: libnoxrunner vs the plain tools.
#
#   bench/stream.sh [BUILD_DIR] [SIZES_MIB...]     (defaults: build 64 1024)
#   REPS=N (default 3): runs per figure; the median is reported.
#
# For each size it generates a workspace under /tmp (mixed file sizes, half
# compressible text, half random bytes) and measures, with /usr/bin/time -v,
#   download+extract  stream_client download   vs  curl -s URL | tar -xz -C DIR
#   pack+upload       stream_client upload     vs  tar -cz -C DIR . | curl -T - URL
# against two servers, the same one for both sides of a row:
#   noxd    packs or unpacks the workspace itself (end to end; on 2 cores
#           its gzip competes with the client's work);
#   static  isolates the client: nginx sends the workspace's .tar.gz as a
#           file, and faultd (tests/integration/faultd.py) reads an upload
#           and throws it away.
# Runs of a row alternate between the two sides. Peak RSS is the largest
# process of the command (GNU time reports the max over the children). The
# figures go to stdout and are appended to bench/RESULTS.md under
# "Streaming".
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
shift || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(64 1024)
reps=${REPS:-3}
build=$(cd "$build" && pwd)
work=$(mktemp -d /tmp/nox-bench-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
  done
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
  python3 - "$dir" "$mib" <<'PY'
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
PY
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

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits for a line matching $2 in file $1.
wait_for() {
  for _ in $(seq 200); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "stream.sh: no \"$2\" in $1" >&2
  return 1
}

root=$work/root
mkdir -p "$root"
"$build/bin/noxd" --listen 127.0.0.1:0 --root "$root" --isolation none \
  >"$work/noxd.out" 2>"$work/noxd.err" &
pids+=($!)
wait_for "$work/noxd.out" listening
url=$(grep -o 'http://[0-9.:]*' "$work/noxd.out" | head -1)
curl -sf -X PUT "$url/v1/sandboxes/bench" >/dev/null

# nginx sends $work/static/DL.tgz for any download of sandbox "bench".
nport=$(free_port)
mkdir -p "$work/static" "$work/nginx"
cat >"$work/nginx/nginx.conf" <<NGINX
daemon off;
user root;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx;
  scgi_temp_path $work/nginx;
  server {
    listen 127.0.0.1:$nport;
    location /v1/sandboxes/bench/files/download {
      alias $work/static/dl.tgz;
      default_type application/gzip;
    }
  }
}
NGINX
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
pids+=($!)
surl=http://127.0.0.1:$nport
# faultd's "files" mode writes an upload to the file its dest names.
python3 "$here/../tests/integration/faultd.py" --port 0 --max-body $((4 << 30)) \
  >"$work/faultd.out" 2>"$work/faultd.err" &
pids+=($!)
wait_for "$work/faultd.out" listening
fport=$(grep -o '[0-9][0-9]*' "$work/faultd.out" | tail -1)
furl=http://127.0.0.1:$fport/f/files

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
maxof() { printf '%s\n' "$@" | sort -g | tail -1; }

# row LABEL LIBCMD PEERCMD [SETUP]: REPS alternating runs of each side; SETUP
# runs before every run (not measured). Appends a table row to results.
results=()
row() {
  local label=$1 lib=$2 peer=$3 setup=${4:-true}
  local tl=() rl=() tp=() rp=() t r i
  for ((i = 0; i < reps; i++)); do
    eval "$setup"
    read -r t r < <(measure sh -c "$lib")
    tl+=("$t"); rl+=("$r")
    eval "$setup"
    read -r t r < <(measure sh -c "$peer")
    tp+=("$t"); rp+=("$r")
  done
  local ml mp
  ml=$(median "${tl[@]}"); mp=$(median "${tp[@]}")
  results+=("| $label | $ml s (${tl[*]}) | $(maxof "${rl[@]}") KiB | $mp s (${tp[*]}) | $(maxof "${rp[@]}") KiB | $(python3 -c "print(f'{$mp/$ml:.2f}')")x |")
  echo "${results[-1]}"
}

sc=$work/stream_client
out=$work/out
for mib in "${sizes[@]}"; do
  src=$work/src$mib
  mkdir -p "$src"
  gen "$src" "$mib"
  # Put the workspace into the sandbox once and keep its archive for nginx.
  tar -cz -C "$src" . | curl -sf -X POST -H 'Content-Type: application/x-tar' \
    -T - "$url/v1/sandboxes/bench/files/upload?dest=/workspace/w$mib" >/dev/null
  curl -sf -o "$work/static/dl.tgz" \
    "$url/v1/sandboxes/bench/files/download?src=/workspace/w$mib"
  dl="files/download?src=/workspace/w$mib"
  clean_out="rm -rf '$out' '$root'/*/workspace/u$mib; mkdir -p '$out'"

  row "$mib MiB | download+extract | noxd" \
    "rmdir '$out' && '$sc' download '$url' bench /workspace/w$mib '$out'" \
    "curl -sf '$url/v1/sandboxes/bench/$dl' | tar -xz -C '$out'" "$clean_out"
  row "$mib MiB | pack+upload | noxd" \
    "'$sc' upload '$url' bench '$src' /workspace/u$mib" \
    "tar -cz -C '$src' . | curl -sf -X POST -H 'Content-Type: application/x-tar' -T - '$url/v1/sandboxes/bench/files/upload?dest=/workspace/u$mib'" \
    "$clean_out"
  row "$mib MiB | download+extract | static" \
    "rmdir '$out' && '$sc' download '$surl' bench /workspace/w$mib '$out'" \
    "curl -sf '$surl/v1/sandboxes/bench/$dl' | tar -xz -C '$out'" "$clean_out"
  row "$mib MiB | pack+upload | static" \
    "'$sc' upload '$furl' bench '$src' /dev/null" \
    "tar -cz -C '$src' . | curl -sf -X POST -H 'Content-Type: application/x-tar' -T - '$furl/v1/sandboxes/bench/files/upload?dest=/dev/null'"
  rm -rf "$src" "$out" "$root"/*/workspace/w$mib "$root"/*/workspace/u$mib
done

{
  echo
  echo "## Streaming ($(date -u +%Y-%m-%d), $(nproc) cores)"
  echo
  echo "Command: \`REPS=$reps bench/stream.sh ${build#"$PWD"/} ${sizes[*]}\`."
  echo "Peers: \`curl -s URL | tar -xz -C DIR\` and"
  echo "\`tar -cz -C DIR . | curl -T - URL\`. Server \"noxd\": one noxd"
  echo "(--isolation none) on 127.0.0.1 packing or unpacking the workspace, so"
  echo "its gzip shares the 2 cores with the client. Server \"static\": nginx"
  echo "sending the workspace's .tar.gz file, and faultd discarding uploads, to"
  echo "isolate the client. Time: the median of $reps alternating runs of each"
  echo "side (all runs in brackets), wall clock of the client command; RSS: the"
  echo "largest peak of the client's processes over the runs."
  echo
  echo "| workspace | transfer | server | libnoxrunner | peak RSS | peer | peer peak RSS | peer time / ours |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  printf '%s\n' "${results[@]}"
} >>"$here/RESULTS.md"
