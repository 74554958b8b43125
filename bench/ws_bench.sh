#!/usr/bin/env bash
# WebSocket front-door benchmark: bourse's io thread against the npm `ws` package
# (Node.js's most used WebSocket server) as the baseline, same load generator, same
# machine, same run. Prints a table of medians; docs/BENCHMARKS.md quotes it.
#
#   bench/ws_bench.sh [build-dir] [runs]      (defaults: build, 3)
#
# Scenarios, each run `runs` times, 100 connections, one load thread (the other core
# is the server's):
#   ping k=1       native ping round trips, flat out, 1 in flight per connection
#   ping k=16      the same with 16 in flight (pipelining clients, e.g. market makers)
#   ping 50k/s     open loop at 50,000 msgs/s: latency without coordinated omission
#   message k=1/16 the generic text scenario ({"op":"ping","id":N}, expect "id":N)
#                  against bourse and against the ws echo server: the baseline ratio
#   idle 15000     15,000 idle WebSocket connections on a fresh server: RSS per connection
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
runs=${2:-3}
load="$build/bourse-load"
server="$build/bourse"
out=$(mktemp -d /tmp/bourse-ws-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true' EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_bourse() {
  port=$(free_port)
  BOURSE_NET_BIND=127.0.0.1 BOURSE_NET_PORT=$port BOURSE_ADMIN_PORT=$(free_port) \
    BOURSE_LIMITS_REQUESTS_PER_S=10000000 BOURSE_LIMITS_BURST=100000000 \
    BOURSE_LOG_FILE="$out/bourse.log" "$server" --config conf/bourse.conf >/dev/null 2>&1 &
  bourse_pid=$!
  for _ in $(seq 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then return; fi
    sleep 0.05
  done
  echo "bourse did not start" >&2
  exit 1
}

stop_bourse() { kill "$bourse_pid"; wait "$bourse_pid" || true; }

start_echo() {
  (cd bench/peers/ws-echo && { [ -d node_modules ] || npm ci --silent --no-audit --no-fund; })
  echo_port=$(free_port)
  node bench/peers/ws-echo/server.js "$echo_port" >/dev/null 2>&1 &
  echo_pid=$!
  for _ in $(seq 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/"$echo_port") 2>/dev/null; then return; fi
    sleep 0.05
  done
  echo "echo server did not start" >&2
  exit 1
}

run() { # name url args...
  local name=$1 url=$2
  shift 2
  for i in $(seq "$runs"); do
    "$load" --json -t 1 -c 100 -d 5 -w 1 "$@" "$url" >"$out/$name.$i.json" || true
  done
}

message=(-s message -m '{"op":"ping","id":{id}}' -e '"id":{id}')
start_bourse
run bourse_ping_k1 "ws://127.0.0.1:$port/ws" -s ping -k 1
run bourse_ping_k16 "ws://127.0.0.1:$port/ws" -s ping -k 16
run bourse_ping_50k "ws://127.0.0.1:$port/ws" -s ping -r 50000
run bourse_message_k1 "ws://127.0.0.1:$port/ws" "${message[@]}" -k 1
run bourse_message_k16 "ws://127.0.0.1:$port/ws" "${message[@]}" -k 16
stop_bourse
start_echo
run echo_message_k1 "ws://127.0.0.1:$echo_port/" "${message[@]}" -k 1
run echo_message_k16 "ws://127.0.0.1:$echo_port/" "${message[@]}" -k 16
kill "$echo_pid"
wait "$echo_pid" 2>/dev/null || true
for i in $(seq "$runs"); do
  start_bourse
  "$load" --json -t 1 -s connect -c 15000 -d 3 -w 0 --server-pid "$bourse_pid" \
    "ws://127.0.0.1:$port/ws" >"$out/bourse_idle15000.$i.json" || true
  stop_bourse
done

/usr/bin/python3 - "$out" "$runs" <<'PY'
import json, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
def load(name):
    rows = []
    for i in range(1, runs + 1):
        try:
            with open(f"{out}/{name}.{i}.json") as f:
                rows.append(json.load(f))
        except (OSError, ValueError):
            pass
    return rows
def med(rows, *path):
    vals = []
    for r in rows:
        v = r
        for p in path:
            v = v[p]
        vals.append(v)
    return statistics.median(vals) if vals else float("nan")
def errors(rows):
    return sum(r["errors"]["total"] + r["connections"]["failed"] for r in rows)
print(f"ws_bench: medians of {runs} runs, 100 connections, 5 s windows, load generator on 1 thread")
print(f"{'scenario':<26}{'round trips/s':>15}{'p50 us':>10}{'p99 us':>10}{'p99.9 us':>10}{'errors':>8}")
for name in ("bourse_ping_k1", "bourse_ping_k16", "bourse_ping_50k", "bourse_message_k1",
             "echo_message_k1", "bourse_message_k16", "echo_message_k16"):
    rows = load(name)
    print(f"{name:<26}{med(rows,'requests','throughput'):>15.0f}{med(rows,'latency_us','p50'):>10.1f}"
          f"{med(rows,'latency_us','p99'):>10.1f}{med(rows,'latency_us','p99_9'):>10.1f}{errors(rows):>8}")
for k in ("k1", "k16"):
    b, e = load(f"bourse_message_{k}"), load(f"echo_message_{k}")
    if b and e:
        print(f"ratio bourse / ws echo, message {k}: "
              f"{med(b,'requests','throughput') / med(e,'requests','throughput'):.2f}x throughput")
idle = load("bourse_idle15000")
if idle:
    print(f"idle 15000 connections: opened {med(idle,'connections','opened'):.0f}, "
          f"server RSS +{med(idle,'server_rss','delta_per_connection_bytes'):.0f} B per connection "
          f"(median; includes the io thread's receive buffers first touched by these connections)")
PY
