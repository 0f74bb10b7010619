-- Reserve an amount from several pots at once, all or none.
-- KEYS: per pot, its hash (fields `spent`, `reserved`, `r:<id>`) then its sorted set of
--       reservation ids scored by their expiry (ms since the epoch).
-- ARGV[1]: reservation id; ARGV[2]: reservation ttl (ms);
--   then per pot: limit, amount, key lifetime (s, 0 = none).
-- Returns {0} when reserved, else {pot index (1-based), spent, reserved}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id, ttl = ARGV[1], tonumber(ARGV[2])
local n = #KEYS / 2
for i = 1, n do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local old = redis.call('ZRANGEBYSCORE', z, '-inf', now)
  for _, rid in ipairs(old) do
    local amt = redis.call('HGET', h, 'r:' .. rid)
    if amt then
      redis.call('HINCRBY', h, 'reserved', -tonumber(amt))
      redis.call('HDEL', h, 'r:' .. rid)
    end
  end
  if #old > 0 then
    redis.call('ZREMRANGEBYSCORE', z, '-inf', now)
  end
  local limit = tonumber(ARGV[3 * i])
  local amount = tonumber(ARGV[3 * i + 1])
  local spent = tonumber(redis.call('HGET', h, 'spent') or '0')
  local reserved = tonumber(redis.call('HGET', h, 'reserved') or '0')
  if spent + reserved + amount > limit or (amount == 0 and spent + reserved >= limit) then
    return {i, spent, reserved}
  end
end
for i = 1, n do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local amount = tonumber(ARGV[3 * i + 1])
  local life = tonumber(ARGV[3 * i + 2])
  redis.call('HINCRBY', h, 'reserved', amount)
  redis.call('HSET', h, 'r:' .. id, amount)
  redis.call('ZADD', z, now + ttl, id)
  if life > 0 then
    redis.call('EXPIRE', h, life)
    redis.call('EXPIRE', z, life)
  end
end
return {0}
