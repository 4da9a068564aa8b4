-- A cold-start storm: reads carts 1..STORM of carts.txt once each (split between wrk's two
-- threads), then stops; run right after a restart, every read starts its cart's actor.
-- wrk itself runs for its whole -d, so the storm's own length is timed here (wall clock
-- read at each thread's first request and last answer) and printed as STORM seconds.
dofile(os.getenv("BENCH_SCRIPTS") .. "/common_scale.lua")
local limit = tonumber(os.getenv("STORM") or "10000")
local counter, answered = 0, 0
local threads = {}

function setup(thread)
  thread:set("offset", #threads)
  table.insert(threads, thread)
end

local function now()
  local p = io.popen("date +%s.%N")
  local t = tonumber(p:read("*l"))
  p:close()
  return t
end

function init(args)
  counter = offset
  started_at = now()
end

request = function()
  local i = counter + 1
  counter = counter + 2
  if i > limit then
    return wrk.format("GET", "/healthz")
  end
  return wrk.format("GET", "/carts/" .. carts[i], { ["Authorization"] = "Bearer " .. token })
end

response = function(status, headers, body)
  answered = answered + 1
  if answered == limit / 2 then
    finished_at = now()
    wrk.thread:stop()
  end
end

local report = done
function done(summary, latency, requests)
  report(summary, latency, requests)
  local first, last = math.huge, 0
  for _, t in ipairs(threads) do
    first = math.min(first, t:get("started_at"))
    last = math.max(last, t:get("finished_at") or math.huge)
  end
  io.write(string.format("STORM %.3f\n", last - first))
end
