-- Remembers why the last fetch of an origin failed or was refused, for `matrix-notary inspect`.
-- KEYS[1]: the origin's record (SCHEMA.md). ARGV[1]: '<ms> <reason> <message>'. Written only into a record
-- that exists (a claimed fetch always made one), so a name that never answers leaves nothing behind
-- past the record's own lifetime. A stored response clears it.
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'err', ARGV[1])
  return 1
end
return 0
