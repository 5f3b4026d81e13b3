"""`QuotaState` on Redis, for replicas that share one provider quota.

Every operation that reads and then writes is one Lua script, so two replicas can never
both take the last place in a window (no read-modify-write races), and every script uses
Redis's own clock (`TIME`), so replicas on hosts with skewed clocks still agree. Each
script touches a single key (fine under Redis Cluster), and every key expires:

    <prefix>window:<name>    sorted set: member -> time it was stamped (ms); expires with the window
    <prefix>slots:<name>     sorted set: holder -> lease end (ms); a dead replica's lease lapses
    <prefix>cooldown:<name>  string whose TTL is the cooldown: it only ever grows
    <prefix>usage:<name>     hash of counters (requests, tokens, cost); expires ttl after the last add
    <prefix>replicas         sorted set: replica -> heartbeat expiry (ms)
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

_NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

# KEYS[1] window; ARGV limit, window_ms, member -> {taken 0/1, wait_ms, stamps now in the window}
TAKE_WINDOW = _NOW + """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
local taken = 0
if n < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  n = n + 1
  taken = 1
  if n < limit then return {1, 0, n} end
end
-- the stamp that has to leave before there is room again
local oldest = redis.call('ZRANGE', KEYS[1], n - limit, n - limit, 'WITHSCORES')
return {taken, math.max(0, tonumber(oldest[2]) + window - now), n}
"""

# KEYS[1] window; ARGV window_ms, then (age_ms, member) pairs -> stamps added
ADD_STAMPS = _NOW + """
local window = tonumber(ARGV[1])
local added = 0
for i = 2, #ARGV, 2 do
  local age = tonumber(ARGV[i])
  if age < window then
    added = added + redis.call('ZADD', KEYS[1], 'NX', now - age, ARGV[i + 1])
  end
end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], window) end
return added
"""

# KEYS[1] window; ARGV window_ms -> {member, age_ms, member, age_ms, ...} of the stamps in the window
WINDOW_STAMPS = _NOW + """
local found = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - tonumber(ARGV[1])), '+inf', 'WITHSCORES')
for i = 2, #found, 2 do found[i] = now - tonumber(found[i]) end
return found
"""

# KEYS[1] slots; ARGV limit, holder, lease_ms -> 1 held / 0 full
ACQUIRE_SLOT = _NOW + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[2]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
  return 1
end
return 0
"""

# KEYS[1] slots -> {holder, holder, ...} whose lease runs
SLOT_HOLDERS = _NOW + """
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
"""

# KEYS[1] slots; ARGV lease_ms, holders... -> holders added (a resync: held while Redis was away)
FORCE_SLOTS = _NOW + """
local lease = tonumber(ARGV[1])
local added = 0
for i = 2, #ARGV do
  added = added + redis.call('ZADD', KEYS[1], now + lease, ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], lease)
return added
"""

# KEYS[1] slots; ARGV lease_ms, holders... -> leases renewed (only those still held)
RENEW_SLOTS = _NOW + """
local lease = tonumber(ARGV[1])
local renewed = 0
for i = 2, #ARGV do
  renewed = renewed + redis.call('ZADD', KEYS[1], 'XX', 'CH', now + lease, ARGV[i])
end
if renewed > 0 then redis.call('PEXPIRE', KEYS[1], lease) end
return renewed
"""

# KEYS[1] cooldown; ARGV ms -> ms left (the deadline only grows)
EXTEND_COOLDOWN = """
local want = tonumber(ARGV[1])
local left = redis.call('PTTL', KEYS[1])
if want > left then
  redis.call('SET', KEYS[1], '1', 'PX', want)
  return want
end
return math.max(left, 0)
"""

# KEYS[1] usage hash; ARGV ttl_ms, then (name, amount) pairs
ADD_USAGE = """
for i = 2, #ARGV, 2 do
  redis.call('HINCRBYFLOAT', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
return 1
"""

# KEYS[1] replicas; ARGV replica id, ttl_ms -> replicas alive
HEARTBEAT = _NOW + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return redis.call('ZCARD', KEYS[1])
"""


def _ms(seconds: float) -> int:
    return max(1, int(round(seconds * 1000)))


class RedisState:
    shared = True

    def __init__(self, url: str, prefix: str = "fcc:", client: Any = None) -> None:
        self.prefix = prefix
        # No retries inside the client: one failure marks Redis down, and fcc goes on locally.
        self.redis = client or aioredis.Redis.from_url(
            url, socket_timeout=1.0, socket_connect_timeout=1.0, retry=Retry(NoBackoff(), 0),
            health_check_interval=0, decode_responses=True,
        )
        self._take = self.redis.register_script(TAKE_WINDOW)
        self._stamps = self.redis.register_script(ADD_STAMPS)
        self._window_stamps = self.redis.register_script(WINDOW_STAMPS)
        self._acquire = self.redis.register_script(ACQUIRE_SLOT)
        self._renew = self.redis.register_script(RENEW_SLOTS)
        self._holders = self.redis.register_script(SLOT_HOLDERS)
        self._force = self.redis.register_script(FORCE_SLOTS)
        self._extend = self.redis.register_script(EXTEND_COOLDOWN)
        self._add_usage = self.redis.register_script(ADD_USAGE)
        self._heartbeat = self.redis.register_script(HEARTBEAT)

    def key(self, kind: str, name: str) -> str:
        return f"{self.prefix}{kind}:{name}"

    async def ping(self) -> bool:
        return bool(await self.redis.ping())

    async def take_window(self, key: str, limit: int, window: float, member: str) -> tuple[bool, float]:
        taken, wait, _count = await self.take_window_counted(key, limit, window, member)
        return taken, wait

    async def take_window_counted(self, key: str, limit: int, window: float, member: str) -> tuple[bool, float, int]:
        """take_window, and how many stamps (all replicas') the window holds now."""
        taken, wait_ms, count = await self._take(keys=[self.key("window", key)], args=[limit, _ms(window), member])
        return bool(taken), int(wait_ms) / 1000, int(count)

    async def add_stamps(self, key: str, entries: list[tuple[float, str]], window: float) -> int:
        args: list[Any] = [_ms(window)]
        for age, member in entries:
            args += [int(age * 1000), member]
        return int(await self._stamps(keys=[self.key("window", key)], args=args))

    async def window_stamps(self, key: str, window: float) -> list[tuple[str, float]]:
        """(member, age in seconds) of every stamp in the window, by Redis's clock."""
        flat = await self._window_stamps(keys=[self.key("window", key)], args=[_ms(window)])
        return [(flat[i], int(flat[i + 1]) / 1000) for i in range(0, len(flat), 2)]

    async def window_members(self, key: str) -> list[tuple[str, float]]:
        members: Any = await self.redis.zrange(self.key("window", key), 0, -1, withscores=True)
        return [(str(member), float(score)) for member, score in members]  # decode_responses: str already

    async def acquire_slot(self, key: str, limit: int, holder: str, lease: float) -> bool:
        return bool(await self._acquire(keys=[self.key("slots", key)], args=[limit, holder, _ms(lease)]))

    async def renew_slots(self, key: str, holders: list[str], lease: float) -> None:
        if holders:
            await self._renew(keys=[self.key("slots", key)], args=[_ms(lease), *holders])

    async def release_slot(self, key: str, holder: str) -> None:
        await self.redis.zrem(self.key("slots", key), holder)

    async def slot_holders(self, key: str) -> list[str]:
        return list(await self._holders(keys=[self.key("slots", key)]))

    async def add_holders(self, key: str, holders: list[str], lease: float) -> int:
        if not holders:
            return 0
        return int(await self._force(keys=[self.key("slots", key)], args=[_ms(lease), *holders]))

    async def extend_cooldown(self, key: str, seconds: float) -> float:
        if seconds <= 0:
            return (await self.cooldowns([key]))[0]
        return int(await self._extend(keys=[self.key("cooldown", key)], args=[_ms(seconds)])) / 1000

    async def cooldowns(self, keys: list[str]) -> list[float]:
        if not keys:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.pttl(self.key("cooldown", key))
            left = await pipe.execute()
        return [max(0, int(ms)) / 1000 for ms in left]

    async def clear_cooldown(self, key: str) -> None:
        await self.redis.delete(self.key("cooldown", key))

    async def add_usage(self, key: str, amounts: dict[str, float], ttl: float) -> None:
        args: list[Any] = [_ms(ttl)]
        for name, amount in amounts.items():
            args += [name, repr(float(amount))]
        await self._add_usage(keys=[self.key("usage", key)], args=args)

    async def usage(self, key: str) -> dict[str, float]:
        raw = await self.redis.hgetall(self.key("usage", key))
        return {str(name): float(value) for name, value in raw.items()}  # decode_responses: str already

    async def heartbeat(self, replica: str, ttl: float) -> int:
        return int(await self._heartbeat(keys=[f"{self.prefix}replicas"], args=[replica, _ms(ttl)]))

    async def close(self) -> None:
        await self.redis.aclose()
