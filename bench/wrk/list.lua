-- GET one list page (the same filtered, sorted, counted query every time).
-- wrk -s list.lua URL -- PATH_WITH_QUERY TOKEN   (TOKEN "-" for none)
function init(args)
  wrk.path = args[1]
  if args[2] ~= "-" then
    wrk.headers["Authorization"] = "Bearer " .. args[2]
  end
end
