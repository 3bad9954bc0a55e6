-- Claims the right to contact an origin now (DESIGN behaviours 6 and 11), shared by every worker.
-- KEYS[1]: the origin's record (SCHEMA.md). ARGV[1] now (ms), ARGV[2] TTL (ms) for a record that holds no
-- response yet, so names that never answer do not pile up, ARGV[3] when the fetch was asked for
-- (ms), ARGV[4] how long the fetch may take (ms): until then (or until its outcome is recorded)
-- lookups see a fetch in flight and wait for it, and other claimants are refused; ARGV[5] who
-- claims (the refresh job): a claim held by the same claimant is that job run again after its
-- worker died, and may go ahead at once instead of waiting out a dead fetch's lease.
-- The interval and backoff are set by the outcome (store-response, record-failure), not here: a
-- fetch that never ends (its worker killed) leaves nothing that outlives its lease.
-- Returns { 1, 0 } when the caller may fetch; { 0, wait ms } when the interval, the backoff or
-- another claimant's lease forbids it; { 2, 0 } when a fetch already ended after it was asked for.
local rec = KEYS[1]
local now = tonumber(ARGV[1])
local asked = tonumber(ARGV[3])
local fetched = tonumber(redis.call('HGET', rec, 'fetched') or '0')
local failed = tonumber(redis.call('HGET', rec, 'failed') or '0')
if fetched >= asked or failed >= asked then
  return { 2, 0 }
end
local next_fetch = tonumber(redis.call('HGET', rec, 'next') or '0')
if now < next_fetch then
  return { 0, next_fetch - now }
end
local busy = tonumber(redis.call('HGET', rec, 'busy') or '0')
if busy > now and redis.call('HGET', rec, 'owner') ~= ARGV[5] then
  return { 0, busy - now }
end
redis.call('HSET', rec, 'busy', string.format('%d', now + tonumber(ARGV[4])), 'owner', ARGV[5])
if redis.call('HEXISTS', rec, 'latest') == 0 then
  redis.call('PEXPIRE', rec, ARGV[2])
end
return { 1, 0 }
