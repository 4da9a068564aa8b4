-- Shared by the benchmark's wrk scripts: loads the seeded ids and prints one RESULT line.
-- CARTS names the carts file (default users.txt): `token cart_id product…` per line, the
-- products being the cart's own (adds pick among them).
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
for _, line in ipairs(lines(os.getenv("CARTS") or "users.txt")) do
  local fields = {}
  for f in line:gmatch("%S+") do fields[#fields + 1] = f end
  local own = {}
  for i = 3, #fields do own[#own + 1] = fields[i] end
  users[#users + 1] = { token = fields[1], cart = fields[2], own = own }
end

math.randomseed(os.time() + math.floor(os.clock() * 1000000))

dofile(os.getenv("BENCH_SCRIPTS") .. "/result.lua")
