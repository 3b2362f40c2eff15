-- Claim a message id for its sender and store the ciphertext payload once.
-- KEYS[1] idempotency record (hash: digest, answer), KEYS[2] payload
-- ARGV[1] digest of the whole envelope, ARGV[2] payload ('' when it travels in the one queue
-- entry instead), ARGV[3] time to live (ms)
-- Returns {1} for a new message, {0, answer-or-nil} for a retry of the same envelope
-- (answer is nil when the first attempt did not finish), {-1} for another envelope.
local existing = redis.call('HGET', KEYS[1], 'digest')
if existing and existing ~= ARGV[1] then
  return {-1}
end
if existing then
  local answer = redis.call('HGET', KEYS[1], 'answer')
  if answer then
    return {0, answer}
  end
else
  redis.call('HSET', KEYS[1], 'digest', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
if ARGV[2] ~= '' then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
end
if existing then
  return {0}
end
return {1}
