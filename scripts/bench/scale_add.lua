dofile(os.getenv("BENCH_SCRIPTS") .. "/common_scale.lua")
-- Carts CART_FROM..CART_TO of carts.txt (1-based; default: all): scale.sh's hot row takes
-- the carts it touched (live actors), its cold row the others.
local from = tonumber(os.getenv("CART_FROM") or "1")
local to = tonumber(os.getenv("CART_TO") or tostring(#carts))
request = function()
  local body = '{"product_id":' .. products[math.random(#products)] .. ',"quantity":1}'
  return wrk.format("POST", "/carts/" .. carts[math.random(from, to)] .. "/products", {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, body)
end
