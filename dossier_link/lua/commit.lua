-- Apply one decided change to a dossier if nobody changed it since it was read.
-- KEYS[1] dossier hash (fields state, version), KEYS[2] access log (list),
-- KEYS[3] document id set, KEYS[4] the holder's representations (hash), KEYS[5] the tombstones
-- of purged dossiers of this INS (list), KEYS[6..] documents to write.
-- ARGV[1] version read (0: the dossier must not exist yet), ARGV[2] new state (it carries the
-- log's head, so every entry appended changes it), ARGV[3] a representation id to remove with
-- this change ("" for none), ARGV[4] number n of log entries, ARGV[5..4+n] the entries, then
-- for each document key: its id and its record.
-- Returns 1 when applied, 0 when the version moved (the caller reads again and retries).
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if current ~= tonumber(ARGV[1]) then
  return 0
end
if current == 0 then
  -- TR-7: a new dossier starts a new chain; a purged one's tombstone moves out of its way.
  local old = redis.call('LPOP', KEYS[2])
  while old do
    redis.call('RPUSH', KEYS[5], old)
    old = redis.call('LPOP', KEYS[2])
  end
end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'version', current + 1)
if ARGV[3] ~= '' then
  redis.call('HDEL', KEYS[4], ARGV[3])
end
local n = tonumber(ARGV[4])
for i = 1, n do
  redis.call('RPUSH', KEYS[2], ARGV[4 + i])
end
local arg = 5 + n
for k = 6, #KEYS do
  redis.call('SADD', KEYS[3], ARGV[arg])
  redis.call('SET', KEYS[k], ARGV[arg + 1])
  arg = arg + 2
end
return 1
