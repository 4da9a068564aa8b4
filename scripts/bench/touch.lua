-- Visits each cart once, in order (split between wrk's threads), so every one gets a live actor.
local dir = os.getenv("BENCH_DIR")
carts = {}
for line in io.lines(dir .. "/carts.txt") do carts[#carts + 1] = line end
local token = os.getenv("SCALE_TOKEN")
local limit = tonumber(os.getenv("TOUCH") or "100000")
local counter = 0
local threads = {}

function setup(thread)
  thread:set("offset", #threads)
  table.insert(threads, thread)
end

function init(args)
  counter = offset
end

request = function()
  local i = (counter % limit) + 1
  counter = counter + 2
  return wrk.format("GET", "/carts/" .. carts[i], { ["Authorization"] = "Bearer " .. token })
end
