"""The shared state's failover: Redis first, this replica's own memory while Redis is away.

Used when routes.yaml names a Redis (`fcc.engine.shared_state.configure`); the storage
operations are those of `fcc.engine.shared_state.QuotaState`.
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
from typing import Any

from fcc.engine import shared_state
from fcc.engine.shared_state import MemoryState

log = logging.getLogger("fcc")

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
        self._watched: set[str] = set()  # provider windows, known before their first stamp
        self._slot_keys: dict[str, float] = {}  # slot key -> lease
        self._slot_others: dict[str, dict[str, int]] = {}  # slot key -> {other replica: slots it held}
        self._alone_until = 0.0
        self._replica_counts: deque[tuple[float, int]] = deque()
        self._replicas_before = 1
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
            return True, await asyncio.wait_for(call(), shared_state.OP_TIMEOUT)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # redis errors, OSError, timeouts: all mean "not now"
            self._went_down(exc)
            return False, None

    async def _maintain(self) -> None:
        while True:
            if self.up:
                ok, count = await self._remote(lambda: self.remote.heartbeat(self.replica_id, shared_state.REPLICA_TTL))
                if ok:
                    self._count_replicas(int(count))
                    await self._refresh_windows()
                    for hook in list(self._tick_hooks):
                        try:
                            await hook()
                        except Exception:
                            log.debug("fcc: shared state refresh failed", exc_info=True)
                await asyncio.sleep(shared_state.HEARTBEAT_EVERY if self.up else shared_state.RETRY_EVERY)
            else:
                try:
                    await asyncio.wait_for(self.remote.ping(), shared_state.OP_TIMEOUT)
                    await asyncio.wait_for(self._resync(), 10 * shared_state.OP_TIMEOUT)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    await asyncio.sleep(shared_state.RETRY_EVERY)
                    continue
                self.up = True
                self._said_down = False
                self._alone_until = time.monotonic() + shared_state.GRACE
                self._replicas_before = self.replicas

    def _count_replicas(self, count: int) -> None:
        """Replicas alive: the most seen over the last heartbeat TTL. Right after an outage the
        others' heartbeats have lapsed; believing the dip would hand each one a larger share."""
        now = time.monotonic()
        self._replica_counts.append((now, max(1, count)))
        while self._replica_counts and now - self._replica_counts[0][0] > shared_state.REPLICA_TTL:
            self._replica_counts.popleft()
        self.replicas = max(n for _, n in self._replica_counts)
        if self._alone_until > now:
            self.replicas = max(self.replicas, self._replicas_before)

    def _alone(self) -> bool:
        return not self.up or time.monotonic() < self._alone_until

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
        for key in list(self._slot_keys):
            ok, holders = await self._remote(functools.partial(self.remote.slot_holders, key))
            if not ok:
                return
            counts: dict[str, int] = defaultdict(int)
            for holder in holders:
                replica = holder.rpartition(":")[0]
                if replica != self.replica_id:
                    counts[replica] += 1
            self._slot_others[key] = dict(counts)

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
        for key, lease in list(self._slot_keys.items()):
            await self.remote.add_holders(key, self.local.holders(key), lease)
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
    def watch_window(self, key: str, window: float) -> None:
        self._windows[key] = window
        self._watched.add(key)

    async def take_window(self, key: str, limit: int, window: float, member: str) -> tuple[bool, float]:
        self._windows[key] = window
        if self._alone():
            taken, wait = self._take_alone(key, limit, window, member)
            if taken and self.up:  # the grace after an outage: Redis must learn of it too
                await self._remote(lambda: self.remote.add_stamps(key, [(0.0, member)], window))
            return taken, wait
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
        if key not in self._others and key in self._watched:
            # A provider window this replica never read: it may be full. Wait until it has rolled by.
            self._others[key] = (now, {"(unknown)": [0.0] * limit})
        if key not in self._others:
            self._others[key] = (now, {})  # a window nobody used (a user's first request): shares
        at, others = self._others[key]
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
        return False, max(0.01, min(expiries, default=shared_state.RETRY_EVERY))

    async def acquire_slot(self, key: str, limit: int, holder: str, lease: float) -> bool:
        self._slot_keys[key] = lease
        if not self._alone():
            ok, result = await self._remote(lambda: self.remote.acquire_slot(key, limit, holder, lease))
            if ok:
                if result:
                    await self.local.acquire_slot(key, 1 << 30, holder, lease)  # mirror
                return bool(result)
        # Alone: a share of the slots, leaving room for what the others held when last seen.
        share = self._share(limit)
        own = len(self.local.holders(key))
        others = self._slot_others.get(key, {})
        unseen = max(0, self.replicas - 1 - len(others))
        room_for_others = sum(max(share, held) for held in others.values()) + share * unseen
        if own >= share or own + 1 + room_for_others > limit:
            return False
        await self.local.acquire_slot(key, 1 << 30, holder, lease)
        if self.up:
            await self._remote(lambda: self.remote.add_holders(key, [holder], lease))
        return True

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
