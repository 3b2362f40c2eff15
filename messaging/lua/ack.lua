-- Delete acknowledged events from a device queue.
-- KEYS[1] queue stream, KEYS[2] shares (hash: sender -> its events in the queue);
-- ARGV: stream ids.
-- Returns how many *message* events it deleted (a repeated ack deletes none).
local queue, shares = KEYS[1], KEYS[2]
local deleted = 0
for i = 1, #ARGV do
  local entries = redis.call('XRANGE', queue, ARGV[i], ARGV[i])
  if #entries > 0 then
    local fields = entries[1][2]
    local kind, sender = nil, nil
    for j = 1, #fields, 2 do
      if fields[j] == 't' then kind = fields[j + 1]
      elseif fields[j] == 's' then sender = fields[j + 1] end
    end
    redis.call('XDEL', queue, ARGV[i])
    if kind == 'm' then
      deleted = deleted + 1
      if redis.call('HINCRBY', shares, sender, -1) <= 0 then
        redis.call('HDEL', shares, sender)
      end
    end
  end
end
return deleted
