-- The scale run's data: every product and cart id, and the carts' owner's token.
local dir = os.getenv("BENCH_DIR")
products, carts = {}, {}
for line in io.lines(dir .. "/products.txt") do products[#products + 1] = line end
for line in io.lines(dir .. "/carts.txt") do carts[#carts + 1] = line end
token = os.getenv("SCALE_TOKEN")
math.randomseed(os.time() + math.floor(os.clock() * 1000000))

dofile(os.getenv("BENCH_SCRIPTS") .. "/result.lua")
