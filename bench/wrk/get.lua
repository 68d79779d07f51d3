-- GET one record by a random id in 1..MAX.
-- wrk -s get.lua URL -- PREFIX TOKEN MAX   (requests PREFIX .. id; TOKEN "-" for none)
function init(args)
  prefix = args[1]
  max_id = tonumber(args[3])
  if args[2] ~= "-" then
    wrk.headers["Authorization"] = "Bearer " .. args[2]
  end
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end

function request()
  return wrk.format("GET", prefix .. math.random(1, max_id))
end
