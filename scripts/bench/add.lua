dofile(os.getenv("BENCH_SCRIPTS") .. "/common.lua")
request = function()
  local u = users[math.random(#users)]
  local body = '{"product_id":' .. products[math.random(#products)] .. ',"quantity":1}'
  return wrk.format("POST", "/carts/" .. u.cart .. "/products", {
    ["Authorization"] = "Bearer " .. u.token,
    ["Content-Type"] = "application/json",
  }, body)
end
