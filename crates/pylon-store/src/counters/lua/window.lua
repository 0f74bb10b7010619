-- Sliding window, two-window approximation (see algo.rs::window; keep the
-- two in step).
-- KEYS[1]: a hash {s: start of the current fixed window (us), c: its count,
--          p: the previous window's count}.
-- ARGV: window (microseconds), limit, cost.
-- Returns {allowed (0|1), remaining, reset_after_us, retry_after_us}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local w = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local start = now - math.fmod(now, w)
local v = redis.call('HMGET', KEYS[1], 's', 'c', 'p')
local s = tonumber(v[1]) or 0
local cur = tonumber(v[2]) or 0
local prev = tonumber(v[3]) or 0
if s ~= start then
  if s + w == start then prev = cur else prev = 0 end
  cur = 0
end
local elapsed = now - start
local estimate = math.ceil(prev * (w - elapsed) / w) + cur
local function reset_after(c)
  if c > 0 then return start + 2 * w - now end
  if prev > 0 then return start + w - now end
  return 0
end
if estimate + cost <= limit then
  cur = cur + cost
  redis.call('HSET', KEYS[1], 's', string.format('%.0f', start), 'c', cur, 'p', prev)
  local ttl_ms = math.max(1, math.ceil((start + 2 * w - now) / 1000))
  redis.call('PEXPIRE', KEYS[1], string.format('%.0f', ttl_ms))
  return {1, limit - estimate - cost, reset_after(cur), 0}
end
local retry
if cost > limit then
  retry = w
elseif cur + cost > limit then
  retry = (start + w - now) + math.ceil(w * (cur + cost - limit) / cur)
else
  local room = limit - cur - cost
  retry = math.max(1, math.ceil(w * (prev - room) / prev) - elapsed)
end
local remaining = limit - estimate
if remaining < 0 then remaining = 0 end
return {0, remaining, reset_after(cur), retry}
