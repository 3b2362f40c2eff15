-- One budget of the rate limits (GCRA, the token bucket kept as one timestamp).
-- KEYS[1] the budget's key for one subject (an address or a device; its own hash tag).
-- ARGV[1] emission interval (ms per call, may be fractional), ARGV[2] burst (calls).
-- The key holds the theoretical arrival time (ms, Redis's clock, shared by every process) and
-- expires when the bucket is full again, so an idle subject costs no memory.
-- Returns 0 when the call is allowed, else the milliseconds to wait before the next one is.
local interval, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
  tat = now
end
local next_tat = tat + interval
local ahead = next_tat - now
if ahead > burst * interval then
  return math.ceil(ahead - burst * interval)
end
redis.call('SET', KEYS[1], string.format('%.3f', next_tat), 'PX', math.ceil(ahead))
return 0
