"""Where admission and usage state lives: this process (the default) or a Redis shared by replicas.

The engine asks a `QuotaState` for storage operations only (stamp a request window, hold a
concurrency slot, push a cooldown deadline, add to usage counters); what to do with the
answers (wait, probe, fall back, refuse) stays with admission and the retry policy.

`MemoryState` keeps everything in this process, as fcc always did. `SharedState` puts it in
Redis (`fcc.engine.redis_state`) and, when Redis cannot be reached, keeps serving from a
`MemoryState` with each limit divided by the number of replicas last seen, says so once,
and pushes what it did meanwhile back to Redis when Redis answers again.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

log = logging.getLogger("fcc")

OP_TIMEOUT = 1.0  # a Redis call slower than this counts as Redis being down
RETRY_EVERY = 1.0  # while down: how often to try Redis again
HEARTBEAT_EVERY = 1.0  # while up: replica heartbeat, what the others hold, shared cooldowns
REPLICA_TTL = 10.0


class QuotaState(Protocol):
    """Storage for admission and usage. Keys are plain names (`provider:nim`); times are seconds."""

    shared: bool

    async def take_window(self, key: str, limit: int, window: float, member: str) -> tuple[bool, float]:
        """Stamp `member` into the rolling window if fewer than `limit` are in it.

        Returns (taken, wait): when taken, wait is how long until the window has room again
        (0 when it still has room); when not taken, how long until the oldest stamp leaves it."""
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


class SharedState:
    """Redis first; this process's own `MemoryState` while Redis is unreachable.

    While up, this replica's window stamps are mirrored locally, and every heartbeat reads
    which stamps the other replicas hold (members are tagged with their replica). While down,
    each of N replicas (the heartbeats last seen) keeps to a share, limit // N, of every
    window, counting its own stamps, and also leaves room for what the others may hold: a
    replica that was over its share before the outage stays at what it had until that ages
    out. Together they stay under the provider's limit, give or take the stamps the others
    took in the last heartbeat before Redis went away. Stamps, cooldowns and usage taken
    meanwhile are pushed to Redis when it answers again.
    """

    shared = True

    def __init__(self, remote: Any, description: str) -> None:
        self.remote = remote  # a RedisState
        self.local = MemoryState()
        self.description = description  # the URL without its password, for the log
        self.replica_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.up = True
        self.replicas = 1
        self._windows: dict[str, float] = {}  # window key -> its length, for the resync
        # window key -> (when read, {other replica: ages of its stamps then})
        self._others: dict[str, tuple[float, dict[str, list[float]]]] = {}
        self._outage_usage: dict[str, tuple[dict[str, float], float]] = {}
        self._outage_cooldowns: set[str] = set()
        self._task: asyncio.Task | None = None
        self._tick_hooks: list[Callable[[], Awaitable[None]]] = []
        self._said_down = False

    # ------------------------------------------------------------ plumbing
    def on_tick(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run `hook` (e.g. a refresh of mirrored cooldowns) every heartbeat while Redis is up."""
        if hook not in self._tick_hooks:
            self._tick_hooks.append(hook)

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._maintain())

    def _went_down(self, exc: BaseException) -> None:
        if self.up:
            self.up = False
            if not self._said_down:
                self._said_down = True
                log.warning("fcc: shared state %s unreachable (%s); serving with this replica's own limits "
                            "(each divided by %d replicas) until it is back", self.description,
                            type(exc).__name__, self.replicas)

    async def _remote(self, call: Callable[[], Awaitable[Any]]) -> tuple[bool, Any]:
        self._ensure_running()
        if not self.up:
            return False, None
        try:
            return True, await asyncio.wait_for(call(), OP_TIMEOUT)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # redis errors, OSError, timeouts: all mean "not now"
            self._went_down(exc)
            return False, None

    async def _maintain(self) -> None:
        while True:
            if self.up:
                ok, count = await self._remote(lambda: self.remote.heartbeat(self.replica_id, REPLICA_TTL))
                if ok:
                    self.replicas = max(1, int(count))
                    await self._refresh_windows()
                    for hook in list(self._tick_hooks):
                        try:
                            await hook()
                        except Exception:
                            log.debug("fcc: shared state refresh failed", exc_info=True)
                await asyncio.sleep(HEARTBEAT_EVERY if self.up else RETRY_EVERY)
            else:
                try:
                    await asyncio.wait_for(self.remote.ping(), OP_TIMEOUT)
                    await asyncio.wait_for(self._resync(), 10 * OP_TIMEOUT)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    await asyncio.sleep(RETRY_EVERY)
                    continue
                self.up = True
                self._said_down = False

    async def _refresh_windows(self) -> None:
        """What the other replicas hold in each window: what an outage starts from."""
        for key, window in list(self._windows.items()):
            ok, stamps = await self._remote(functools.partial(self.remote.window_stamps, key, window))
            if not ok:
                return
            others: dict[str, list[float]] = defaultdict(list)
            for member, age in stamps:
                replica = member.rpartition(":")[0]
                if replica != self.replica_id:
                    others[replica].append(age)
            self._others[key] = (time.monotonic(), dict(others))

    async def _resync(self) -> None:
        """Redis is back (maybe empty after a restart): give it what this replica did meanwhile."""
        stamps = 0
        # Every stamp this replica still has in a window, not only the outage's: a restarted
        # Redis is empty, and members are unique, so a Redis that kept them counts none twice.
        for key, window in list(self._windows.items()):
            entries = self.local.stamps(key, window)
            if entries:
                await self.remote.add_stamps(key, entries, window)
                stamps += len(entries)
        for key, (amounts, ttl) in list(self._outage_usage.items()):
            await self.remote.add_usage(key, amounts, ttl)
        for key, left in self.local.deadlines().items():
            if key in self._outage_cooldowns:
                await self.remote.extend_cooldown(key, left)
        log.warning("fcc: shared state %s is back; resynchronised %d window stamps, %d usage counters",
                    self.description, stamps, len(self._outage_usage))
        self._outage_usage.clear()
        self._outage_cooldowns.clear()

    def _share(self, limit: int) -> int:
        return max(1, limit // self.replicas)

    # ---------------------------------------------------------- operations
    async def take_window(self, key: str, limit: int, window: float, member: str) -> tuple[bool, float]:
        self._windows[key] = window
        ok, result = await self._remote(lambda: self.remote.take_window(key, limit, window, member))
        if ok:
            if result[0]:
                self.local.take_window_now(key, 1 << 30, window, member)  # mirror, never refused
            return result
        return self._take_alone(key, limit, window, member)

    def _take_alone(self, key: str, limit: int, window: float, member: str) -> tuple[bool, float]:
        share = self._share(limit)
        now = time.monotonic()
        own = sorted(age for age, _ in self.local.stamps(key, window))
        at, others = self._others.get(key, (now, {}))
        elapsed = now - at
        # Another replica keeps to max(share, what it held): it sends nothing while over its share.
        held = {replica: [age + elapsed for age in ages if age + elapsed < window] for replica, ages in others.items()}
        unseen = max(0, self.replicas - 1 - len(held))
        room_for_others = sum(max(share, len(ages)) for ages in held.values()) + share * unseen
        if len(own) < share and len(own) + 1 + room_for_others <= limit:
            self.local.take_window_now(key, 1 << 30, window, member)
            return True, 0.0
        # Room again when one of this replica's stamps, or one of an over-share replica's, ages out.
        expiries = [window - age for age in own[-1:]]
        expiries += [window - max(ages) for ages in held.values() if len(ages) > share]
        return False, max(0.01, min(expiries, default=RETRY_EVERY))

    async def acquire_slot(self, key: str, limit: int, holder: str, lease: float) -> bool:
        ok, result = await self._remote(lambda: self.remote.acquire_slot(key, limit, holder, lease))
        if ok:
            return bool(result)
        return await self.local.acquire_slot(key, self._share(limit), holder, lease)

    async def renew_slots(self, key: str, holders: list[str], lease: float) -> None:
        await self._remote(lambda: self.remote.renew_slots(key, holders, lease))
        await self.local.renew_slots(key, holders, lease)

    async def release_slot(self, key: str, holder: str) -> None:
        await self._remote(lambda: self.remote.release_slot(key, holder))
        await self.local.release_slot(key, holder)

    async def extend_cooldown(self, key: str, seconds: float) -> float:
        local = self.local.extend_cooldown_now(key, seconds)
        ok, result = await self._remote(lambda: self.remote.extend_cooldown(key, seconds))
        if ok:
            return float(result)
        self._outage_cooldowns.add(key)
        return local

    async def cooldowns(self, keys: list[str]) -> list[float]:
        local = await self.local.cooldowns(keys)
        ok, result = await self._remote(lambda: self.remote.cooldowns(keys))
        return [max(a, b) for a, b in zip(local, result)] if ok else local

    async def clear_cooldown(self, key: str) -> None:
        await self.local.clear_cooldown(key)
        await self._remote(lambda: self.remote.clear_cooldown(key))

    async def add_usage(self, key: str, amounts: dict[str, float], ttl: float) -> None:
        ok, _ = await self._remote(lambda: self.remote.add_usage(key, amounts, ttl))
        await self.local.add_usage(key, amounts, ttl)
        if not ok:
            pending, _ttl = self._outage_usage.get(key, ({}, ttl))
            for name, amount in amounts.items():
                pending[name] = pending.get(name, 0) + amount
            self._outage_usage[key] = (pending, ttl)

    async def usage(self, key: str) -> dict[str, float]:
        ok, result = await self._remote(lambda: self.remote.usage(key))
        return result if ok else await self.local.usage(key)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.remote.close()


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
        from fcc.engine.redis_state import RedisState

        STATE = SharedState(RedisState(url, prefix), redacted_url(url))
        log.info("fcc: admission and usage state shared through %s (key prefix %r)", redacted_url(url), prefix)
    else:
        STATE = MemoryState()
    _CONFIGURED = key
    if isinstance(old, SharedState):
        try:
            asyncio.get_running_loop().create_task(old.close())
        except RuntimeError:
            pass
    return STATE


async def shutdown() -> None:
    if isinstance(STATE, SharedState):
        await STATE.close()
