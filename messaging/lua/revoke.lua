-- Revoke a device: its tokens stop working at once and its queue is dropped.
-- KEYS[1] device record, KEYS[2] token set, KEYS[3] queue, KEYS[4] seen index;
-- ARGV[1] token key prefix (the token keys share the device's hash tag).
local digests = redis.call('SMEMBERS', KEYS[2])
for _, digest in ipairs(digests) do
  redis.call('DEL', ARGV[1] .. digest)
end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
redis.call('HSET', KEYS[1], 'revoked', '1')
return #digests
