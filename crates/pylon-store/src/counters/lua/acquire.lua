-- Take a concurrency slot.
-- KEYS[1]: a sorted set of lease ids scored by their expiry (ms since the epoch).
-- ARGV: max, ttl (ms), lease id.
-- Returns 1 when the lease was taken, 0 when every slot is held.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[3])
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
