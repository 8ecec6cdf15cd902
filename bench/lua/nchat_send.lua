-- POST /api/messages as fast as wrk goes (or every DELAY_MS per connection).
-- Globals set by the harness: TOKENS, CHANNELS, optional DELAY_MS.
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
  local channel = CHANNELS[(i % #CHANNELS) + 1]
  local body = '{"channel_id": "' .. channel .. '", "text": "load ' .. thread_id .. '-'
    .. counter .. ' with some **markdown** text, like people write"}'
  return wrk.format("POST", "/api/messages", {
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
