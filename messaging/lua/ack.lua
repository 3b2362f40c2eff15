-- Delete acknowledged events from a device queue.
-- KEYS[1] queue stream, KEYS[2] shares (hash: sender -> its events in the queue);
-- ARGV: stream ids.
-- Returns {sender, message id, ...} for each acked *message* event that was still queued, so
-- that the caller emits one delivery receipt per message, and none for a repeated ack.
local queue, shares = KEYS[1], KEYS[2]
local acked = {}
for i = 1, #ARGV do
  local entries = redis.call('XRANGE', queue, ARGV[i], ARGV[i])
  if #entries > 0 then
    local fields = entries[1][2]
    local kind, sender, message = nil, nil, nil
    for j = 1, #fields, 2 do
      if fields[j] == 't' then kind = fields[j + 1]
      elseif fields[j] == 's' then sender = fields[j + 1]
      elseif fields[j] == 'i' then message = fields[j + 1] end
    end
    redis.call('XDEL', queue, ARGV[i])
    if kind == 'm' then
      acked[#acked + 1] = sender
      acked[#acked + 1] = message
      if redis.call('HINCRBY', shares, sender, -1) <= 0 then
        redis.call('HDEL', shares, sender)
      end
    end
  end
end
return acked
