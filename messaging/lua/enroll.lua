-- Consume a single-use enrollment code and publish the new device in its principal's index,
-- in one step so that a replayed code can never add a second device.
-- KEYS[1] enrollment code key, KEYS[2] principal's device index (hash)
-- ARGV[1] device id, ARGV[2] device record (JSON). Returns 1, or 0 when the code is not valid.
if redis.call('DEL', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
