-- Devices are done with a shared payload (they acked its event): the payload goes with the last.
-- KEYS[1] payload (hash: 'e' the envelope, then one field per device yet to ack); ARGV devices.
redis.call('HDEL', KEYS[1], unpack(ARGV))
if redis.call('HLEN', KEYS[1]) <= 1 then
  redis.call('DEL', KEYS[1])
end
return 1
