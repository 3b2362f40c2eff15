-- Claim a message id for its sender (idempotency, DESIGN §6) and store its shared payload.
-- KEYS[1..3] the sender's idempotency records, by generation of the window: previous, current,
-- next (a retry may reach a process whose clock is a little behind or ahead); KEYS[4] payload.
-- ARGV[1] message id (16 bytes), ARGV[2] digest of the envelope (16 bytes), ARGV[3] now (ms),
-- ARGV[4] time to live of the current generation (ms), ARGV[5] payload retention (ms),
-- ARGV[6] payload ('' when it travels in the one queue entry), ARGV[7..] the devices to read it.
-- A record is the digest, 'p' (pending) or 'a' (answered), then the acceptance time (ms).
-- Returns {1, now} for a new message; {0, accepted at, answered (0/1), dossier outcome or nil}
-- for the same envelope again; {-1} for another envelope under the same id.
local id, digest = ARGV[1], ARGV[2]
for i = 1, 3 do
  local record = redis.call('HGET', KEYS[i], id)
  if record then
    if string.sub(record, 1, 16) ~= digest then
      return {-1}
    end
    local answered = string.sub(record, 17, 17) == 'a'
    return {0, string.sub(record, 18), answered and 1 or 0,
            answered and redis.call('HGET', KEYS[i], id .. 'd')}
  end
end
redis.call('HSET', KEYS[2], id, digest .. 'p' .. ARGV[3])
if redis.call('PTTL', KEYS[2]) < 0 then
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
if ARGV[6] ~= '' then
  local fields = {'e', ARGV[6]}
  for i = 7, #ARGV do
    fields[#fields + 1] = ARGV[i]
    fields[#fields + 1] = ''
  end
  redis.call('HSET', KEYS[4], unpack(fields))
  redis.call('PEXPIRE', KEYS[4], ARGV[5])
end
return {1, ARGV[3]}
