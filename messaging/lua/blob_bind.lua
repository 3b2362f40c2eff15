-- Bind the sender's complete blobs to a message: its devices may read them, and each lives at
-- least as long as the message's retention (a blob kept with a dossier, expiry 0, stays so).
-- KEYS[1..n] blob records, KEYS[n+1..2n] their reader sets (all under the sender's tag)
-- ARGV[1] n, ARGV[2] now (ms), ARGV[3] retention end (ms), ARGV[4..] reader devices
-- Returns the 1-based positions of the blobs that are missing, expired or incomplete (nothing
-- is bound then), or an empty list once all are bound.
local n = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local unusable = {}
local expiries = {}
for i = 1, n do
  local r = redis.call('HMGET', KEYS[i], 'state', 'expires')
  if r[1] ~= 'complete' or (r[2] ~= '0' and tonumber(r[2]) <= now) then
    table.insert(unusable, i)
  end
  expiries[i] = r[2]
end
if #unusable > 0 then
  return unusable
end
for i = 1, n do
  if #ARGV > 3 then
    redis.call('SADD', KEYS[n + i], unpack(ARGV, 4))
  end
  if expiries[i] ~= '0' and tonumber(expiries[i]) < tonumber(ARGV[3]) then
    redis.call('HSET', KEYS[i], 'expires', ARGV[3])
  end
end
return {}
