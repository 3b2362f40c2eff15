-- Take a device out of its principal's index, keeping its public keys (with the time of the
-- revocation) so that what it signed while active can still be verified.
-- KEYS[1] active device index (hash), KEYS[2] retired device index (hash)
-- ARGV[1] device id, ARGV[2] revocation time. Returns 1, or 0 when the device is not active.
local record = redis.call('HGET', KEYS[1], ARGV[1])
if not record then
  return 0
end
local device = cjson.decode(record)
device['revoked_at'] = ARGV[2]
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(device))
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
