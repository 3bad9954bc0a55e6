-- Renews or releases a lock taken with SET NX PX, only for its holder.
-- KEYS[1]: the lock. ARGV[1] the holder's token, ARGV[2] the new lifetime (ms), or 0 to release.
-- Returns 1 when the caller held the lock (renewed or released), 0 when it did not (expired, or
-- taken by another since).
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '0' then
  redis.call('DEL', KEYS[1])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
