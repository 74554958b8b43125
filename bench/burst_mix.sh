#!/bin/bash
# burst_mix.sh: does order entry wait for market-data bursts? One io thread serves N
# subscribers of one channel (a publication reaches all N at once: the largest burst there
# is) and, at the same time, a few request/reply connections; prints the request latency and
# the fan-out's delivery.
#
# usage: bench/burst_mix.sh [build-dir] [runs]
#
# The subscribers: bourse-load -s subscribe, every one logged in as one uid and following
# @account, publications POSTed to U@account at BURST_RATE/s (each one N sends). The requests:
# bourse-load -s ping, BURST_PING_CONNS connections, BURST_PING_RATE pings/s in total, open
# loop (latency from each ping's intended send time), started once the subscribers are in.
# Environment: BURST_SUBSCRIBERS [10000] BURST_RATE [2] BURST_PING_CONNS [20]
#              BURST_PING_RATE [1000] BURST_DURATION [6] s of pings; BOURSE_BIN: another
#              server binary to measure with the same tools (a before/after comparison).
set -uo pipefail

BUILD=${1:-build}
RUNS=${2:-3}
N=${BURST_SUBSCRIBERS:-10000}
RATE=${BURST_RATE:-2}
PCONNS=${BURST_PING_CONNS:-20}
PRATE=${BURST_PING_RATE:-1000}
DUR=${BURST_DURATION:-6}
LOAD="$BUILD/bourse-load"
SERVER=${BOURSE_BIN:-$BUILD/bourse}
SRC=$(cd "$(dirname "$0")/.." && pwd)
SECRET="burst-bench-secret-0123456789abcdef0123"
TOKEN="burst-bench-admin-token-0123456789abcdef"

[ -x "$LOAD" ] && [ -x "$SERVER" ] || { echo "build $BUILD first (bourse, bourse-load)" >&2; exit 2; }
ulimit -n "$(ulimit -Hn)"
TMP=$(mktemp -d /tmp/burst-mix.XXXXXX)
trap 'kill "$SP" 2>/dev/null; wait "$SP" 2>/dev/null; rm -rf "$TMP"' EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
PORT=$(free_port)
ADMIN=$(free_port)
BOURSE_NET_BIND=127.0.0.1 BOURSE_NET_PORT=$PORT BOURSE_ADMIN_PORT=$ADMIN \
  BOURSE_NET_IO_THREADS=1 BOURSE_NET_MAX_CONNECTIONS=$((N + 1000)) \
  BOURSE_SERVER_DATA_DIR="$TMP/data" BOURSE_LOG_FILE="$TMP/log" \
  BOURSE_AUTH_JWT_SECRET=$SECRET BOURSE_ADMIN_TOKEN=$TOKEN \
  BOURSE_LIMITS_REQUESTS_PER_S=1000000 BOURSE_LIMITS_BURST=1000000 \
  "$SERVER" --config "$SRC/conf/bourse.conf" >"$TMP/out" 2>&1 &
SP=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done

echo "burst mix: $N subscribers of one channel, $RATE publications/s (each to all $N), and" \
  "$PCONNS connections pinging $PRATE/s on the same io thread; server $SERVER"
for r in $(seq "$RUNS"); do
  "$LOAD" -s subscribe -c "$N" -t 1 -d $((DUR + 2)) -w 2 --drain 2 --connect-timeout 30 \
    --source-ips 127.0.0.2-127.0.0.5 --channels @account --uid 424242 --jwt-secret $SECRET \
    --publish-rate "$RATE" --admin-url "http://127.0.0.1:$ADMIN" --admin-token $TOKEN \
    "ws://127.0.0.1:$PORT/ws" >"$TMP/fan" 2>&1 &
  FP=$!
  sleep 3 # the subscribers are connected and the publications running
  "$LOAD" -s ping -c "$PCONNS" -t 1 -d "$DUR" -w 1 --rate "$PRATE" --source-ips 127.0.0.6-127.0.0.6 \
    "ws://127.0.0.1:$PORT/ws" >"$TMP/ping" 2>&1
  wait "$FP"
  echo "run $r"
  grep -E "^  latency" "$TMP/ping" | sed 's/^  latency/  ping latency  /'
  grep -E "^  delivered|^  latency" "$TMP/fan" | sed 's/^  /  fan-out /'
done
