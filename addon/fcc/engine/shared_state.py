"""Where admission and usage state lives: this process (the default) or a Redis shared by replicas.

The engine asks a `QuotaState` for storage operations only (stamp a request window, hold a
concurrency slot, push a cooldown deadline, add to usage counters); what to do with the
answers (wait, probe, fall back, refuse) stays with admission and the retry policy.

`MemoryState` keeps everything in this process, as fcc always did. `fcc.engine.failover.SharedState`
puts it in Redis (`fcc.engine.redis_state`) and, when Redis cannot be reached, keeps serving
from a `MemoryState` with each limit shared out among the replicas last seen, says so once,
and pushes what it did meanwhile back to Redis when Redis answers again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict, deque
from typing import Protocol

log = logging.getLogger("fcc")

OP_TIMEOUT = 1.0  # a Redis call slower than this counts as Redis being down
RETRY_EVERY = 1.0  # while down: how often to try Redis again
HEARTBEAT_EVERY = 1.0  # while up: replica heartbeat, what the others hold, shared cooldowns
REPLICA_TTL = 10.0
# Back from an outage, a replica keeps to its share a little longer (while also stamping
# Redis): the others may still be alone, with stamps Redis does not know yet.
GRACE = 2 * RETRY_EVERY + OP_TIMEOUT


class QuotaState(Protocol):
    """Storage for admission and usage. Keys are plain names (`provider:nim`); times are seconds."""

    shared: bool

    async def take_window(self, key: str, limit: int, window: float, member: str) -> tuple[bool, float]:
        """Stamp `member` into the rolling window if fewer than `limit` are in it.

        Returns (taken, wait): when taken, wait is how long until the window has room again
        (0 when it still has room); when not taken, how long until the oldest stamp leaves it."""
        ...

    def watch_window(self, key: str, window: float) -> None:
        """This replica is about to use the window: keep track of it before its first stamp."""
        ...

    async def acquire_slot(self, key: str, limit: int, holder: str, lease: float) -> bool:
        """Hold one of `limit` slots for `lease` seconds (renewed by the holder; a dead holder's lapses)."""
        ...

    async def renew_slots(self, key: str, holders: list[str], lease: float) -> None: ...

    async def release_slot(self, key: str, holder: str) -> None: ...

    async def extend_cooldown(self, key: str, seconds: float) -> float:
        """Push the key's deadline to at least now + seconds (never earlier); the seconds left."""
        ...

    async def cooldowns(self, keys: list[str]) -> list[float]:
        """Seconds left on each key's deadline (0 when none)."""
        ...

    async def clear_cooldown(self, key: str) -> None: ...

    async def add_usage(self, key: str, amounts: dict[str, float], ttl: float) -> None:
        """Add to the counters of `key`, which expire `ttl` seconds after the last addition."""
        ...

    async def usage(self, key: str) -> dict[str, float]: ...


class MemoryState:
    """This process only: what fcc did before replicas, and the fallback while Redis is down."""

    shared = False

    def __init__(self) -> None:
        self._windows: dict[str, deque[tuple[float, str]]] = defaultdict(deque)
        self._slots: dict[str, dict[str, float]] = defaultdict(dict)
        self._deadlines: dict[str, float] = {}
        self._usage: dict[str, tuple[dict[str, float], float]] = {}

    async def take_window(self, key: str, limit: int, window: float, member: str) -> tuple[bool, float]:
        return self.take_window_now(key, limit, window, member)

    def watch_window(self, key: str, window: float) -> None:
        pass

    def take_window_now(self, key: str, limit: int, window: float, member: str) -> tuple[bool, float]:
        now = time.monotonic()
        stamps = self._windows[key]
        while stamps and now - stamps[0][0] >= window:
            stamps.popleft()
        if len(stamps) < limit:
            stamps.append((now, member))
            wait = stamps[-limit][0] + window - now if len(stamps) >= limit else 0.0
            return True, max(0.0, wait)
        return False, max(0.0, stamps[-limit][0] + window - now)

    def stamps(self, key: str, window: float) -> list[tuple[float, str]]:
        """(age in seconds, member) of the stamps still inside the window."""
        now = time.monotonic()
        return [(now - at, member) for at, member in self._windows.get(key, ()) if now - at < window]

    async def acquire_slot(self, key: str, limit: int, holder: str, lease: float) -> bool:
        now = time.monotonic()
        held = self._slots[key]
        for other, until in list(held.items()):
            if until <= now:
                del held[other]
        if holder in held or len(held) < limit:
            held[holder] = now + lease
            return True
        return False

    def holders(self, key: str) -> list[str]:
        now = time.monotonic()
        return [holder for holder, until in self._slots.get(key, {}).items() if until > now]

    async def renew_slots(self, key: str, holders: list[str], lease: float) -> None:
        held = self._slots.get(key, {})
        for holder in holders:
            if holder in held:
                held[holder] = time.monotonic() + lease

    async def release_slot(self, key: str, holder: str) -> None:
        self._slots.get(key, {}).pop(holder, None)

    async def extend_cooldown(self, key: str, seconds: float) -> float:
        return self.extend_cooldown_now(key, seconds)

    def extend_cooldown_now(self, key: str, seconds: float) -> float:
        now = time.monotonic()
        until = max(self._deadlines.get(key, 0.0), now + max(0.0, seconds))
        self._deadlines[key] = until
        return until - now

    async def cooldowns(self, keys: list[str]) -> list[float]:
        now = time.monotonic()
        return [max(0.0, self._deadlines.get(key, 0.0) - now) for key in keys]

    def deadlines(self) -> dict[str, float]:
        now = time.monotonic()
        return {key: until - now for key, until in self._deadlines.items() if until > now}

    async def clear_cooldown(self, key: str) -> None:
        self._deadlines.pop(key, None)

    async def add_usage(self, key: str, amounts: dict[str, float], ttl: float) -> None:
        now = time.monotonic()
        counters, expires = self._usage.get(key, ({}, 0.0))
        if expires <= now:
            counters = {}
        for name, amount in amounts.items():
            counters[name] = counters.get(name, 0) + amount
        self._usage[key] = (counters, now + ttl)

    async def usage(self, key: str) -> dict[str, float]:
        counters, expires = self._usage.get(key, ({}, 0.0))
        return dict(counters) if expires > time.monotonic() else {}


STATE: QuotaState = MemoryState()
_CONFIGURED: str | None = None


def redacted_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        credentials, _, host = rest.rpartition("@")
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user + ':' if user else ''}***@{host}"
    return url


def configure(url: str | None, prefix: str = "fcc:") -> QuotaState:
    """Select the state for this process: Redis at `url`, else this process's memory.

    Called on every (re)configure; the state is only replaced when the URL changes, so a
    config reload keeps windows and cooldowns."""
    global STATE, _CONFIGURED
    key = f"{url}|{prefix}" if url else None
    if key == _CONFIGURED:
        return STATE
    old = STATE
    if url:
        from fcc.engine.failover import SharedState
        from fcc.engine.redis_state import RedisState

        STATE = SharedState(RedisState(url, prefix), redacted_url(url))
        log.info("fcc: admission and usage state shared through %s (key prefix %r)", redacted_url(url), prefix)
    else:
        STATE = MemoryState()
    _CONFIGURED = key
    if old.shared:
        try:
            asyncio.get_running_loop().create_task(old.close())  # type: ignore[attr-defined]
        except RuntimeError:
            pass
    return STATE


async def shutdown() -> None:
    if STATE.shared:
        await STATE.close()  # type: ignore[attr-defined]
