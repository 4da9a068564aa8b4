#!/usr/bin/env bash
# The benchmark: builds the release binary and the bare durable writer
# (examples/bare_writer.rs), starts both on fresh temp data dirs, seeds 1,000 products,
# 1,000 realistic carts (each adds from its own 10 products) and 1,000 carts each of exactly
# 1, 10 and 100 lines, and drives each endpoint with wrk at 32 and 256 connections. Prints
# requests/s, p50/p99/p99.9 latency, the ratio to /healthz and (add rows) to the bare writer on
# the same request bodies, all measured in the same run, non-2xx counts, and the store's
# group-commit batch sizes and flush latency.
#
# Last, add-to-cart with LISTENERS (300) clients on the public /products/stream against none,
# at the first CONNECTIONS value (examples/stream_listeners.rs holds them).
#
#   scripts/bench.sh            (DURATION=10s PRODUCTS=1000 USERS=1000 SIZED=1000 to change)
#   ONLY=listeners scripts/bench.sh     (just the listeners rows)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
PRODUCTS=${PRODUCTS:-1000}
USERS=${USERS:-1000}
SIZED=${SIZED:-1000}
CONNECTIONS=${CONNECTIONS:-"32 256"}
LISTENERS=${LISTENERS:-300}
ONLY=${ONLY:-}
# Another build to measure (e.g. a saved copy of an earlier one), instead of this tree's.
TROLLEY_BIN=${TROLLEY_BIN:-./target/release/trolley}

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)…" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk >/dev/null
fi

cargo build --release --quiet --bin trolley --example bench_seed --example bare_writer \
  --example stream_listeners

export BENCH_DIR=$(mktemp -d)
export BENCH_SCRIPTS=$PWD/scripts/bench
export TROLLEY_ADMIN_USERNAME=bench-admin TROLLEY_ADMIN_PASSWORD=bench-admin-password
# The seed registers every user from this one address.
export TROLLEY_MAX_REGISTRATIONS_PER_MINUTE=1000000
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port) BARE_PORT=$(free_port)
BASE=http://127.0.0.1:$PORT BARE=http://127.0.0.1:$BARE_PORT
RUST_LOG=warn "$TROLLEY_BIN" --addr 127.0.0.1:$PORT --data-dir "$BENCH_DIR/data" \
  > "$BENCH_DIR/server.log" 2>&1 &
SERVER=$!
./target/release/examples/bare_writer 127.0.0.1:$BARE_PORT "$BENCH_DIR/bare" > "$BENCH_DIR/bare.log" 2>&1 &
BARE_PID=$!
LISTENERS_PID=
trap 'kill $SERVER $BARE_PID $LISTENERS_PID 2>/dev/null; wait $SERVER $BARE_PID $LISTENERS_PID 2>/dev/null || true; rm -rf "$BENCH_DIR"' EXIT
for _ in $(seq 100); do curl -sf "$BASE/readyz" >/dev/null && curl -sf "$BARE/healthz" >/dev/null && break; sleep 0.1; done

echo "seeding $PRODUCTS products, $USERS realistic carts, $SIZED carts of 1, 10 and 100 lines…" >&2
RUST_BACKTRACE=0 ./target/release/examples/bench_seed "$BASE" "$BENCH_DIR" "$PRODUCTS" "$USERS" "$SIZED" >&2

run() { # script connections [base] → "rps p50 p99 p999 non2xx errors"
  local out
  out=$(wrk -t2 -c"$2" -d"$DURATION" -s "$BENCH_SCRIPTS/$1.lua" "${3:-$BASE}" | grep '^RESULT')
  awk '{ printf "%.0f %.2f %.2f %.2f %d %d\n", $2/($3/1e6), $4/1000, $5/1000, $6/1000, $7, $8 }' <<<"$out"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a/b }'; }
FMT='%-34s %5s %8s %8s %8s %9s %8s %7s %9s %7s\n'
row() { # name conns rps p50 p99 p999 non2xx errors
  local name=$1 c=$2 rps=$3 p50=$4 p99=$5 p999=$6 non2xx=$7 errors=$8 by_bare=- p99_by_bare=-
  case $name in
    POST*) by_bare=$(ratio "$rps" "$bare_rps"); p99_by_bare=$(ratio "$p99" "$bare_p99");;
  esac
  printf "$FMT" "$name" "$c" "$rps" "$p50" "$p99" "$p999" "$(ratio "$rps" "$base_rps")" "$by_bare" "$p99_by_bare" "$non2xx"
  if [ "$non2xx" != 0 ] || [ "$errors" != 0 ]; then invalid=1; fi
}

# Warm up: every cart and product actor live, caches hot.
for carts in users.txt sized-1.txt sized-10.txt sized-100.txt; do
  CARTS=$carts wrk -t2 -c32 -d2s -s "$BENCH_SCRIPTS/cart.lua" "$BASE" >/dev/null
done
wrk -t2 -c32 -d3s -s "$BENCH_SCRIPTS/product.lua" "$BASE" >/dev/null
wrk -t2 -c32 -d2s -s "$BENCH_SCRIPTS/add.lua" "$BARE" >/dev/null

invalid=0
echo "load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
printf "$FMT" endpoint conns req/s p50_ms p99_ms p99.9_ms ÷healthz ÷bare p99÷bare non2xx
declare -A add_rps
[ "$ONLY" = listeners ] && CONNECTIONS_MAIN= || CONNECTIONS_MAIN=$CONNECTIONS
for c in $CONNECTIONS_MAIN; do
  read -r base_rps rest <<<"$(run healthz "$c")"
  row "GET /healthz" "$c" "$base_rps" $rest
  row "GET /products/{id}" "$c" $(run product "$c")
  row "GET /carts/{id}" "$c" $(run cart "$c")
  # The yardstick, right before the rows it divides.
  read -r bare_rps bare_p50 bare_p99 rest <<<"$(run add "$c" "$BARE")"
  row "bare durable writer (same bodies)" "$c" "$bare_rps" "$bare_p50" "$bare_p99" $rest
  row "POST /carts/{id}/products (own 10)" "$c" $(run add "$c")
  for size in 1 10 100; do
    read -r rps rest <<<"$(CARTS=sized-$size.txt run add "$c")"
    add_rps[$size]=$rps
    row "POST …/products, $size-line carts" "$c" "$rps" $rest
  done
  echo "  add to a 100-line cart ÷ add to a 1-line cart at $c conns: $(ratio "${add_rps[100]}" "${add_rps[1]}")"
done

# Listeners on the public stock stream: each should cost a cursor and a socket, not work per
# page (target: add throughput with them ≥ 0.9 × without).
c=${CONNECTIONS%% *}
listeners_row() { # name conns rps p50 p99 p999 non2xx errors (no ÷healthz, ÷bare columns)
  printf "$FMT" "$1" "$2" "$3" "$4" "$5" "$6" - - - "$7"
  if [ "$7" != 0 ] || [ "$8" != 0 ]; then invalid=1; fi
}
read -r quiet_rps rest <<<"$(run add "$c")"
listeners_row "POST …/products (own 10), 0 listen" "$c" "$quiet_rps" $rest
./target/release/examples/stream_listeners "127.0.0.1:$PORT" "$LISTENERS" > "$BENCH_DIR/listeners.log" 2>&1 &
LISTENERS_PID=$!
for _ in $(seq 300); do grep -q '^ready' "$BENCH_DIR/listeners.log" && break; sleep 0.1; done
grep -q '^ready' "$BENCH_DIR/listeners.log" || { cat "$BENCH_DIR/listeners.log"; exit 1; }
read -r loud_rps rest <<<"$(run add "$c")"
listeners_row "POST …/products, $LISTENERS listening" "$c" "$loud_rps" $rest
kill -TERM $LISTENERS_PID; wait $LISTENERS_PID || true; LISTENERS_PID=
echo "  add with $LISTENERS stream listeners ÷ without at $c conns: $(ratio "$loud_rps" "$quiet_rps"), listeners read $(awk '/^bytes/ { print $2 }' "$BENCH_DIR/listeners.log") bytes"
echo "load after the run: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "group commit (whole run, from /metrics):"
# Histograms: the mean from _sum/_count, and the bucket counts (cumulative, `le` = upper bound).
curl -s "$BASE/metrics" | awk '
  /^trolley_store_(batch_units|flush_seconds)_(sum|count) / { v[$1] = $2 }
  /^trolley_store_(batch_units|flush_seconds)_bucket/ { print "  " $0 }
  END {
    for (m in v) if (m ~ /_count$/) { b = m; sub(/_count$/, "", b);
      if (v[m] > 0) printf "  %s mean %g over %d\n", b, v[b "_sum"] / v[m], v[m] }
  }'
if [ "$invalid" = 1 ]; then
  echo "INVALID RUN: unexpected non-2xx responses or socket errors (see above)" >&2
  exit 1
fi
