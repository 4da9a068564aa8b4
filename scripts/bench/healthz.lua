dofile(os.getenv("BENCH_SCRIPTS") .. "/common.lua")
request = function() return wrk.format("GET", "/healthz") end
