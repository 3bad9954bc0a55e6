-- Claims the right to contact an origin now (DESIGN behaviour 6), shared by every worker.
-- KEYS[1]: the origin's record. ARGV[1] now (ms), ARGV[2] the minimum interval (ms), ARGV[3] TTL
-- (ms) for a record that holds no response yet, so names that never answer do not pile up,
-- ARGV[4] when the fetch was asked for (ms), ARGV[5] how long the fetch may take (ms): until then
-- (or until its outcome is recorded) lookups see a fetch in flight and wait for it.
-- Returns { 1, 0 } when the caller may fetch; { 0, wait ms } when the interval or backoff forbids
-- it; { 2, 0 } when a fetch already ended after it was asked for (its result is the answer).
local rec = KEYS[1]
local now = tonumber(ARGV[1])
local asked = tonumber(ARGV[4])
local fetched = tonumber(redis.call('HGET', rec, 'fetched') or '0')
local failed = tonumber(redis.call('HGET', rec, 'failed') or '0')
if fetched >= asked or failed >= asked then
  return { 2, 0 }
end
local next_fetch = tonumber(redis.call('HGET', rec, 'next') or '0')
if now < next_fetch then
  return { 0, next_fetch - now }
end
-- Hold the origin for one interval while this fetch runs; the outcome sets the real next time.
redis.call('HSET', rec, 'next', string.format('%d', now + tonumber(ARGV[2])),
  'busy', string.format('%d', now + tonumber(ARGV[5])))
if redis.call('HEXISTS', rec, 'latest') == 0 then
  redis.call('PEXPIRE', rec, ARGV[3])
end
return { 1, 0 }
