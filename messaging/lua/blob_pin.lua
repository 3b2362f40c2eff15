-- Keep the sender's blobs with the dossier document their message became: they no longer
-- expire by themselves, and whoever may read the document may read them.
-- KEYS[1..n] blob records (under the sender's tag); ARGV[1] INS, ARGV[2] document id
-- Returns how many records were pinned (a blob deleted meanwhile is skipped).
local pinned = 0
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('HSET', KEYS[i], 'expires', 0, 'ins', ARGV[1], 'document', ARGV[2])
    pinned = pinned + 1
  end
end
return pinned
