-- Records a failed or refused fetch: after n failures in a row the next fetch waits
-- min(interval * 2^n, max_backoff). KEYS[1]: the origin's record (SCHEMA.md).
-- ARGV[1] now (ms), ARGV[2] interval (ms), ARGV[3] max backoff (ms), ARGV[4] least TTL (ms) of a
-- record that holds no response. Returns { failures, ms until the next fetch }.
local rec = KEYS[1]
local now = tonumber(ARGV[1])
local fails = redis.call('HINCRBY', rec, 'fails', 1)
local interval = tonumber(ARGV[2])
-- 2 ^ fails is inf after 1023 failures, and 0 * inf is NaN: interval 0 always waits 0.
local wait = 0
if interval > 0 then wait = interval * (2 ^ fails) end
local cap = tonumber(ARGV[3])
if wait > cap then wait = cap end
-- A cap below the interval must not let failures shorten it: at most once per interval, always.
if wait < tonumber(ARGV[2]) then wait = tonumber(ARGV[2]) end
redis.call('HSET', rec, 'next', string.format('%d', now + wait), 'failed', ARGV[1])
redis.call('HDEL', rec, 'busy', 'owner')
if redis.call('HEXISTS', rec, 'latest') == 0 then
  -- Kept long enough to remember the failure count past the next attempt, and no longer:
  -- names that never answer must not pile up.
  local ttl = tonumber(ARGV[4])
  if ttl < 2 * wait + tonumber(ARGV[2]) then ttl = 2 * wait + tonumber(ARGV[2]) end
  redis.call('PEXPIRE', rec, string.format('%d', ttl))
end
return { fails, math.floor(wait) }
