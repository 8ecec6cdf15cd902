-- PUT /_matrix/client/v3/rooms/{ROOM}/send/m.room.message/{txnId} as fast as wrk goes (or
-- every DELAY_MS per connection): Synapse's peer of nchat_send.lua.
-- Globals set by the harness: TOKENS, ROOM (already URL-encoded), RUN, optional DELAY_MS.
local counter = 0
thread_id = 0
local threads = 0

function setup(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end

function init(args)
  math.randomseed(os.time() + thread_id * 7919)
end

function request()
  counter = counter + 1
  local i = thread_id * 7919 + counter
  local token = TOKENS[(i % #TOKENS) + 1]
  -- Synapse answers a repeated (token, txnId) from its cache without a new event: RUN keeps
  -- txnIds unique across runs that reuse the same tokens.
  local txn = RUN .. "-" .. thread_id .. "-" .. counter
  local body = '{"msgtype": "m.text", "body": "load ' .. thread_id .. '-' .. counter
    .. ' with some **markdown** text, like people write"}'
  return wrk.format("PUT", "/_matrix/client/v3/rooms/" .. ROOM .. "/send/m.room.message/" .. txn, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end

if DELAY_MS then
  -- Uniform around the mean: connections drift apart instead of arriving in lockstep bursts.
  function delay()
    return DELAY_MS * 2 * math.random()
  end
end
