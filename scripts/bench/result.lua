-- Prints one machine-readable line for scripts/bench.sh and scripts/scale.sh:
-- RESULT requests duration_us p50_us p99_us p99.9_us non2xx socket_errors
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d %d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    e.status, e.connect + e.read + e.write + e.timeout))
end
