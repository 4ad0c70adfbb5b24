-- wrk script: POST a prediction (BODY from the environment, as post.lua) and append, for
-- each 2xx response, one line to TRACE.<thread>: the server's created_at, started_at and
-- completed_at, its metrics.batch_size, and the moment this client read the response
-- (all in Unix seconds, CLOCK_REALTIME, so they compare with the server's stamps on
-- the same machine). bench/batch_ab phases reads them.
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } pn_timespec;
  int clock_gettime(int clock, pn_timespec *ts);
]]
local now_ts = ffi.new("pn_timespec")
local function now()
  ffi.C.clock_gettime(0, now_ts)
  return tonumber(now_ts.tv_sec) + tonumber(now_ts.tv_nsec) * 1e-9
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BODY") or '{"input":{"text":"x"}}'

local counter = 0
function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
end

local out
function init(args)
  out = io.open(os.getenv("TRACE") .. "." .. tostring(index), "w")
end

local function stamp(body, name)
  local y, mo, d, h, mi, s = body:match('"' .. name .. '":"(%d+)-(%d+)-(%d+)T(%d+):(%d+):([%d.]+)')
  if not y then
    return nil
  end
  return os.time({year = y, month = mo, day = d, hour = h, min = mi, sec = 0, isdst = false}) + tonumber(s)
end

function response(status, headers, body)
  local received = now()
  if status < 200 or status > 299 then
    return
  end
  local created, started, completed = stamp(body, "created_at"), stamp(body, "started_at"), stamp(body, "completed_at")
  local size = body:match('"batch_size":(%d+)') or "0"
  if created and started and completed then
    out:write(string.format("%.6f %.6f %.6f %s %.6f\n", created, started, completed, size, received))
    out:flush()
  end
end
