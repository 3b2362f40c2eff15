-- Take, renew or release the right to write an upload (one writer at a time, under a lease).
-- KEYS[1] blob record
-- ARGV[1] writer token, ARGV[2] now (ms), ARGV[3] lease end (ms), or 0 to release,
-- ARGV[4] the offset the writer starts at (take), or the bytes now held (release), or -1 (renew)
-- Returns {1, size} on success; {0} no such open upload; {-1, held} offset is not what is
-- held; {-2} another writer holds it; {-3} already complete.
local r = redis.call('HMGET', KEYS[1], 'size', 'held', 'state', 'expires', 'writer', 'until')
if not r[1] or tonumber(r[4]) <= tonumber(ARGV[2]) then
  return {0}
end
if r[3] == 'complete' then
  return {-3}
end
local mine = r[5] == ARGV[1]
local free = (not r[5]) or tonumber(r[6]) <= tonumber(ARGV[2])
local lease = tonumber(ARGV[3])
local position = tonumber(ARGV[4])
if not mine then
  if not free then
    return {-2}
  end
  if lease == 0 or position == -1 then
    return {-2} -- lost the lease: what this writer wrote is not counted
  end
  if position ~= tonumber(r[2]) then
    return {-1, tonumber(r[2])}
  end
end
if lease == 0 then
  redis.call('HSET', KEYS[1], 'held', position)
  redis.call('HDEL', KEYS[1], 'writer', 'until')
else
  redis.call('HSET', KEYS[1], 'writer', ARGV[1], 'until', lease)
end
return {1, tonumber(r[1])}
