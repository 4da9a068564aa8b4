#!/usr/bin/env bash
# The benchmark: builds the release binary, starts it on a fresh temp data dir, seeds
# 1,000 products and 1,000 users with carts, and drives each endpoint with wrk at 32 and 256
# connections. Prints requests/s, p50/p99/p99.9 latency, the ratio to /healthz measured in
# the same run, non-2xx counts, and the store's group-commit batch sizes and flush latency.
#
#   scripts/bench.sh            (DURATION=10s PRODUCTS=1000 USERS=1000 to change)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
PRODUCTS=${PRODUCTS:-1000}
USERS=${USERS:-1000}
CONNECTIONS=${CONNECTIONS:-"32 256"}

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)…" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk >/dev/null
fi

cargo build --release --quiet --bin trolley --example bench_seed

export BENCH_DIR=$(mktemp -d)
export BENCH_SCRIPTS=$PWD/scripts/bench
export TROLLEY_ADMIN_USERNAME=bench-admin TROLLEY_ADMIN_PASSWORD=bench-admin-password
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT
RUST_LOG=warn ./target/release/trolley --addr 127.0.0.1:$PORT --data-dir "$BENCH_DIR/data" \
  > "$BENCH_DIR/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$BENCH_DIR"' EXIT
for _ in $(seq 100); do curl -sf "$BASE/readyz" >/dev/null && break; sleep 0.1; done

echo "seeding $PRODUCTS products and $USERS users…" >&2
./target/release/examples/bench_seed "$BASE" "$BENCH_DIR" "$PRODUCTS" "$USERS" >&2

run() { # endpoint connections → "rps p50 p99 p999 non2xx errors"
  local out
  out=$(wrk -t2 -c"$2" -d"$DURATION" -s "$BENCH_SCRIPTS/$1.lua" "$BASE" | grep '^RESULT')
  awk '{ printf "%.0f %.2f %.2f %.2f %d %d\n", $2/($3/1e6), $4/1000, $5/1000, $6/1000, $7, $8 }' <<<"$out"
}

# Warm up: every cart and product actor live, caches hot.
wrk -t2 -c32 -d3s -s "$BENCH_SCRIPTS/cart.lua" "$BASE" >/dev/null
wrk -t2 -c32 -d3s -s "$BENCH_SCRIPTS/product.lua" "$BASE" >/dev/null

invalid=0
printf '%-26s %5s %10s %9s %9s %10s %7s %8s\n' endpoint conns req/s p50_ms p99_ms p99.9_ms ratio non2xx
for c in $CONNECTIONS; do
  read -r base_rps rest <<<"$(run healthz "$c")"
  printf '%-26s %5s %10s %9s %9s %10s %7s %8s\n' "GET /healthz" "$c" "$base_rps" $(cut -d' ' -f1-3 <<<"$rest") "1.00" "$(cut -d' ' -f4 <<<"$rest")"
  for ep in product cart add; do
    read -r rps p50 p99 p999 non2xx errors <<<"$(run "$ep" "$c")"
    case $ep in
      product) name="GET /products/{id}";;
      cart) name="GET /carts/{id}";;
      add) name="POST /carts/{id}/products";;
    esac
    ratio=$(awk -v a="$rps" -v b="$base_rps" 'BEGIN { printf "%.2f", a/b }')
    printf '%-26s %5s %10s %9s %9s %10s %7s %8s\n' "$name" "$c" "$rps" "$p50" "$p99" "$p999" "$ratio" "$non2xx"
    if [ "$non2xx" != 0 ] || [ "$errors" != 0 ]; then invalid=1; fi
  done
done

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
