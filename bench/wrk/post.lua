-- wrk: POST the JSON body in the file $BENCH_BODY with the headers in $BENCH_HEADERS ("Name: value" lines).
-- wrk counts connect/read/write errors and timeouts; this script also reports non-2xx answers.
wrk.method = "POST"
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
for line in (os.getenv("BENCH_HEADERS") or ""):gmatch("[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  if name then wrk.headers[name] = value end
end

function done(summary, latency, requests)
  local s = summary
  io.write(string.format(
    "BENCH_JSON {\"requests\":%d,\"duration_us\":%d,\"non2xx\":%d,\"connect\":%d,\"read\":%d,\"write\":%d," ..
    "\"timeout\":%d,\"p50_us\":%d,\"p90_us\":%d,\"p99_us\":%d,\"mean_us\":%.1f,\"max_us\":%d}\n",
    s.requests, s.duration, s.errors.status, s.errors.connect, s.errors.read, s.errors.write, s.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
