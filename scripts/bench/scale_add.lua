dofile(os.getenv("BENCH_SCRIPTS") .. "/common_scale.lua")
request = function()
  local body = '{"product_id":' .. products[math.random(#products)] .. ',"quantity":1}'
  return wrk.format("POST", "/carts/" .. carts[math.random(#carts)] .. "/products", {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, body)
end
