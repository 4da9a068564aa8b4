-- Shared by the benchmark's wrk scripts: loads the seeded ids and prints one RESULT line.
local dir = os.getenv("BENCH_DIR")

local function lines(name)
  local out = {}
  for line in io.lines(dir .. "/" .. name) do
    if #line > 0 then out[#out + 1] = line end
  end
  return out
end

products = lines("products.txt")
users = {}
for _, line in ipairs(lines("users.txt")) do
  local token, cart = line:match("^(%S+) (%S+)$")
  users[#users + 1] = { token = token, cart = cart }
end

math.randomseed(os.time() + math.floor(os.clock() * 1000000))

dofile(os.getenv("BENCH_SCRIPTS") .. "/result.lua")
