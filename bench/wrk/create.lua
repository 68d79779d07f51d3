-- POST one JSON record per request.
-- wrk -s create.lua URL -- PATH TOKEN SUPPLIER   (TOKEN "-" sends no Authorization header)
local statuses = {"open", "closed", "draft"}
local counter = 0

function init(args)
  path = args[1]
  supplier = args[3]
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if args[2] ~= "-" then
    wrk.headers["Authorization"] = "Bearer " .. args[2]
  end
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"name":"wrk item %d","status":"%s","amount":%d.%02d,"due":"2026-%02d-%02d",'
      .. '"note":"created under load","supplier":%s}',
    counter, statuses[counter % 3 + 1], counter % 100000, counter % 100,
    counter % 12 + 1, counter % 28 + 1, supplier)
  return wrk.format(nil, path, nil, body)
end
