-- Mark an upload complete once every declared byte is held and no writer is at work.
-- KEYS[1] blob record; ARGV[1] digest (b64u), ARGV[2] now (ms)
-- Returns {1} done (or already done with this digest); {0} no such blob; {-1, held} bytes are
-- missing; {-2} a writer is at work; {-3} already complete with another digest.
local r = redis.call('HMGET', KEYS[1], 'size', 'held', 'state', 'expires', 'writer', 'until',
  'digest')
if not r[1] or (r[4] ~= '0' and tonumber(r[4]) <= tonumber(ARGV[2])) then
  return {0}
end
if r[3] == 'complete' then
  if r[7] == ARGV[1] then
    return {1}
  end
  return {-3}
end
if r[5] and tonumber(r[6]) > tonumber(ARGV[2]) then
  return {-2}
end
if r[1] ~= r[2] then
  return {-1, tonumber(r[2])}
end
redis.call('HSET', KEYS[1], 'state', 'complete', 'digest', ARGV[1])
return {1}
