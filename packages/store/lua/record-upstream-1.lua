-- Records how an ask of an upstream notary went. KEYS[1]: the upstream's record (see
-- permit-upstream-1.lua). ARGV[1] now (ms), ARGV[2] '1' when it failed (could not be asked, or its
-- answer was not a notary answer signed by its pinned key), '0' when it answered; ARGV[3] the first
-- backoff (ms), ARGV[4] the longest (ms).
-- After n failures in a row the next ask waits min(first * 2^(n-1), longest); an answer resets n.
-- Returns { failures in a row, ms until the next ask }.
local rec = KEYS[1]
local now = tonumber(ARGV[1])
if ARGV[2] ~= '1' then
  redis.call('HDEL', rec, 'fails', 'next')
  return { 0, 0 }
end
local fails = redis.call('HINCRBY', rec, 'fails', 1)
local wait = tonumber(ARGV[3]) * (2 ^ (fails - 1))
local cap = tonumber(ARGV[4])
if wait > cap then wait = cap end
redis.call('HSET', rec, 'next', string.format('%d', now + wait))
-- Remember the count past the next ask, and no longer.
local ttl = math.floor(2 * wait) + 60000
if redis.call('PTTL', rec) < ttl then redis.call('PEXPIRE', rec, string.format('%d', ttl)) end
return { fails, math.floor(wait) }
