-- Revoke a device: its tokens stop working at once and its queue is dropped.
-- KEYS[1] device record, KEYS[2] token set, KEYS[3..] the queue and what goes with it (its
-- seen index, its senders' shares, the outstanding challenges);
-- ARGV[1] token key prefix (the token keys share the device's hash tag).
local digests = redis.call('SMEMBERS', KEYS[2])
for _, digest in ipairs(digests) do
  redis.call('DEL', ARGV[1] .. digest)
end
redis.call('DEL', unpack(KEYS, 2))
redis.call('HSET', KEYS[1], 'revoked', '1')
return #digests
