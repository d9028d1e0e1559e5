#!/usr/bin/env bash
# Compares nox-bench with wrk and a Python aiohttp client on one canned
# NoxRunner backend (nginx answering every endpoint with fixed responses),
# and runs nox-bench against noxd, all in one run; writes the "nox-bench vs
# peers" section of bench/RESULTS.md.
#
#   bench/compare.sh            # 3 runs of 3 s per measurement
#   RUNS=1 DURATION=2 bench/compare.sh   # a quick look
#   BASELINE=main~3 bench/compare.sh      # also nox-bench built at that git
#                                         # revision, in the same runs
#
# Installs what it needs with apt-get (nginx-light, wrk, python3-aiohttp,
# time, curl). Every server it starts is stopped by PID on exit.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${NOX_BENCH_BUILD:-$root/build-bench}
runs=${RUNS:-3}
dur=${DURATION:-3}
results_md=${RESULTS_MD:-$here/RESULTS.md}
py=/usr/bin/python3

log() { printf '== %s\n' "$*" >&2; }

install_deps() {
  local need=() p
  command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
  for p in wrk python3-aiohttp time curl cmake pkg-config build-essential \
           libuv1-dev libcurl4-openssl-dev libyajl-dev libarchive-dev \
           libmicrohttpd-dev; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
  done
  [ "${#need[@]}" -eq 0 ] && return 0
  log "installing ${need[*]}"
  local sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${need[@]}"
}

free_port() {
  "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

work=
nginx_pid=
noxd_pid=
stop_pid() {
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop_pid "$nginx_pid"
  nginx_pid=
  stop_pid "$noxd_pid"
  noxd_pid=
  if [ -n "$base_tree" ]; then
    git -C "$root" worktree remove --force "$base_tree" >/dev/null 2>&1 || true
    base_tree=
  fi
  [ -n "$work" ] && rm -rf "$work"
}
trap cleanup EXIT

# Waits (at most 10 s) for URL/healthz to answer 200.
wait_healthy() {
  local url=$1 i
  for i in $(seq 1 100); do
    curl -sf -o /dev/null "$url/healthz" && return 0
    sleep 0.1
  done
  echo "compare.sh: $url did not come up" >&2
  return 1
}

# CPU clock ticks (user + system) a process has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# One measurement. Appends a line to $work/results.tsv:
#   backend scenario conc client run count errors rps cpu_us_per_req rss_kib server_us_per_req
record() {
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$work/results.tsv"
}

server_pid=
server_us() { # ticks_before count
  local after
  after=$(cpu_ticks "$server_pid")
  "$py" -c "import sys; t=($after-$1)/$(getconf CLK_TCK); n=max($2,1); print(round(t*1e6/n, 1))"
}

run_wrk() { # backend scenario conc run url
  local backend=$1 scen=$2 conc=$3 run=$4 url=$5 o="$work/wrk.out" t="$work/time.out" s0
  s0=$(cpu_ticks "$server_pid")
  /usr/bin/time -f '%U %S %M' -o "$t" \
    wrk -t1 -c"$conc" -d"${dur}s" -s "$here/wrk-exec.lua" "$url" >"$o"
  local count rps errs u s m
  count=$(awk '/requests in/ {print $1}' "$o")
  rps=$(awk '/Requests\/sec/ {print $2}' "$o")
  errs=$(awk '/Non-2xx/ {n+=$NF} /Socket errors/ {gsub(",",""); n+=$4+$6+$8+$10} END {print n+0}' "$o")
  read -r u s m <"$t"
  record "$backend" "$scen" "$conc" wrk "$run" "$count" "$errs" "$rps" \
    "$("$py" -c "print(round(($u+$s)*1e6/max($count,1),1))")" "$m" "$(server_us "$s0" "$count")"
}

run_nox() { # backend scenario conc run base_url [nox-bench args...]
  run_nox_bin "$build/bin/nox-bench" nox-bench "$@"
}

# With BASELINE set: the same measurement with the baseline's nox-bench.
run_base() {
  [ -n "$base_bin" ] || return 0
  run_nox_bin "$base_bin" "nox-bench@$base_name" "$@"
}

run_nox_bin() { # binary client backend scenario conc run base_url [args...]
  local bin=$1 client=$2
  shift 2
  local backend=$1 scen=$2 conc=$3 run=$4 base=$5 j="$work/nox.json" s0
  shift 5
  s0=$(cpu_ticks "$server_pid")
  # Failed requests are data here (recorded in the errors column), not a
  # reason to stop the comparison.
  "$bin" --base-url "$base" --concurrency "$conc" \
    --allow-errors --json "$j" "$@" >"$work/nox.out"
  local line
  line=$("$py" - "$j" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(d["requests"], d["errors"], round(d["requests"] / d["wall_s"], 1),
      d["cpu_us_per_request"], d["peak_rss_kib"])
PY
)
  set -- $line
  record "$backend" "$scen" "$conc" "$client" "$run" "$1" "$2" "$3" "$4" "$5" \
    "$(server_us "$s0" "$1")"
}

run_py() { # backend scenario conc run base_url id
  local backend=$1 scen=$2 conc=$3 run=$4 base=$5 id=$6 s0
  s0=$(cpu_ticks "$server_pid")
  "$py" "$here/aiohttp_client.py" --base-url "$base" --id "$id" \
    --concurrency "$conc" --duration "$dur" >"$work/py.json"
  local line
  line=$("$py" - "$work/py.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(d["count"], d["errors"], d["rps"],
      round(d["cpu_s"] * 1e6 / max(d["count"], 1), 1), d["peak_rss_kib"])
PY
)
  set -- $line
  record "$backend" "$scen" "$conc" aiohttp "$run" "$1" "$2" "$3" "$4" "$5" \
    "$(server_us "$s0" "$1")"
}

# ---- setup -----------------------------------------------------------------

install_deps
log "building nox-bench and noxd (Release) in $build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DNOX_BUILD_TESTS=OFF \
  -DNOX_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" -j2 --target nox-bench noxd >/dev/null

work=$(mktemp -d /tmp/nox-compare-XXXXXX)

# The baseline: nox-bench built at another revision, in a detached worktree
# of its own (removed on exit), measured beside this tree's in every run.
base_bin=
base_name=
base_tree=
if [ -n "${BASELINE:-}" ]; then
  base_name=$(git -C "$root" rev-parse --short "$BASELINE")
  base_tree="$work/baseline-src"
  git -C "$root" worktree add --detach "$base_tree" "$BASELINE" >/dev/null 2>&1
  log "building the baseline nox-bench ($BASELINE = $base_name)"
  cmake -S "$base_tree" -B "$work/baseline-build" -DCMAKE_BUILD_TYPE=Release \
    -DNOX_BUILD_TESTS=OFF -DNOX_BUILD_EXAMPLES=OFF >/dev/null
  cmake --build "$work/baseline-build" -j2 --target nox-bench >/dev/null
  base_bin="$work/baseline-build/bin/nox-bench"
  echo "baseline: $BASELINE ($base_name)" >"$work/baseline.txt"
fi
chmod 755 "$work"
mkdir -p "$work/canned" "$work/body" "$work/noxd-root"
: >"$work/results.tsv"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# Canned answers: a 1 MiB-stdout exec and an 8 MiB tar.gz to download.
"$py" -c 'import json; print(json.dumps({"exitCode": 0, "stdout": "0123456789abcdef" * 65536, "stderr": "", "durationMs": 1}))' \
  >"$work/canned/exec-1m.json"
head -c 8388608 /dev/urandom >"$work/payload.bin"
tar -czf "$work/canned/download.tar.gz" -C "$work" payload.bin
rm "$work/payload.bin"
chmod -R a+rX "$work/canned"

port=$(free_port)
sed -e "s#@RUN@#$work#g; s#@DIR@#$work/canned#g; s#@PORT@#$port#g" \
  "$here/nginx-noxrunner.conf" >"$work/nginx.conf"
nginx -c "$work/nginx.conf" -p "$work" &
nginx_pid=$!
ngx="http://127.0.0.1:$port"
wait_healthy "$ngx"
# The worker does the serving; its CPU is what the server spent.
nginx_worker=$(cat "/proc/$nginx_pid/task/$nginx_pid/children" | awk '{print $1}')

"$build/bin/noxd" --listen 127.0.0.1:0 --root "$work/noxd-root" \
  --isolation "${NOXD_ISOLATION:-none}" >"$work/noxd.out" 2>/dev/null &
noxd_pid=$!
for i in $(seq 1 100); do
  grep -q "listening on" "$work/noxd.out" 2>/dev/null && break
  sleep 0.1
done
noxd=$(awk '/listening on/ {print $NF; exit}' "$work/noxd.out")
wait_healthy "$noxd"
curl -sf -o /dev/null -X PUT -d '{}' "$noxd/v1/sandboxes/cmp-0"

{
  echo "nproc: $(nproc)"
  echo "cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "kernel: $(uname -sr)"
  echo "loadavg_start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "nginx: $(nginx -v 2>&1 | sed 's/.*version: //')"
  echo "wrk: $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
  echo "aiohttp: $("$py" -c 'import aiohttp; print(aiohttp.__version__)')"
  echo "python: $("$py" -c 'import platform; print(platform.python_version())')"
  echo "libcurl: $(pkg-config --modversion libcurl)"
  echo "libuv: $(pkg-config --modversion libuv)"
  echo "runs: $runs"
  echo "duration_s: $dur"
} >"$work/machine.txt"

# ---- the runs ----------------------------------------------------------------

for run in $(seq 1 "$runs"); do
  log "run $run/$runs: nginx"
  server_pid=$nginx_worker
  for c in 1 64 512; do
    run_wrk nginx exec "$c" "$run" "$ngx/v1/sandboxes/cmp-0/exec"
    svg=()
    [ "$c" = 64 ] && svg=(--svg "$here/nox-bench-exec-c64.svg")
    run_nox nginx exec "$c" "$run" "$ngx" --scenario exec --duration "$dur" \
      "${svg[@]}"
    run_base nginx exec "$c" "$run" "$ngx" --scenario exec --duration "$dur"
    run_py nginx exec "$c" "$run" "$ngx" cmp-0
  done
  run_wrk nginx exec-1MiB 16 "$run" "$ngx/v1/sandboxes/big-0/exec"
  run_nox nginx exec-1MiB 16 "$run" "$ngx" --scenario exec --duration "$dur" \
    --id-prefix big
  run_base nginx exec-1MiB 16 "$run" "$ngx" --scenario exec --duration "$dur" \
    --id-prefix big
  run_py nginx exec-1MiB 16 "$run" "$ngx" big-0
  run_nox nginx exec-10k 10000 "$run" "$ngx" --scenario exec \
    --requests 30000 --max-connections 256

  log "run $run/$runs: noxd"
  server_pid=$noxd_pid
  for c in 1 64; do
    run_wrk noxd exec "$c" "$run" "$noxd/v1/sandboxes/cmp-0/exec"
    run_nox noxd exec "$c" "$run" "$noxd" --scenario exec --duration "$dur"
    run_base noxd exec "$c" "$run" "$noxd" --scenario exec --duration "$dur"
    run_py noxd exec "$c" "$run" "$noxd" cmp-0
  done
  run_nox noxd lifecycle 16 "$run" "$noxd" --scenario lifecycle \
    --duration "$dur"
done
echo "loadavg_end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$work/machine.txt"
[ -f "$work/baseline.txt" ] && cat "$work/baseline.txt" >>"$work/machine.txt"

log "writing $results_md"
"$py" "$here/summarize.py" "$work/results.tsv" "$work/machine.txt" \
  "$results_md"
cp "$work/results.tsv" "$here/results-raw.tsv"
