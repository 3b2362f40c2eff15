-- Append one event to a device queue, once per item (idempotent enqueue).
-- KEYS[1] queue stream, KEYS[2] seen index (sorted set: item -> enqueue time, ms),
-- KEYS[3] shares (hash: sender -> events of that sender in the queue)
-- ARGV[1] item id ('' for an event queued without deduplication: a receipt), ARGV[2] quota,
-- ARGV[3] retention ms, ARGV[4] now ms,
-- ARGV[5] PUBLISH, or SPUBLISH on a Redis 7 cluster (the channel shares the queue's hash tag),
-- ARGV[6] wake channel, ARGV[7] how long an item stays in the index at most (ms),
-- ARGV[8] the sender's share: how many of its events the queue may hold (0: a server event,
-- counted against the quota only), ARGV[9] the sender ('' for a server event),
-- ARGV[10..] the event's field/value pairs.
-- The index only has to outlive the sender's pending claim: the server removes an item once
-- its message is answered, so what is left is what a send that died midway left behind.
-- Returns {1, stream id} when queued, {0, ""} for a duplicate, {-1, ""} when the queue is full,
-- {-2, ""} when the sender holds its whole share of the queue.
local queue, seen, shares = KEYS[1], KEYS[2], KEYS[3]
local item, quota = ARGV[1], tonumber(ARGV[2])
local retention, now = tonumber(ARGV[3]), tonumber(ARGV[4])
local remember = tonumber(ARGV[7])
local share, sender = tonumber(ARGV[8]), ARGV[9]
local cutoff = now - retention

if item ~= '' then
  redis.call('ZREMRANGEBYSCORE', seen, '-inf', '(' .. (now - remember))
  if redis.call('ZSCORE', seen, item) then
    -- A retry writes too, so that a WAIT after it also covers the first attempt's entry
    -- (WAIT waits for the connection's last write, and a retry may come on another connection).
    redis.call('PEXPIRE', seen, remember)
    return {0, ''}
  end
end
if cutoff > 0 then
  -- What the retention drops no longer counts against its sender's share: each entry is
  -- read here once, as it goes.
  for _, entry in ipairs(redis.call('XRANGE', queue, '-', string.format('%d', cutoff - 1))) do
    local fields = entry[2]
    for j = 1, #fields, 2 do
      if fields[j] == 's' then
        if redis.call('HINCRBY', shares, fields[j + 1], -1) <= 0 then
          redis.call('HDEL', shares, fields[j + 1])
        end
      end
    end
  end
  redis.call('XTRIM', queue, 'MINID', cutoff)
end
if redis.call('XLEN', queue) >= quota then
  return {-1, ''}
end
if share > 0 and tonumber(redis.call('HGET', shares, sender) or 0) >= share then
  return {-2, ''}
end
local fields = {}
for i = 10, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
local id = redis.call('XADD', queue, '*', unpack(fields))
if item ~= '' then
  redis.call('ZADD', seen, now, item)
  redis.call('PEXPIRE', seen, remember)
end
if share > 0 then
  redis.call('HINCRBY', shares, sender, 1)
  redis.call('PEXPIRE', shares, retention)
end
redis.call('PEXPIRE', queue, retention)
redis.call(ARGV[5], ARGV[6], 'w')
return {1, id}
