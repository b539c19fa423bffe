-- wrk script: STARFACE event batches as the module sends them, for `python -m bench events`.
-- Each wrk thread owns a slice of the agents and numbers its events; timestamps grow with that
-- number, so an agent's events never arrive older than its last one (all should be applied).
local batch = tonumber(os.getenv("SC_BATCH"))
local pool = tonumber(os.getenv("SC_POOL"))
local threads = tonumber(os.getenv("SC_THREADS"))
local session = os.getenv("SC_SESSION")
local run = os.getenv("SC_RUN")
local base = tonumber(os.getenv("SC_BASE"))
local path = os.getenv("SC_PATH")

local created = 0
function setup(thread)
  thread:set("tid", created)
  created = created + 1
end

local counter = 0
local phones = {"RINGING", "BUSY", "IDLE"}

local function event()
  counter = counter + 1
  local span = math.floor(pool / threads)
  local login = tostring(100000 + tid * span + (counter % span))
  local at = os.date("!%Y-%m-%dT%H:%M:%S", base + math.floor(counter / 1000))
    .. string.format(".%03d%03dZ", counter % 1000, tid)
  local head = '{"eventId":"' .. run .. "-" .. tid .. "-" .. counter .. '","occurredAt":"' .. at
  local kind = counter % 100
  if kind < 3 then
    return head .. '","type":"USER_UPDATE","user":{"login":"' .. login
      .. '","firstName":"Agent ' .. (counter % 7) .. '","familyName":"Lasttest","email":"'
      .. login .. '@example.com","language":"de","admin":false,"phoneNumbers":["' .. login .. '"]}}'
  elseif kind < 15 then
    local status = (math.floor(counter / span) % 2 == 0) and "LOGGED_IN" or "LOGGED_OUT"
    return head .. '","type":"USER_STATUS","login":"' .. login .. '","status":"' .. status .. '"}'
  end
  local phone = phones[(math.floor(counter / span) % 3) + 1]
  return head .. '","type":"PHONE_STATUS","login":"' .. login .. '","status":"' .. phone .. '"}'
end

function request()
  local events = {}
  for i = 1, batch do
    events[i] = event()
  end
  local body = '{"events":[' .. table.concat(events, ",") .. "]}"
  return wrk.format("POST", path, {["Content-Type"] = "application/json",
    ["X-Session-Id"] = session}, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,'
    .. '"status":%d,"timeout":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.max))
end
