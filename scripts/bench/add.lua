-- Adds one unit of one of the cart's own products (so a cart never has more lines than it
-- has own products: 10 for users.txt, exactly N for sized-N.txt).
dofile(os.getenv("BENCH_SCRIPTS") .. "/common.lua")
request = function()
  local u = users[math.random(#users)]
  local body = '{"product_id":' .. u.own[math.random(#u.own)] .. ',"quantity":1}'
  return wrk.format("POST", "/carts/" .. u.cart .. "/products", {
    ["Authorization"] = "Bearer " .. u.token,
    ["Content-Type"] = "application/json",
  }, body)
end
