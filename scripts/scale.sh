#!/usr/bin/env bash
# The scale run: 1,000,000 products and 1,000,000 carts stored (written directly by
# examples/scale_seed), then start-up time, RSS after start, RSS with 100,000 live carts, and
# add-to-cart throughput (32 connections, random carts and products) at that size; then adds
# to the $TOUCH live (hot) carts and to the others (cold, each add starts its cart's actor) in
# the same run, and a cold-start storm: $STORM carts read by 256 connections right after a
# restart.
#
#   scripts/scale.sh            (PRODUCTS=1000000 CARTS=1000000 TOUCH=100000 DURATION=10s
#                                STORM=10000; SKIP_BUILD=1 with TROLLEY_BIN and SEED_BIN to
#                                measure saved builds)
set -euo pipefail
cd "$(dirname "$0")/.."
PRODUCTS=${PRODUCTS:-1000000}
CARTS=${CARTS:-1000000}
export TOUCH=${TOUCH:-100000}
DURATION=${DURATION:-10s}
TROLLEY_BIN=${TROLLEY_BIN:-./target/release/trolley}
SEED_BIN=${SEED_BIN:-./target/release/examples/scale_seed}
export STORM=${STORM:-10000}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
[ -n "${SKIP_BUILD:-}" ] || cargo build --release --quiet --bin trolley --example scale_seed

export BENCH_DIR=$(mktemp -d) BENCH_SCRIPTS=$PWD/scripts/bench
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true; rm -rf "$BENCH_DIR"' EXIT
SERVER=
"$SEED_BIN" "$BENCH_DIR/data" "$BENCH_DIR" "$PRODUCTS" "$CARTS"
du -sh "$BENCH_DIR/data" | sed 's/^/store on disk: /'

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT
serve() {
  RUST_LOG=warn "$TROLLEY_BIN" --addr 127.0.0.1:$PORT --data-dir "$BENCH_DIR/data" \
    >> "$BENCH_DIR/server.log" 2>&1 &
  SERVER=$!
  until curl -sf "$BASE/readyz" >/dev/null; do sleep 0.01; done
}
start=$(date +%s.%N)
serve
ready=$(date +%s.%N)
rss() { awk '/VmRSS/ { printf "%.0f MiB", $2/1024 }' /proc/$SERVER/status; }
echo "start-up until /readyz: $(awk -v a="$start" -v b="$ready" 'BEGIN { printf "%.2f s", b-a }')"
echo "RSS after start: $(rss)"

read -r user password < "$BENCH_DIR/user.txt"
export SCALE_TOKEN=$(curl -sf -XPOST "$BASE/login" -H 'content-type: application/json' \
  -d "{\"username\":\"$user\",\"password\":\"$password\"}" | sed 's/.*"token":"\([0-9a-f]*\)".*/\1/')

# Touch $TOUCH distinct carts so each has a live actor.
wrk -t2 -c32 -d60s -s "$BENCH_SCRIPTS/touch.lua" "$BASE" >/dev/null &
WRK=$!
until [ "$(curl -sf "$BASE/readyz" | sed 's/.*"carts":\([0-9]*\).*/\1/')" -ge "$TOUCH" ]; do sleep 0.2; done
kill $WRK 2>/dev/null; wait $WRK 2>/dev/null || true
echo "RSS with $(curl -sf "$BASE/readyz" | sed 's/.*"carts":\([0-9]*\).*/\1/') live carts: $(rss)"

row() { awk -v what="$1" '{ printf "%s: %.0f req/s, p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, non-2xx %d, socket errors %d\n", what, $2/($3/1e6), $4/1000, $5/1000, $6/1000, $7, $8 }'; }
add() { wrk -t2 -c32 -d"$DURATION" -s "$BENCH_SCRIPTS/scale_add.lua" "$BASE" | grep '^RESULT'; }
add | row "POST /carts/{id}/products at scale (32 conns)"
echo "RSS at the end: $(rss)"

# Hot: the carts touched above (live actors). Cold: the others (each add starts its cart).
hot=$(CART_FROM=1 CART_TO=$TOUCH add)
cold=$(CART_FROM=$((TOUCH + 1)) add)
row "add to hot carts (32 conns)" <<<"$hot"
row "add to cold carts (32 conns)" <<<"$cold"
awk -v h="${hot#RESULT }" -v c="${cold#RESULT }" 'BEGIN { split(h, a); split(c, b);
  printf "cold / hot: %.2f (target >= 0.5)\n", (b[1]/b[2]) / (a[1]/a[2]) }'

# The storm: restart, then read $STORM carts at once; each read starts its cart's actor.
kill $SERVER; wait $SERVER 2>/dev/null || true
serve
out=$(wrk -t2 -c256 -d60s -s "$BENCH_SCRIPTS/storm.lua" "$BASE" | grep -E '^(RESULT|STORM)' | tr '\n' ' ')
awk -v n="$STORM" '{ printf "cold-start storm: %d carts read by 256 conns right after a restart in %.2f s (%.0f reads/s), p50 %.2f ms, p99 %.2f ms, non-2xx %d, socket errors %d\n", n, $10, n/$10, $4/1000, $5/1000, $7, $8 }' <<<"$out"
