-- wrk script of bench/ingest.py: cycles pre-signed Standard Webhooks deliveries.
--   wrk -t2 -c8 -d8s -s bench/ingest_wrk.lua http://127.0.0.1:PORT/PATH -- REQUESTS.tsv 2
-- REQUESTS.tsv holds one request a line: webhook-id, webhook-timestamp, webhook-signature, body,
-- separated by tabs. Thread k of n sends lines k, k+n, k+2n... so no two threads send the same
-- event. A thread that reaches the end of its share starts again (the inbox then answers
-- "duplicate"); ``wrapped`` in the result says how many threads did, so the caller can refuse
-- the run. done() prints one line: WRK_RESULT {json}.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local file, n = args[1], tonumber(args[2])
  requests, sent, wrapped = {}, 0, 0
  local i = 0
  for line in io.lines(file) do
    if i % n == tid then
      local id, ts, sig, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
      requests[#requests + 1] = wrk.format("POST", wrk.path, {
        ["webhook-id"] = id,
        ["webhook-timestamp"] = ts,
        ["webhook-signature"] = sig,
        ["content-type"] = "application/json",
      }, body)
    end
    i = i + 1
  end
end

function request()
  sent = sent + 1
  if sent > #requests then
    sent, wrapped = 1, 1
  end
  return requests[sent]
end

function done(summary, latency, requests)
  local wrapped_threads = 0
  for _, thread in ipairs(threads) do
    wrapped_threads = wrapped_threads + thread:get("wrapped")
  end
  local errors = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "status_errors": %d, '
      .. '"socket_errors": %d, "wrapped": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout,
    wrapped_threads, latency:percentile(99)))
end
