-- Stores a countersigned origin response atomically (DESIGN behaviours 4 and 6).
-- KEYS[1]: the origin's record. ARGV[1] now (ms), ARGV[2] the countersigned bytes,
-- ARGV[3] its valid_until_ts, ARGV[4] the minimum interval (ms), ARGV[5..] every key ID it holds
-- (verify_keys and old_verify_keys).
-- The new response becomes the latest and the holder of each of its key IDs; a key ID it omits
-- keeps pointing at the older response that held it, so a later response never destroys a key.
-- Responses no longer referenced are deleted, which bounds the record by the keys ever seen.
-- Returns the new response's ID.
local rec = KEYS[1]
local now = ARGV[1]
local id = tostring(redis.call('HINCRBY', rec, 'seq', 1))
-- `lb`/`lv` repeat the latest response's bytes and valid_until_ts under fixed names, so a cache hit
-- is one HMGET of fixed fields (no script, no second read).
redis.call('HSET', rec, 'r:' .. id, ARGV[2], 'v:' .. id, ARGV[3], 'latest', id, 'lb', ARGV[2], 'lv', ARGV[3],
  'fetched', now, 'fails', '0', 'next', string.format('%d', tonumber(now) + tonumber(ARGV[4])))
for i = 5, #ARGV do
  redis.call('HSET', rec, 'k:' .. ARGV[i], id)
end
redis.call('HDEL', rec, 'busy', 'owner')
redis.call('PERSIST', rec)

local live = { [id] = true }
local fields = redis.call('HKEYS', rec)
for _, f in ipairs(fields) do
  if string.sub(f, 1, 2) == 'k:' then live[redis.call('HGET', rec, f)] = true end
end
for _, f in ipairs(fields) do
  local prefix = string.sub(f, 1, 2)
  if (prefix == 'r:' or prefix == 'v:') and not live[string.sub(f, 3)] then
    redis.call('HDEL', rec, f)
  end
end
return id
