-- Elects one caller to ask for a background refresh of an origin: the first to call once the
-- refresh-request interval has passed since the last election. KEYS[1]: the origin's record (SCHEMA.md).
-- ARGV[1] now (ms), ARGV[2] the refresh-request interval (ms). Returns 1 for the elected caller.
local rec = KEYS[1]
local asked = tonumber(redis.call('HGET', rec, 'rq') or '0')
if tonumber(ARGV[1]) - asked < tonumber(ARGV[2]) then
  return 0
end
redis.call('HSET', rec, 'rq', ARGV[1])
return 1
