-- Mark a claimed message answered: a retry then gets the first answer and queues nothing.
-- KEYS[1..3] the sender's idempotency records, as for claim.lua; ARGV[1] message id (16 bytes),
-- ARGV[2] the dossier outcome (JSON; '' without a dossier). Returns 1, or 0 when the record is
-- gone (past the window, or withdrawn).
for i = 1, 3 do
  local record = redis.call('HGET', KEYS[i], ARGV[1])
  if record then
    redis.call('HSET', KEYS[i], ARGV[1], string.sub(record, 1, 16) .. 'a' .. string.sub(record, 18))
    if ARGV[2] ~= '' then
      redis.call('HSET', KEYS[i], ARGV[1] .. 'd', ARGV[2])
    end
    return 1
  end
end
return 0
