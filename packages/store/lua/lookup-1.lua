-- Looks up what the notary holds for one origin, in one round trip, and says whether a fetch is
-- needed and allowed. KEYS[1]: the origin's record (a hash).
-- ARGV[1] now (ms), ARGV[2] minimum_valid_until_ts (ms), ARGV[3] least ms between two background
-- refresh requests, ARGV[4] cap on the refresh period (ms, 7 days), ARGV[5..] key IDs asked.
-- Returns { need_fetch (0/1), may_fetch (0/1), refresh_due (0/1), entry bytes... }: for each key
-- asked that the latest response lacks, the latest stored response holding it; then the latest.
local rec = KEYS[1]
local now = tonumber(ARGV[1])
local min_valid = tonumber(ARGV[2])
local latest = redis.call('HGET', rec, 'latest')
local next_fetch = tonumber(redis.call('HGET', rec, 'next') or '0')
local may_fetch = (now >= next_fetch) and 1 or 0
if not latest then
  return { 1, may_fetch, 0 }
end

local need = 0
local valid_until = tonumber(redis.call('HGET', rec, 'v:' .. latest) or '0')
if valid_until < min_valid then need = 1 end

-- Responses that hold asked-for keys the latest lacks come first, the latest last (as Synapse
-- and sytest expect: the first entry answers the key asked for).
local ids = {}
local seen = { [latest] = true }
for i = 5, #ARGV do
  local rid = redis.call('HGET', rec, 'k:' .. ARGV[i])
  if not rid then
    need = 1 -- a key the notary has never seen: the origin may have rotated to it
  elseif not seen[rid] then
    seen[rid] = true
    ids[#ids + 1] = rid
  end
end

local refresh = 0
if need == 0 and may_fetch == 1 then
  -- Refresh at half the remaining lifetime seen at fetch time, and at least every cap period.
  local fetched = tonumber(redis.call('HGET', rec, 'fetched') or '0')
  local period = math.floor((valid_until - fetched) / 2)
  local cap = tonumber(ARGV[4])
  if period > cap then period = cap end
  local asked = tonumber(redis.call('HGET', rec, 'rq') or '0')
  if now >= fetched + period and now - asked >= tonumber(ARGV[3]) then
    redis.call('HSET', rec, 'rq', ARGV[1])
    refresh = 1
  end
end

ids[#ids + 1] = latest
local out = { need, may_fetch, refresh }
for _, rid in ipairs(ids) do
  local bytes = redis.call('HGET', rec, 'r:' .. rid)
  if bytes then out[#out + 1] = bytes end
end
return out
