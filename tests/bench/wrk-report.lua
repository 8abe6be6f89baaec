-- wrk script for the API benchmark (tests/bench/api.sh). The request comes
-- from the environment: WRK_METHOD (GET), WRK_TOKEN (a bearer token),
-- WRK_BODY (a JSON body, sent with Content-Type: application/json),
-- WRK_DELAY_MS (a pause before each request, for a steady trickle), and
-- WRK_TOPIC_SERIAL=1 makes each body's "%d" a fresh number per request.
-- At the end it prints one line that tests/bench/api.sh reads:
--   RESULT requests=N seconds=S rps=R p50_ms=… p99_ms=… max_ms=…
--          connect=… read=… write=… timeout=… status=…
-- where status counts answers of 400 and above (wrk's "Non-2xx or 3xx").

local method = os.getenv("WRK_METHOD") or "GET"
local token = os.getenv("WRK_TOKEN")
local body = os.getenv("WRK_BODY")
local delay_ms = tonumber(os.getenv("WRK_DELAY_MS") or "0")
local serial_bodies = os.getenv("WRK_TOPIC_SERIAL") == "1"

local headers = {}
if token and token ~= "" then
   headers["Authorization"] = "Bearer " .. token
end
if body and body ~= "" then
   headers["Content-Type"] = "application/json"
end

local counter = 0
local threads_made = 0
local fixed

-- setup runs in the main script state; the tag lands as a global in the
-- thread's own state, so that bodies differ between threads.
function setup(thread)
   threads_made = threads_made + 1
   thread:set("thread_tag", threads_made)
end

function init(args)
   if not serial_bodies then
      fixed = wrk.format(method, nil, headers, body)
   end
end

function request()
   if fixed then
      return fixed
   end
   counter = counter + 1
   return wrk.format(method, nil, headers, string.format(body, (thread_tag or 0) * 100000000 + counter))
end

if delay_ms > 0 then
   function delay()
      return delay_ms
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   local seconds = summary.duration / 1e6
   io.write(string.format(
      "RESULT requests=%d seconds=%.2f rps=%.1f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f " ..
      "connect=%d read=%d write=%d timeout=%d status=%d\n",
      summary.requests, seconds, summary.requests / seconds,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
      e.connect, e.read, e.write, e.timeout, e.status))
end
