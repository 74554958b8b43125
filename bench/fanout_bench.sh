#!/bin/bash
# fanout_bench.sh: fan-out benchmark, bourse vs nginx + nchan, side by side in one run.
#
# usage: bench/fanout_bench.sh [build-dir] [runs]
#
# The same N WebSocket subscribers (bourse-load -s subscribe), spread over K channels
# (--spread K: subscriber i on channel i % K, N/K each), and the same publish rate per
# channel (bourse-load's built-in publisher, HTTP/1.1 keep-alive, pipelined: R
# publications/s on each channel, R x K in all, channel k's staggered between the others')
# against:
#   (a) bourse, K > 1: the script's own config, conf/bourse.conf plus K public markets
#       FAN0..FAN{K-1}; subscribers subscribe to FAN<k>@trades (no login) and the publisher
#       POSTs {"channel":"FAN<k>@trades","data":{"t":…}} to /v1/publish on the admin port:
#       public channels go through the broadcast thread, the real market-data path.
#       K = 1 (the worst case, one channel that every subscriber follows): every subscriber
#       logs in as one uid U and subscribes to @account, the publisher posts to U@account,
#       so each publication reaches all N sessions (the private-channel fan-out path).
#   (b) nginx with nchan (Debian's libnginx-mod-nchan): WebSocket subscribers on
#       /sub?id=benchR-<k>, HTTP publisher on /pub?id=benchR-<k>; subscribers get the
#       published bodies (--raw).
# Every subscriber receives R messages/s whatever K, so delivered msg/s = N x R.
# Latency is receive time minus the publisher's stamp (the publication's intended time),
# identical for both. Each run alternates the two servers; medians over the runs.
#
# Environment knobs (defaults in brackets):
#   FANOUT_SUBSCRIBERS [10000]  FANOUT_RATE [20] publications/s per channel
#   FANOUT_CHANNELS [100]       K channels (N % K == 0; bourse: K <= 253 markets besides the 3
#                               bundled); 1 = one channel for every subscriber, as above
#   FANOUT_DURATION [5] s       FANOUT_WARMUP [2] s   FANOUT_THREADS [2] load threads
#   FANOUT_BUSY_POLL [50] us    bourse-load --busy-poll for both servers' runs: load threads
#                               poll this long before sleeping, so the server does not pay
#                               to wake them per message
#   FANOUT_WORKERS [1]          bourse io threads = nginx worker processes
#   FANOUT_SWEEP ["1 2 3 4 5 7 10"] extra rates per channel: the highest rate each server sustains
#                               with p99 <= FANOUT_P99_MS [5] and no loss ("capacity")
#   FANOUT_NO_INSTALL=1         never apt-get install nginx/nchan (skip the peer if missing)
#   FANOUT_NO_FLOOR=1           skip the kernel floor (BUILD/bench/tcp_fanout_bench) run first
# Needs: python3 (JSON), and a hard open-file limit above N + a few hundred (ulimit -Hn).
set -uo pipefail

BUILD=${1:-build}
RUNS=${2:-3}
N=${FANOUT_SUBSCRIBERS:-10000}
RATE=${FANOUT_RATE:-20}
K=${FANOUT_CHANNELS:-100}
BUSY_POLL=${FANOUT_BUSY_POLL:-50}
DUR=${FANOUT_DURATION:-5}
WARMUP=${FANOUT_WARMUP:-2}
THREADS=${FANOUT_THREADS:-2}
WORKERS=${FANOUT_WORKERS:-1}
SWEEP=${FANOUT_SWEEP-1 2 3 4 5 7 10}
P99_MS=${FANOUT_P99_MS:-5}
LOAD="$BUILD/bourse-load"
SERVER="$BUILD/bourse"
SRC=$(cd "$(dirname "$0")/.." && pwd)
SECRET="fanout-bench-secret-0123456789abcdef"
TOKEN="fanout-bench-admin-token-0123456789abcdef"
UID_ALL=424242

[ -x "$LOAD" ] && [ -x "$SERVER" ] || { echo "build $BUILD first (bourse, bourse-load)" >&2; exit 2; }
if ! [ "$K" -ge 1 ] 2>/dev/null || [ "$K" -gt 253 ] || [ $((N % K)) != 0 ]; then
  echo "FANOUT_CHANNELS=$K: 1 .. 253, dividing FANOUT_SUBSCRIBERS=$N evenly" >&2
  exit 2
fi
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((N + 300)) ]; then
  echo "open-file limit $(ulimit -n) is below $N subscribers + 300: lower FANOUT_SUBSCRIBERS" >&2
  exit 2
fi

# --- the peer: install nginx + nchan only when missing, non-interactive ---------------------
NCHAN_SO=/usr/lib/nginx/modules/ngx_nchan_module.so
if ! command -v nginx >/dev/null || [ ! -f "$NCHAN_SO" ]; then
  if [ -z "${FANOUT_NO_INSTALL:-}" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing nginx-light and libnginx-mod-nchan (Debian packages)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      nginx-light libnginx-mod-nchan >/dev/null
  fi
fi
HAVE_NCHAN=0
command -v nginx >/dev/null && [ -f "$NCHAN_SO" ] && HAVE_NCHAN=1

TMP=$(mktemp -d /tmp/fanout-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() { # port: until something accepts there (10 s)
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2
  return 1
}

# --- bourse -------------------------------------------------------------------------------
B_PORT=$(free_port)
B_ADMIN=$(free_port)
mkdir -p "$TMP/bourse"
B_CONF="$SRC/conf/bourse.conf"
if [ "$K" -gt 1 ]; then # K public markets like BTCUSDT: FAN<k>@trades is channel k
  B_CONF="$TMP/bourse/bourse.conf"
  cp "$SRC/conf/bourse.conf" "$B_CONF"
  for k in $(seq 0 $((K - 1))); do
    printf '\n[market.FAN%d]\nbase = BTC\nquote = USDT\ntick = 0.01\nlot = 0.00001\n%s\n' "$k" \
      'min_notional = 5
maker_fee = 1000
taker_fee = 2000
price_band_pct = 0
engine = 0' >>"$B_CONF"
  done
fi
BOURSE_NET_BIND=127.0.0.1 BOURSE_NET_PORT=$B_PORT BOURSE_ADMIN_PORT=$B_ADMIN \
  BOURSE_NET_IO_THREADS=$WORKERS BOURSE_NET_MAX_CONNECTIONS=$((N + 1000)) \
  BOURSE_SERVER_DATA_DIR="$TMP/bourse/data" BOURSE_LOG_FILE="$TMP/bourse/log" \
  BOURSE_AUTH_JWT_SECRET=$SECRET BOURSE_ADMIN_TOKEN=$TOKEN \
  BOURSE_LIMITS_REQUESTS_PER_S=1000000 BOURSE_LIMITS_BURST=1000000 \
  "$SERVER" --config "$B_CONF" >"$TMP/bourse/out" 2>&1 &
B_PID=$!
PIDS+=("$B_PID")
wait_port "$B_PORT"

# --- nginx + nchan: a minimal config in a temp prefix, foreground ---------------------------
N_PORT=$(free_port)
if [ "$HAVE_NCHAN" = 1 ]; then
  mkdir -p "$TMP/nginx/tmp"
  cat >"$TMP/nginx/nginx.conf" <<EOF
load_module $NCHAN_SO;
worker_processes $WORKERS;
worker_rlimit_nofile $((N + 2000));
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections $((N + 1000)); }
http {
  access_log off;
  # the publisher keeps one connection: nginx closes it after 1000 requests by default
  keepalive_requests 100000000;
  keepalive_timeout 600s;
  client_body_temp_path $TMP/nginx/tmp;
  proxy_temp_path $TMP/nginx/tmp;
  fastcgi_temp_path $TMP/nginx/tmp;
  uwsgi_temp_path $TMP/nginx/tmp;
  scgi_temp_path $TMP/nginx/tmp;
  server {
    listen 127.0.0.1:$N_PORT backlog=4096;
    # channels per run (?id=benchR-k), so a new run does not replay the last one's messages
    location = /sub { nchan_subscriber websocket; nchan_channel_id \$arg_id; }
    location = /pub { nchan_publisher http; nchan_channel_id \$arg_id; }
  }
}
EOF
  nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" >"$TMP/nginx/out" 2>&1 &
  N_PID=$!
  PIDS+=("$N_PID")
  wait_port "$N_PORT"
fi

# --- one measurement: prints a JSON line (or nothing) ---------------------------------------
COMMON=(-s subscribe -c "$N" -t "$THREADS" -d "$DUR" -w "$WARMUP" --drain 2 --connect-timeout 30
  --source-ips 127.0.0.2-127.0.0.5 --spread "$K" --busy-poll "$BUSY_POLL" --json)

# CPU seconds (user + system) used so far by a process and its children processes (nginx's
# workers), from /proc: the server's own cost of a run, whatever the load tool costs.
proc_cpu() { # pid
  local tck total=0 p
  tck=$(getconf CLK_TCK)
  for p in "$1" $(pgrep -P "$1"); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  python3 -c "print($total / $tck)"
}

# run_measured name pid rate [run-id]: one run, its JSON line, then "SERVERCPU seconds"
run_measured() {
  local c0 c1
  c0=$(proc_cpu "$2")
  "run_$1" "${@:3}"
  c1=$(proc_cpu "$2")
  echo "SERVERCPU $(python3 -c "print($c1 - $c0)")"
}

run_bourse() { # rate
  if [ "$K" = 1 ]; then # one private channel, every subscriber logged in as one uid
    "$LOAD" "${COMMON[@]}" --channels @account --uid $UID_ALL --jwt-secret $SECRET \
      --publish-rate "$1" --admin-url "http://127.0.0.1:$B_ADMIN" --admin-token $TOKEN \
      "ws://127.0.0.1:$B_PORT/ws" || true
  else # K public channels through the broadcast thread
    "$LOAD" "${COMMON[@]}" --channels 'FAN%k@trades' --publish-channel 'FAN%k@trades' \
      --publish-rate "$1" --admin-url "http://127.0.0.1:$B_ADMIN" --admin-token $TOKEN \
      "ws://127.0.0.1:$B_PORT/ws" || true
  fi
}

run_nchan() { # rate run-id
  "$LOAD" "${COMMON[@]}" --raw --publish-rate "$1" --admin-url "http://127.0.0.1:$N_PORT" \
    --publish-path "/pub?id=bench$2-%k" "ws://127.0.0.1:$N_PORT/sub?id=bench$2-%k" || true
}

# summarise name rate: reads JSON lines on stdin, prints one line per run and the medians
SUMMARISE=$(cat <<'EOF'
import json, statistics, sys
name, rate = sys.argv[1], float(sys.argv[2])
rows = []
for line in sys.stdin:
    line = line.strip()
    if line.startswith("SERVERCPU") and rows:
        # server CPU per message it delivered, whole run (connections, warmup and drain too)
        total = rows[-1][6]
        cpu_us = float(line.split()[1]) * 1e6 / total if total else float("nan")
        rows[-1] = rows[-1][:7] + (cpu_us,)
        print(f"  {'':6} server CPU {float(line.split()[1]):.2f} s for {total} messages delivered"
              f" in the whole run: {cpu_us:.2f} us per message", flush=True)
        continue
    if not line.startswith("{"):
        continue
    j = json.loads(line)
    s = j["subscribe"]
    lat = j["latency_us"]
    p = s["publish"] or {}
    pub_ok = bool(p) and p["failed"] == 0 and p["unanswered"] == 0 and not p["last_error"]
    want = s["expected"] or 0
    if not pub_ok:  # what a working publisher would have brought: every subscriber, rate/s
        want = max(want, int(rate * j["measured_s"] * j["options"]["connections"]))
    missing = max(0, want - s["delivered"])
    rows.append((s["delivered_per_s"], lat["p50"], lat["p99"], lat["max"], missing,
                 j["connections"]["opened"], s["delivered_total"], float("nan")))
    print(f"  {name:6} rate {rate:6.0f}/s x {s['spread']} ch  opened {rows[-1][5]:6d}  delivered {s['delivered_per_s']:10.0f} msg/s"
          f"  p50 {lat['p50']/1000:8.2f} ms  p99 {lat['p99']/1000:8.2f} ms  max {lat['max']/1000:8.2f} ms"
          f"  missing {missing}" + ("" if pub_ok else f"  PUBLISH FAILED: {p.get('last_error')}"),
          flush=True)
if rows:
    med = [statistics.median(r[i] for r in rows) for i in range(5)]
    cpu = statistics.median(r[7] for r in rows)
    print(f"MEDIAN {name} {rate:.0f} {med[0]:.1f} {med[1]:.1f} {med[2]:.1f} {med[3]:.1f} {med[4]:.0f} {cpu:.3f}")
EOF
)
summarise() { python3 -c "$SUMMARISE" "$@"; }

echo "fan-out: $N subscribers over $K channels ($((N / K)) each; bourse:" \
  "$([ "$K" = 1 ] && echo "one private channel U@account" || echo "public FAN<k>@trades")), $RUNS runs" \
  "of ${DUR}s (+${WARMUP}s warmup), load threads $THREADS, --busy-poll $BUSY_POLL," \
  "bourse io threads = nginx workers = $WORKERS; nchan: $([ "$HAVE_NCHAN" = 1 ] && nginx -v 2>&1 || echo missing)"
# The floor under both servers, measured in the same run: the kernel's own loopback TCP
# path with no server logic (bench/tcp_fanout_bench.c): one message to all N at once, and
# flat-out messages/s with the CPU each side pays per message.
FLOOR="$BUILD/bench/tcp_fanout_bench"
if [ -x "$FLOOR" ] && [ -z "${FANOUT_NO_FLOOR:-}" ]; then
  "$FLOOR" "$N" 3 11 | sed 's/^/  floor: /'
fi
RESULTS="$TMP/results"
: >"$RESULTS"
measure() { # rate
  local rate=$1 b="" n=""
  for r in $(seq "$RUNS"); do
    b+=$(run_measured bourse "$B_PID" "$rate")$'\n'
    [ "$HAVE_NCHAN" = 1 ] && n+=$(run_measured nchan "$N_PID" "$rate" "$rate-$r")$'\n'
  done
  printf '%s' "$b" | summarise bourse "$rate" | tee -a "$RESULTS" | grep -v '^MEDIAN'
  [ "$HAVE_NCHAN" = 1 ] && printf '%s' "$n" | summarise nchan "$rate" | tee -a "$RESULTS" |
    grep -v '^MEDIAN'
  return 0
}

for rate in $RATE $SWEEP; do measure "$rate"; done

python3 - "$RESULTS" "$RATE" "$P99_MS" "$N" "$K" <<'EOF'
import sys
path, rate, p99_ms, n, k = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
med = {}
for line in open(path):
    if line.startswith("MEDIAN"):
        _, name, r, per_s, p50, p99, mx, missing, cpu = line.split()
        med.setdefault(name, {})[float(r)] = (float(per_s), float(p50), float(p99), float(mx),
                                              int(missing), float(cpu))
print(f"\nmedians at {rate:.0f} publications/s per channel x {k} channels, {n} subscribers "
      f"({n // k} per channel):")
for name, by_rate in med.items():
    if rate in by_rate:
        per_s, p50, p99, mx, missing, _ = by_rate[rate]
        ok = "meets" if p99 <= p99_ms * 1000 and missing == 0 else "misses"
        print(f"  {name:6} {per_s:10.0f} msg/s  p50 {p50/1000:.2f} ms  p99 {p99/1000:.2f} ms"
              f"  max {mx/1000:.2f} ms  missing {missing}  ({ok} p99 <= {p99_ms:g} ms)")
if "bourse" in med and "nchan" in med and rate in med["nchan"] and rate in med["bourse"]:
    b, c = med["bourse"][rate], med["nchan"][rate]
    print(f"  ratio at this rate: delivered {b[0]/max(c[0],1):.2f}x, p99 bourse/nchan {b[2]/max(c[2],1):.2f}")
cap = {}
for name, by_rate in med.items():
    good = [r for r, v in by_rate.items() if v[2] <= p99_ms * 1000 and v[4] == 0]
    cap[name] = max(good) if good else None
    best = f"{by_rate[cap[name]][0]:.0f} msg/s at {cap[name]:.0f}/s" if cap[name] else "none"
    print(f"capacity {name:6} (highest tested rate per channel, {k} channels, with median p99 <= "
          f"{p99_ms:g} ms, no loss): {best}")
if cap.get("bourse") and cap.get("nchan"):
    print(f"capacity ratio bourse/nchan: {med['bourse'][cap['bourse']][0] / med['nchan'][cap['nchan']][0]:.2f}x"
          " (a lower bound when bourse met the target at the highest rate tested)")
# The server's own CPU per delivered message (median over the runs), rate by rate: what
# each server would need per message with the clients on other machines.
print("server CPU per delivered message (us, whole run, median):")
rates = sorted({r for by_rate in med.values() for r in by_rate})
for r in rates:
    cells = {name: by_rate[r][5] for name, by_rate in med.items() if r in by_rate}
    line = "  ".join(f"{name} {v:6.2f}" for name, v in cells.items())
    if cells.get("bourse") and cells.get("nchan"):
        line += f"  nchan/bourse {cells['nchan'] / cells['bourse']:.2f}x"
    print(f"  {r:4.0f}/s per channel: {line}")
EOF
