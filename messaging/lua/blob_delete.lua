-- Forget a blob (the sweep found it due: past its expiry, or its dossier document purged),
-- giving its bytes back to the uploader's quota. Its file is removed before this runs, so a
-- crash in between leaves a record the next sweep removes, never a file nobody knows of.
-- KEYS[1] blob record, KEYS[2] its readers, KEYS[3] the uploader's storage total
-- Returns 1 once deleted, 0 when there was no such blob.
local size = redis.call('HGET', KEYS[1], 'size')
if not size then
  return 0
end
redis.call('DEL', KEYS[1], KEYS[2])
if tonumber(redis.call('DECRBY', KEYS[3], size)) <= 0 then
  redis.call('DEL', KEYS[3])
end
return 1
