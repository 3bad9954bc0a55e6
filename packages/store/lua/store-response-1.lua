-- Stores a countersigned origin response, enforcing key-ID bindings (DESIGN behaviours 4 and 12,
-- MSC4499) in the same step, so two workers can never bind one key ID to two bodies.
-- KEYS[1]: the origin's record (a hash; its layout: SCHEMA.md).
-- ARGV[1] now (ms), ARGV[2] the countersigned bytes, ARGV[3] their valid_until_ts, ARGV[4] the
-- minimum fetch interval (ms), ARGV[5] how many retired key IDs stay answerable, ARGV[6] '' for a
-- response fetched from the origin itself, or the server name of the upstream notary it was
-- learned from, then four arguments per key of the response: key ID, normalized body, kind (a: in
-- verify_keys; o: retired, with a usable expired_ts; f: retired, expired_ts too far ahead to be
-- used), expired_ts to record ('0' for none).
--
-- A key ID already bound to another body refuses the whole response: nothing is written, and
-- { 'collision', key ID, bound body, offered body } is returned. Otherwise the response becomes
-- the latest and { 'stored', id, bindings added, { evicted key ID, body, ... },
-- { key ID, recorded expired_ts, offered expired_ts, ... }, key IDs discarded,
-- { overridden key ID, learned body, fetched body, ... }, provisional bindings dropped,
-- provisional bindings confirmed, upstream the dropped ones were learned from } is returned: a
-- retired key ID offered for the first time that sorts below the bound is discarded (not bound),
-- one held before is evicted (MSC4499).
--
-- Learned from an upstream notary (MSC4499's notary-learned bindings are provisional): stored only
-- into a record that holds no response ({ 'held' } otherwise, nothing written), its bindings marked
-- provisional, the record's `up` field naming the response and the upstream, and the origin's
-- fetch state (failures, backoff, the claim) left to the caller, which records the origin's own
-- failure. A later response from the origin itself overrides provisional bindings: when it gives
-- one of them another body, every provisional binding is dropped, the learned response answers for
-- nothing more (so it goes), and the origin's response is stored as into a fresh record; when it
-- agrees, the bindings it lists become ordinary (permanent) ones and the others stay provisional.
local rec = KEYS[1]
local now = ARGV[1]
local max_retired = tonumber(ARGV[5])
local upstream = ARGV[6] -- '' for the origin itself
local CHUNK = 500 -- fields per HMGET/HDEL/HSET call (unpack is bounded by Lua's C stack)

-- Times in a binding are base-36 milliseconds, '' for none (SCHEMA.md).
local DIGITS = '0123456789abcdefghijklmnopqrstuvwxyz'
local function b36(n)
  n = math.floor(tonumber(n))
  local out = ''
  while n > 0 do
    local d = n % 36
    out = string.sub(DIGITS, d + 1, d + 1) .. out
    n = math.floor(n / 36)
  end
  return out
end
local function ms(text)
  if text == '' then return 0 end
  return tonumber(text, 36)
end
local now36 = b36(now)

-- A provisional binding (learned from an upstream notary) ends in ',p'.
local function parse_rec(s)
  local prov = string.sub(s, -2) == ',p'
  if prov then s = string.sub(s, 1, -3) end
  local state, holder, body, first, active, retired, expired =
    string.match(s, '^(%a),(%d+),([^,]*),(%w*),(%w*),(%w*),(%w*)$')
  if not state then return nil end
  return { state = state, holder = holder, body = body, first = first, active = active, retired = retired, expired = expired, prov = prov }
end

local function format_rec(r)
  local text = r.state .. ',' .. r.holder .. ',' .. r.body .. ',' .. r.first .. ',' .. r.active .. ',' .. r.retired .. ',' .. r.expired
  if r.prov then text = text .. ',p' end
  return text
end

local function chunked(command, fields, per)
  local out = {}
  for c = 1, #fields, per do
    local part = {}
    for j = c, math.min(c + per - 1, #fields) do part[#part + 1] = fields[j] end
    local got = redis.call(command, rec, unpack(part))
    if type(got) == 'table' then
      for _, v in ipairs(got) do out[#out + 1] = v end
    end
  end
  return out
end

-- What the record holds now: k: fields (bindings of key IDs the latest response lacks) and r:
-- fields (older responses still answering for some key ID).
local k_ids, r_ids = {}, {}
local prev = redis.call('HGET', rec, 'latest')
-- An upstream is asked only for an origin the notary holds nothing for; one stored meanwhile wins.
if upstream ~= '' and prev then return { 'held' } end
if prev and string.sub(prev, 1, 3) ~= 'N1 ' then
  -- A record in the layout before key bindings: start it afresh (its responses hold no history).
  local stale = { 'latest', 'lb', 'lv', 'seq' }
  for _, f in ipairs(redis.call('HKEYS', rec)) do
    local p = string.sub(f, 1, 2)
    if p == 'k:' or p == 'r:' or p == 'v:' then stale[#stale + 1] = f end
  end
  chunked('HDEL', stale, CHUNK)
  prev = nil
else
  for _, f in ipairs(redis.call('HKEYS', rec)) do
    local p = string.sub(f, 1, 2)
    if p == 'k:' then k_ids[#k_ids + 1] = string.sub(f, 3) elseif p == 'r:' then r_ids[#r_ids + 1] = string.sub(f, 3) end
  end
end

-- The previous latest response: its header holds the bindings of the key IDs it lists.
local prev_id, prev_fixed, prev_bytes
local in_prev, prev_order = {}, {}
if prev then
  local nl = string.find(prev, '\n', 1, true)
  local header = string.sub(prev, 1, nl - 1)
  prev_bytes = string.sub(prev, nl + 1)
  local i = 0
  for tok in string.gmatch(header, '[^ ]+') do
    i = i + 1
    if i == 2 then
      prev_id = tok
    elseif i > 4 then
      local eq = string.find(tok, '=', 1, true)
      local key_id = string.sub(tok, 1, eq - 1)
      local r = parse_rec(string.sub(tok, eq + 1))
      if r then
        in_prev[key_id] = r
        prev_order[#prev_order + 1] = key_id
      end
    end
  end
  local _, fixed_end = string.find(header, '^N1 %d+ %d+ %d+')
  prev_fixed = string.sub(header, 1, fixed_end)
end

-- The response's keys, and the bindings already held for them.
local keys, in_new = {}, {}
for b = 7, #ARGV, 4 do
  local k = { id = ARGV[b], body = ARGV[b + 1], kind = ARGV[b + 2], expired = ARGV[b + 3] }
  keys[#keys + 1] = k
  in_new[k.id] = k
end
local in_k = {} -- key ID -> binding held in a k: field
local k_fields = {}
for _, key_id in ipairs(k_ids) do k_fields[#k_fields + 1] = 'k:' .. key_id end
local k_values = chunked('HMGET', k_fields, CHUNK)
for i, key_id in ipairs(k_ids) do
  local r = k_values[i] and parse_rec(k_values[i])
  if r then in_k[key_id] = r end
end

-- The origin itself overrides provisional bindings (learned from an upstream notary): if it gives
-- one of them another body, the upstream's answer is discredited as a whole. Every provisional
-- binding goes, and the learned response answers for nothing more (it is dropped below, as a
-- response no binding holds).
local overridden, prov_dropped, learned_from = {}, 0, ''
local early_drop, k_rewrite = {}, {}
if upstream == '' then
  for _, k in ipairs(keys) do
    local bound = in_prev[k.id] or in_k[k.id]
    if bound and bound.prov and bound.body ~= k.body then
      overridden[#overridden + 1] = k.id
      overridden[#overridden + 1] = bound.body
      overridden[#overridden + 1] = k.body
    end
  end
  if #overridden > 0 then
    local up = redis.call('HGET', rec, 'up') or ''
    local up_id, up_name = string.match(up, '^(%d+) (%S+)$')
    learned_from = up_name or ''
    for key_id, r in pairs(in_prev) do
      if r.prov then
        in_prev[key_id] = nil
        prov_dropped = prov_dropped + 1
      end
    end
    local order = {}
    for _, key_id in ipairs(prev_order) do
      if in_prev[key_id] then order[#order + 1] = key_id end
    end
    prev_order = order
    for key_id, r in pairs(in_k) do
      if r.prov then
        in_k[key_id] = nil
        early_drop[#early_drop + 1] = 'k:' .. key_id
        prov_dropped = prov_dropped + 1
      end
    end
    -- Ordinary bindings the learned response still answered for (seen by the origin, but retired
    -- with an expired_ts too far ahead) are no longer answered for.
    for _, r in pairs(in_prev) do
      if r.holder == up_id then r.holder = '0' end
    end
    for key_id, r in pairs(in_k) do
      if r.holder == up_id then
        r.holder = '0'
        k_rewrite[key_id] = true
      end
    end
  end
end

-- First seen wins: a bound key ID offered with another body refuses the whole response.
for _, k in ipairs(keys) do
  local bound = in_prev[k.id] or in_k[k.id]
  if bound and bound.body ~= k.body then
    return { 'collision', k.id, bound.body, k.body }
  end
end

local new_id = tostring((prev_id and tonumber(prev_id) or 0) + 1)
local added = 0
local confirmed = 0
local expiry_changes = {}

-- Bindings of the new latest response's keys (kept in its header).
local header_recs = {}
for _, k in ipairs(keys) do
  local r = in_prev[k.id] or in_k[k.id]
  if not r then
    r = { holder = '0', body = k.body, first = now36, active = '', retired = '', expired = '', new = true, prov = upstream ~= '' }
    added = added + 1
  elseif r.prov and upstream == '' then
    r.prov = false -- the origin itself confirms what an upstream said: a permanent binding now
    confirmed = confirmed + 1
  end
  if k.kind == 'a' then
    r.state, r.holder, r.active, r.retired = 'a', new_id, now36, ''
  else
    if r.retired == '' then r.retired = now36 end
    if k.kind == 'o' then
      r.state, r.holder = 'o', new_id
    else
      r.state = 'f' -- not answered from this response; an older one that held it still answers
    end
  end
  if k.expired ~= '0' then
    local offered = b36(k.expired)
    if r.expired == '' then
      r.expired = offered
    elseif r.expired ~= offered then
      -- MSC4499: the first expired_ts recorded stays; a different one is worth a warning.
      expiry_changes[#expiry_changes + 1] = k.id
      expiry_changes[#expiry_changes + 1] = string.format('%d', ms(r.expired))
      expiry_changes[#expiry_changes + 1] = k.expired
    end
  end
  header_recs[k.id] = r
end

-- Key IDs the previous latest listed and the new one does not: their bindings move to k: fields
-- and keep answering from the response that held them (behaviour 4).
local to_k = {}
for _, key_id in ipairs(prev_order) do
  if not in_new[key_id] then
    local r = in_prev[key_id]
    if r.state == 'a' and r.retired == '' then r.retired = now36 end
    r.state = 'g'
    to_k[key_id] = r
  end
end
local stay_k = {}
for key_id, r in pairs(in_k) do
  if not in_new[key_id] then stay_k[key_id] = r end
end

-- At most max_retired retired key IDs stay: past it, those never seen active go first, then the
-- oldest retirement (expired_ts, else last seen active), then the greatest key ID.
local retired = {}
local function add_retired(key_id, r, where)
  if r.state ~= 'a' then retired[#retired + 1] = { id = key_id, r = r, where = where } end
end
for key_id, r in pairs(header_recs) do add_retired(key_id, r, 'h') end
for key_id, r in pairs(to_k) do add_retired(key_id, r, 'n') end
for key_id, r in pairs(stay_k) do add_retired(key_id, r, 'k') end
local evicted = {}
local discarded = 0 -- newly offered key IDs that sort below the bound: never bound at all
local drop_fields = {}
if #retired > max_retired then
  local function effective(r)
    if r.expired ~= '' then return ms(r.expired) end
    return ms(r.active)
  end
  table.sort(retired, function(x, y)
    local cx, cy = x.r.active ~= '', y.r.active ~= ''
    if cx ~= cy then return cy end
    local ex, ey = effective(x.r), effective(y.r)
    if ex ~= ey then return ex < ey end
    return x.id > y.id
  end)
  for i = 1, #retired - max_retired do
    local c = retired[i]
    if c.r.new then
      discarded = discarded + 1
    else
      evicted[#evicted + 1] = c.id
      evicted[#evicted + 1] = c.r.body
    end
    if c.where == 'h' then
      header_recs[c.id] = nil
    elseif c.where == 'n' then
      to_k[c.id] = nil
    else
      stay_k[c.id] = nil
      drop_fields[#drop_fields + 1] = 'k:' .. c.id
    end
  end
end

-- Responses still answering for some key ID; the others go.
local live = { [new_id] = true }
for _, r in pairs(header_recs) do live[r.holder] = true end
for _, r in pairs(to_k) do live[r.holder] = true end
for _, r in pairs(stay_k) do live[r.holder] = true end
for key_id, _ in pairs(in_k) do
  if in_new[key_id] then drop_fields[#drop_fields + 1] = 'k:' .. key_id end -- now in the header
end
for _, id in ipairs(r_ids) do
  if not live[id] then drop_fields[#drop_fields + 1] = 'r:' .. id end
end
for _, f in ipairs(early_drop) do drop_fields[#drop_fields + 1] = f end
chunked('HDEL', drop_fields, CHUNK)
local k_writes = {}
for key_id, r in pairs(to_k) do
  k_writes[#k_writes + 1] = 'k:' .. key_id
  k_writes[#k_writes + 1] = format_rec(r)
end
for key_id, _ in pairs(k_rewrite) do
  local r = stay_k[key_id]
  if r then
    k_writes[#k_writes + 1] = 'k:' .. key_id
    k_writes[#k_writes + 1] = format_rec(r)
  end
end
chunked('HSET', k_writes, 2 * CHUNK)
if prev_id and live[prev_id] then
  redis.call('HSET', rec, 'r:' .. prev_id, prev_fixed .. '\n' .. prev_bytes)
end

local parts = { 'N1', new_id, ARGV[3], now }
for _, k in ipairs(keys) do
  local r = header_recs[k.id]
  if r then parts[#parts + 1] = k.id .. '=' .. format_rec(r) end
end
if upstream ~= '' then
  -- The origin was not reached: its failure count, backoff and claim are the caller's to record.
  redis.call('HSET', rec, 'latest', table.concat(parts, ' ') .. '\n' .. ARGV[2], 'fetched', now, 'up', new_id .. ' ' .. upstream)
else
  redis.call('HSET', rec, 'latest', table.concat(parts, ' ') .. '\n' .. ARGV[2], 'fetched', now,
    'next', string.format('%d', tonumber(now) + tonumber(ARGV[4])))
  -- A success ends the failure count and any error; the refresh election restarts from this fetch.
  redis.call('HDEL', rec, 'busy', 'owner', 'fails', 'rq', 'err')
  -- Once no provisional binding is left, nothing here was learned from an upstream any more.
  local any_prov = false
  for _, t in ipairs({ header_recs, to_k, stay_k }) do
    for _, r in pairs(t) do
      if r.prov then any_prov = true end
    end
  end
  if not any_prov then redis.call('HDEL', rec, 'up') end
end
redis.call('PERSIST', rec)
return { 'stored', new_id, added - discarded, evicted, expiry_changes, discarded, overridden, prov_dropped, confirmed, learned_from }
