-- Settle a reservation: release what it held and add what was really spent.
-- KEYS: per pot, its hash then its sorted set (as in reserve.lua).
-- ARGV[1]: reservation id; then per pot: actual amount, key lifetime (s, 0 = none).
-- Returns per pot {spent before, spent after}.
local id = ARGV[1]
local out = {}
for i = 1, #KEYS / 2 do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local actual = tonumber(ARGV[2 * i])
  local life = tonumber(ARGV[2 * i + 1])
  local amt = redis.call('HGET', h, 'r:' .. id)
  if amt then
    redis.call('HINCRBY', h, 'reserved', -tonumber(amt))
    redis.call('HDEL', h, 'r:' .. id)
    redis.call('ZREM', z, id)
  end
  local before = tonumber(redis.call('HGET', h, 'spent') or '0')
  local after = before
  if actual > 0 then
    after = redis.call('HINCRBY', h, 'spent', actual)
  end
  if life > 0 then
    redis.call('EXPIRE', h, life)
  end
  out[i] = {before, after}
end
return out
