-- Take back an event queued by a send that was then refused as a whole (a quota overflow on
-- another device), so that a refused message reaches nobody.
-- KEYS[1] queue stream, KEYS[2] seen index; ARGV[1] stream id, ARGV[2] item id.
redis.call('XDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[2])
return 1
