-- POST a JSON list of ROWS records per request (a batch create).
-- wrk -s batch.lua URL -- PATH TOKEN SUPPLIER ROWS   (TOKEN "-" for none)
local statuses = {"open", "closed", "draft"}

function init(args)
  wrk.path = args[1]
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if args[2] ~= "-" then
    wrk.headers["Authorization"] = "Bearer " .. args[2]
  end
  local rows = {}
  for i = 1, tonumber(args[4]) do
    rows[i] = string.format(
      '{"name":"batch item %d","status":"%s","amount":%d.%02d,"due":"2026-%02d-%02d",'
        .. '"note":"created in a batch","supplier":%s}',
      i, statuses[i % 3 + 1], i * 7 % 100000, i % 100, i % 12 + 1, i % 28 + 1, args[3])
  end
  wrk.body = "[" .. table.concat(rows, ",") .. "]"
end
