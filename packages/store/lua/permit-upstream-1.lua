-- May an upstream notary be asked now? Its own backoff and rate limit, shared by every worker.
-- KEYS[1]: the upstream's record (a hash: `next` no ask before this (ms), `fails` failed asks in a
-- row, `w` start of the current window (ms), `n` asks in it).
-- ARGV[1] now (ms), ARGV[2] the window (ms), ARGV[3] most asks per window.
-- Returns { 1, 0 } and counts the ask when it may be made; { 0, ms left } while backing off after
-- failures; { 2, ms left } when the window's asks are used up.
local rec = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local next_ask = tonumber(redis.call('HGET', rec, 'next') or '0')
if now < next_ask then return { 0, next_ask - now } end
local started = tonumber(redis.call('HGET', rec, 'w') or '0')
local asks = tonumber(redis.call('HGET', rec, 'n') or '0')
if now >= started + window or now < started then
  started = now
  asks = 0
end
if asks >= tonumber(ARGV[3]) then return { 2, started + window - now } end
redis.call('HSET', rec, 'w', string.format('%d', started), 'n', asks + 1)
-- Kept while it matters: the window, or the backoff recorded after the ask.
if redis.call('PTTL', rec) < 2 * window then redis.call('PEXPIRE', rec, string.format('%d', 2 * window)) end
return { 1, 0 }
