dofile(os.getenv("BENCH_SCRIPTS") .. "/common.lua")
request = function()
  local u = users[math.random(#users)]
  return wrk.format("GET", "/carts/" .. u.cart, { ["Authorization"] = "Bearer " .. u.token })
end
