-- Open an upload: reserve its declared size against the uploader's quota, then record it.
-- KEYS[1] blob record (hash), KEYS[2] the uploader's blob storage total (bytes)
-- ARGV[1] declared size, ARGV[2] quota, ARGV[3] expiry (ms), ARGV[4] creation time (ms)
-- Returns {1, total} once created, or {0, total} when the quota would be exceeded.
local size = tonumber(ARGV[1])
local total = tonumber(redis.call('GET', KEYS[2]) or '0')
if total + size > tonumber(ARGV[2]) then
  return {0, total}
end
redis.call('INCRBY', KEYS[2], size)
redis.call('HSET', KEYS[1], 'size', size, 'held', 0, 'state', 'open', 'expires', ARGV[3],
  'created', ARGV[4])
return {1, total + size}
