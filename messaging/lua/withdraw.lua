-- Take back an event queued by a send that was then refused as a whole (a quota overflow on
-- another device), so that a refused message reaches nobody.
-- KEYS[1] queue stream, KEYS[2] seen index, KEYS[3] shares; ARGV[1] stream id, ARGV[2] item id,
-- ARGV[3] the sender whose share the event counted against.
if redis.call('XDEL', KEYS[1], ARGV[1]) == 1 then
  if redis.call('HINCRBY', KEYS[3], ARGV[3], -1) <= 0 then
    redis.call('HDEL', KEYS[3], ARGV[3])
  end
end
redis.call('ZREM', KEYS[2], ARGV[2])
return 1
