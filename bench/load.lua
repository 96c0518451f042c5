-- wrk script of the benchmark's HTTP section (bench/loadgen.py runs wrk with it).
--
-- Always: done() prints one line, "bench-json {...}", with the run's summary and its whole
-- latency histogram (microseconds, [value, count] pairs, after wrk's own correction), so that
-- the slices of a run can be merged exactly, plus the answers counted by status and the
-- requests sent, per thread.
--
-- Signing: when loadgen.py puts a header in front of this file that defines `sessions` (one
-- {cookie = ..., token = ...} per wrk thread, the token already URL-encoded), `forms` (URL-encoded
-- form bodies without csrf_token and email), `path` and `run` (a new id for every wrk run), each
-- request is a POST of the sign form with its thread's session cookie and CSRF token (Flask-WTF
-- ties a token to its session) and a new email address: thread, counter and run id.

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("tid", #threads)
end

if sessions then
  function init(args)
    local session = sessions[(tid - 1) % #sessions + 1]
    token = "csrf_token=" .. session.token .. "&"
    headers = {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Cookie"] = session.cookie,
    }
    sent = 0
    statuses = {}
  end

  function request()
    sent = sent + 1
    local body = token .. forms[sent % #forms + 1] .. "&email=w" .. tid .. "-" .. sent .. "-"
      .. run .. "%40example.org"
    return wrk.format("POST", path, headers, body)
  end

  function response(status, headers, body)
    local key = tostring(status)
    statuses[key] = (statuses[key] or 0) + 1
  end
end

function done(summary, latency, requests)
  local pairs_ = {}
  for i = 1, #latency do
    local value, count = latency(i)
    pairs_[#pairs_ + 1] = string.format("[%d,%d]", value, count)
  end
  local sent, statuses = 0, {}
  for _, thread in ipairs(threads) do
    sent = sent + (thread:get("sent") or 0)
    for status, count in pairs(thread:get("statuses") or {}) do
      statuses[status] = (statuses[status] or 0) + count
    end
  end
  local counted = {}
  for status, count in pairs(statuses) do
    counted[#counted + 1] = string.format('"%s":%d', status, count)
  end
  local e = summary.errors
  io.write(string.format(
    'bench-json {"duration":%d,"requests":%d,"sent":%d,"statuses":{%s},'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency":[%s]}\n',
    summary.duration, summary.requests, sent, table.concat(counted, ","),
    e.connect, e.read, e.write, e.status, e.timeout, table.concat(pairs_, ",")))
end
