-- Purge a closed dossier past its retention (CR-6), leaving only a tombstone in its log.
-- KEYS[1] dossier hash, KEYS[2] access log, KEYS[3] document id set, KEYS[4..] documents.
-- ARGV[1] version read, ARGV[2] the tombstone entry (chained to the last purged entry).
-- Returns 1 when purged, 0 when the version moved.
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if current ~= tonumber(ARGV[1]) then
  return 0
end
for k = 1, #KEYS do
  redis.call('DEL', KEYS[k])
end
redis.call('RPUSH', KEYS[2], ARGV[2])
return 1
