-- Replaces the countersigned bytes of one stored response with the same response countersigned
-- anew (the re-sign sweep, after the notary's signing keys changed), only if that response is still
-- stored exactly as it was read: nothing else of the record changes (header, bindings, fetch state,
-- TTL).
-- KEYS[1]: the origin's record (SCHEMA.md).
-- ARGV[1] the response's ID, ARGV[2] its fetch time (ms) as its header has it, ARGV[3] the bytes
-- read, ARGV[4] the new bytes.
-- The response is looked for as `latest`, then as `r:<id>` (a store between the read and this step
-- may have moved it there). Returns the field replaced, or '' when the response is gone or changed.
local rec = KEYS[1]
local id, fetched, old, new = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local function replace(field)
  local value = redis.call('HGET', rec, field)
  if not value then return false end
  local nl = string.find(value, '\n', 1, true)
  if not nl then return false end
  local header = string.sub(value, 1, nl - 1)
  local h_id, h_fetched = string.match(header, '^N1 (%d+) %d+ (%d+)')
  if h_id ~= id or h_fetched ~= fetched then return false end
  if string.sub(value, nl + 1) ~= old then return false end
  redis.call('HSET', rec, field, header .. '\n' .. new)
  return true
end
if replace('latest') then return 'latest' end
if replace('r:' .. id) then return 'r:' .. id end
return ''
