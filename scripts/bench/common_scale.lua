-- The scale run's data: every product and cart id, and the carts' owner's token.
local dir = os.getenv("BENCH_DIR")
products, carts = {}, {}
for line in io.lines(dir .. "/products.txt") do products[#products + 1] = line end
for line in io.lines(dir .. "/carts.txt") do carts[#carts + 1] = line end
token = os.getenv("SCALE_TOKEN")
math.randomseed(os.time() + math.floor(os.clock() * 1000000))

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d %d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    e.status, e.connect + e.read + e.write + e.timeout))
end
