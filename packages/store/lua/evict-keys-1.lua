-- Drops key-ID bindings of an origin at an operator's request (`matrix-notary keys evict`).
-- KEYS[1]: the origin's record (SCHEMA.md). ARGV[1]: the key ID to drop, or '' to drop everything held for the
-- origin (responses, bindings and fetch state). ARGV[2] (with a key ID): drop the binding only if
-- it is to this body ('' for any body), so a check made before this call cannot be outdated by it.
-- Dropping one binding also drops the responses that no longer answer for any key ID, and lets the
-- origin be fetched at once (the next fetch binds whatever body the origin now publishes).
-- Returns { key ID, body, ... } of the bindings dropped.
local rec = KEYS[1]
local target = ARGV[1]
local expected = ARGV[2] or ''
local CHUNK = 500

local function rec_body(s)
  return string.match(s, '^%a,%d+,([^,]*),')
end
local function rec_holder(s)
  return string.match(s, '^%a,(%d+),')
end

local latest = redis.call('HGET', rec, 'latest')
local header, bytes = '', ''
if latest and string.sub(latest, 1, 3) == 'N1 ' then
  local nl = string.find(latest, '\n', 1, true)
  header = string.sub(latest, 1, nl - 1)
  bytes = string.sub(latest, nl + 1)
end
local fields = redis.call('HKEYS', rec)

if target == '' then
  local dropped = {}
  local i = 0
  for tok in string.gmatch(header, '[^ ]+') do
    i = i + 1
    if i > 4 then
      local eq = string.find(tok, '=', 1, true)
      local body = rec_body(string.sub(tok, eq + 1))
      if body then
        dropped[#dropped + 1] = string.sub(tok, 1, eq - 1)
        dropped[#dropped + 1] = body
      end
    end
  end
  local k_fields = {}
  for _, f in ipairs(fields) do
    if string.sub(f, 1, 2) == 'k:' then k_fields[#k_fields + 1] = f end
  end
  for c = 1, #k_fields, CHUNK do
    local part = {}
    for j = c, math.min(c + CHUNK - 1, #k_fields) do part[#part + 1] = k_fields[j] end
    local values = redis.call('HMGET', rec, unpack(part))
    for j, f in ipairs(part) do
      local body = values[j] and rec_body(values[j])
      if body then
        dropped[#dropped + 1] = string.sub(f, 3)
        dropped[#dropped + 1] = body
      end
    end
  end
  redis.call('DEL', rec)
  return dropped
end

local dropped = {}
local s, e = string.find(header, ' ' .. target .. '=', 1, true)
if s then
  local tok_end = string.find(header, ' ', e + 1, true) or (#header + 1)
  local body = rec_body(string.sub(header, e + 1, tok_end - 1))
  if expected ~= '' and body ~= expected then return {} end
  dropped = { target, body or '' }
  header = string.sub(header, 1, s - 1) .. string.sub(header, tok_end)
  redis.call('HSET', rec, 'latest', header .. '\n' .. bytes)
else
  local value = redis.call('HGET', rec, 'k:' .. target)
  if not value then return {} end
  if expected ~= '' and rec_body(value) ~= expected then return {} end
  dropped = { target, rec_body(value) or '' }
  redis.call('HDEL', rec, 'k:' .. target)
end

-- Responses that no longer answer for any key ID go.
local live = {}
if latest then live[string.match(header, '^N1 (%d+)') or ''] = true end
local i = 0
for tok in string.gmatch(header, '[^ ]+') do
  i = i + 1
  if i > 4 then
    local h = rec_holder(string.sub(tok, string.find(tok, '=', 1, true) + 1))
    if h then live[h] = true end
  end
end
local k_fields, r_ids = {}, {}
for _, f in ipairs(fields) do
  local p = string.sub(f, 1, 2)
  if p == 'k:' and f ~= 'k:' .. target then k_fields[#k_fields + 1] = f elseif p == 'r:' then r_ids[#r_ids + 1] = string.sub(f, 3) end
end
for c = 1, #k_fields, CHUNK do
  local part = {}
  for j = c, math.min(c + CHUNK - 1, #k_fields) do part[#part + 1] = k_fields[j] end
  for _, v in ipairs(redis.call('HMGET', rec, unpack(part))) do
    local h = v and rec_holder(v)
    if h then live[h] = true end
  end
end
local gone = {}
for _, id in ipairs(r_ids) do
  if not live[id] then gone[#gone + 1] = 'r:' .. id end
end
for c = 1, #gone, CHUNK do
  local part = {}
  for j = c, math.min(c + CHUNK - 1, #gone) do part[#part + 1] = gone[j] end
  redis.call('HDEL', rec, unpack(part))
end
-- The origin may be fetched at once: an operator evicts so that a new body can be bound.
redis.call('HDEL', rec, 'next', 'fails')
return dropped
