#!/usr/bin/env bash
# Soak runs for bench/RESULTS.md: 1,000,000 small execs against a canned fast
# server (nginx answering exec with a fixed JSON body) and 100,000 against
# noxd (real processes), each reporting RSS and open fds over the first and
# last 10 % of the run. Needs a build in build/ (scripts/test.sh or cmake) and
# nginx (scripts/deps.sh installs nginx-light). Every server listens on
# 127.0.0.1 and is stopped by PID; both runs are bounded by count and time.
#   bench/soak.sh [EXECS_NGINX] [EXECS_NOXD]
set -euo pipefail
cd "$(dirname "$0")/.."
n_nginx=${1:-1000000}
n_noxd=${2:-100000}
bin=build/bin
work=$(mktemp -d /tmp/nox-soak-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/nginx.conf" <<CONF
daemon off; master_process off; worker_processes 1;
error_log $work/error.log; pid $work/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off; keepalive_requests 100000000;
  client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work;
  uwsgi_temp_path $work; scgi_temp_path $work;
  server {
    listen 127.0.0.1:$port;
    location ~ ^/v1/sandboxes/[^/]+/exec\$ {
      default_type application/json;
      return 200 '{"exitCode":0,"stdout":"ok","stderr":"","durationMs":1}';
    }
  }
}
CONF
nginx -p "$work" -c "$work/nginx.conf" &
pids+=($!)
sleep 0.5
echo "nginx canned exec, $n_nginx requests:"
"$bin/nox-soak" "http://127.0.0.1:$port" --requests "$n_nginx" --concurrency 64 --max-seconds 1200

mkdir -p "$work/root"
"$bin/noxd" --listen 127.0.0.1:0 --root "$work/root" --isolation none \
  >"$work/noxd.out" 2>/dev/null &
pids+=($!)
for _ in $(seq 50); do grep -q listening "$work/noxd.out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^noxd listening on //p' "$work/noxd.out" | head -n 1)
echo "noxd (exec of true, isolation none), $n_noxd requests:"
"$bin/nox-soak" "$url" --requests "$n_noxd" --concurrency 32 --max-seconds 1800
