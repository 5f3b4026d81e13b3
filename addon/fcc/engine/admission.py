"""Per-provider admission: a request window, a concurrency cap and learned cooldowns.

A request waits its turn in the engine (only that flow waits). Waiters are
served first come, first served (asyncio.Lock is FIFO). State lives in this
package module, not in the reloadable entry script, so a script reload keeps
quotas and cooldowns.

The windows, slots and cooldown deadlines are kept by `fcc.engine.shared_state.STATE`:
this process's memory by default, or a Redis that several replicas share. Waiting,
ordering and the post-cooldown probe are this replica's own business.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from contextlib import asynccontextmanager
from collections.abc import AsyncIterator, Awaitable, Callable

from fcc.engine import shared_state

# The length of the `requests_per_minute` window. FCC_WINDOW_SECONDS shortens it, e.g. for
# tests that run a one-minute limit's rules in seconds.
WINDOW_SECONDS = float(os.environ.get("FCC_WINDOW_SECONDS") or 60.0)
SLOT_LEASE = 30.0  # a shared concurrency slot whose replica died is free again after this
SLOT_POLL = 0.05  # how often a waiter asks the shared state for a slot
# Requests take a moment to reach the provider; counting them a little longer than its
# window keeps fcc's count from expiring just before the provider's does.
WINDOW_MARGIN_FRACTION = 1 / 120  # half a second of a one-minute window
# ...and never less than this: the time from fcc's stamp to the provider's count is network
# and scheduling, which does not shrink with a shorter window (FCC_WINDOW_SECONDS).
WINDOW_MARGIN_MIN = 0.5


def counted_window() -> float:
    """How long a request stays in fcc's count of a provider's window."""
    return WINDOW_SECONDS + max(WINDOW_SECONDS * WINDOW_MARGIN_FRACTION, WINDOW_MARGIN_MIN)


_SERIAL = itertools.count()
_BACKGROUND: set[asyncio.Task] = set()


def _in_background(write: Callable[[shared_state.QuotaState], Awaitable[object]]) -> None:
    """Write-through to a shared state from sync code; the local mirror already holds the value."""
    state = shared_state.STATE
    if not state.shared:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    task: asyncio.Task[object] = loop.create_task(write(state))  # type: ignore[arg-type]
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


def window_member() -> str:
    return f"{getattr(shared_state.STATE, 'replica_id', 'local')}:{next(_SERIAL)}"


class ProviderGate:
    def __init__(self, requests_per_minute: int | None, max_concurrency: int | None, key: str = "") -> None:
        self.requests_per_minute = requests_per_minute
        self.max_concurrency = max_concurrency
        self.key = key or f"gate-{id(self)}"  # the provider id: what the shared state counts under
        self._window_free_at = 0.0
        self._turn = asyncio.Lock()
        self._slots = asyncio.Semaphore(max_concurrency) if max_concurrency else None
        self.cooldown_until = 0.0
        self.active = 0
        self.admitted = 0
        self.waiting = 0
        # After a cooldown one request probes the provider; the others wait for its outcome
        # instead of all hitting a provider that may still be refusing (no retry storms).
        self._probe_needed = False
        self._probe_done: asyncio.Event | None = None

    def cool_down(self, seconds: float) -> None:
        """The provider told us to wait (429 retry-after, reset headers)."""
        self.cooldown_until = max(self.cooldown_until, time.monotonic() + max(0.0, seconds))
        self._probe_needed = True
        if seconds > 0:
            _in_background(lambda state: state.extend_cooldown(f"provider:{self.key}", seconds))

    def wait_estimate(self) -> float:
        now = time.monotonic()
        return max(0.0, self.cooldown_until - now, self._window_free_at - now)

    async def _refresh_cooldown(self) -> None:
        """Another replica may have been told to wait: adopt the shared deadline."""
        state = shared_state.STATE
        if not state.shared:
            return
        left = (await state.cooldowns([f"provider:{self.key}"]))[0]
        until = time.monotonic() + left
        if left > 0 and until > self.cooldown_until + 0.05:
            self.cooldown_until = until
            self._probe_needed = True

    async def _wait_cooldown(self, deadline: float) -> None:
        while True:
            wait = self.cooldown_until - time.monotonic()
            if wait <= 0:
                return
            if time.monotonic() + wait > deadline:
                raise AdmissionTimeout(wait)
            await asyncio.sleep(min(wait, 1.0))

    async def _take_window(self, deadline: float) -> None:
        if not self.requests_per_minute:
            return
        window = counted_window()
        while True:
            await self._wait_cooldown(deadline)
            taken, wait = await shared_state.STATE.take_window(
                f"provider:{self.key}", self.requests_per_minute, window, window_member())
            now = time.monotonic()
            self._window_free_at = now + wait
            if taken:
                return
            wait = max(wait, self.cooldown_until - now, 0.01)
            if now + wait > deadline:
                raise AdmissionTimeout(wait)
            await asyncio.sleep(min(wait, 1.0))

    async def _claim_probe_or_wait(self, deadline: float) -> bool:
        """After a cooldown: True when this request is the probe; otherwise wait for the
        probe's verdict and the cooldown it may have set, then go on as a normal request."""
        await self._refresh_cooldown()
        while True:
            await self._wait_cooldown(deadline)
            if not self._probe_needed:
                return False
            if self._probe_done is None:
                self._probe_done = asyncio.Event()
                return True
            try:
                await asyncio.wait_for(self._probe_done.wait(), max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                raise AdmissionTimeout(self.wait_estimate()) from None

    def _end_probe(self, healthy: bool) -> None:
        if healthy:
            self._probe_needed = False
        done, self._probe_done = self._probe_done, None
        if done is not None:
            done.set()

    async def _shared_slot(self, deadline: float) -> str | None:
        """With a shared state, a concurrency slot counted across replicas (held under a lease)."""
        state = shared_state.STATE
        if not state.shared or not self.max_concurrency:
            return None
        holder = window_member()
        while not await state.acquire_slot(f"provider:{self.key}", self.max_concurrency, holder, SLOT_LEASE):
            if time.monotonic() + SLOT_POLL > deadline:
                raise AdmissionTimeout(self.wait_estimate())
            await asyncio.sleep(SLOT_POLL)
        return holder

    async def _renew(self, holder: str) -> None:
        while True:
            await asyncio.sleep(SLOT_LEASE / 3)
            await shared_state.STATE.renew_slots(f"provider:{self.key}", [holder], SLOT_LEASE)

    @asynccontextmanager
    async def slot(self, max_wait: float = 240.0) -> AsyncIterator[Slot]:
        """Wait for cooldowns, the window and a concurrency slot; AdmissionTimeout past max_wait.

        The holder calls `slot.settle(ok)` as soon as the provider's answer status is
        known, so a probe's verdict frees the waiting requests without waiting for its
        whole stream to end.
        """
        deadline = time.monotonic() + max_wait
        if self.requests_per_minute:
            shared_state.STATE.watch_window(f"provider:{self.key}", counted_window())
        acquired = False
        holder: str | None = None
        renewal: asyncio.Task | None = None
        slot: Slot | None = None
        self.waiting += 1
        waiting = True
        try:
            # The concurrency slot first, so that the window is stamped when the request
            # is really about to be sent: a provider counts requests when they arrive.
            if self._slots is not None:
                try:
                    await asyncio.wait_for(self._slots.acquire(), max(0.01, max_wait))
                except TimeoutError:
                    raise AdmissionTimeout(self.wait_estimate()) from None
                acquired = True
                holder = await self._shared_slot(deadline)
                if holder is not None:
                    renewal = asyncio.ensure_future(self._renew(holder))
            try:
                # One queue, first come first served: cooldown, probe verdict, then the window.
                await asyncio.wait_for(self._turn.acquire(), max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                raise AdmissionTimeout(self.wait_estimate()) from None
            try:
                slot = Slot(self, await self._claim_probe_or_wait(deadline))
                await self._take_window(deadline)
            finally:
                self._turn.release()
            self.waiting -= 1
            waiting = False
            self.active += 1
            self.admitted += 1
            try:
                yield slot
            finally:
                self.active -= 1
        finally:
            if waiting:
                self.waiting -= 1
            if renewal is not None:
                renewal.cancel()
            if holder is not None:
                key = f"provider:{self.key}"
                _in_background(lambda state: state.release_slot(key, holder))
            if acquired and self._slots is not None:
                self._slots.release()
            if slot is not None:
                # A probe that ends without a verdict (cancelled, timed out) must not wedge the provider.
                slot.settle(False)


class Slot:
    __slots__ = ("_gate", "_probing", "_settled")

    def __init__(self, gate: ProviderGate, probing: bool) -> None:
        self._gate = gate
        self._probing = probing
        self._settled = False

    def settle(self, healthy: bool) -> None:
        if self._settled:
            return
        self._settled = True
        if self._probing:
            self._gate._end_probe(healthy)


class AdmissionTimeout(Exception):
    def __init__(self, wait: float) -> None:
        super().__init__(f"provider quota: next slot in {wait:.0f} s")
        self.wait = wait


class ModelHealth:
    """Cooldowns learned per provider/model: repeated 429s on one model grow its pause.

    Free tiers limit some models per hour (NIM kimi/deepseek ~30 req/h), which a
    provider-wide window cannot see; a model that keeps refusing is skipped for
    longer each time, so its route's fallback answers instead.
    """

    MAX_COOLDOWN = 900.0
    STRIKE_MEMORY = 300.0
    BURST = 1.0

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._strikes: dict[str, tuple[int, float]] = {}
        self._seen: set[str] = set()

    def rate_limited(self, slug: str, retry_after: float | None) -> float:
        now = time.monotonic()
        strikes, last = self._strikes.get(slug, (0, 0.0))
        if now - last < self.BURST:
            strikes = max(strikes, 1)  # 429s arriving together are one refusal, not several
        else:
            strikes = strikes + 1 if now - last < self.STRIKE_MEMORY else 1
        self._strikes[slug] = (strikes, now)
        learned = 0.0 if strikes < 3 else min(self.MAX_COOLDOWN, 30.0 * 2 ** (strikes - 3))
        pause = max(retry_after or 0.0, learned)
        self._until[slug] = max(self._until.get(slug, 0.0), now + pause)
        if pause > 0:
            _in_background(lambda state: state.extend_cooldown(f"model:{slug}", pause))
        return pause

    def succeeded(self, slug: str) -> None:
        self._strikes.pop(slug, None)
        if self._until.pop(slug, None) is not None:
            _in_background(lambda state: state.clear_cooldown(f"model:{slug}"))

    def cooling_for(self, slug: str) -> float:
        self._seen.add(slug)
        return max(0.0, self._until.get(slug, 0.0) - time.monotonic())

    async def refresh(self) -> None:
        """Adopt the cooldowns other replicas learned (strikes stay each replica's own)."""
        slugs = sorted(self._seen)
        left = await shared_state.STATE.cooldowns([f"model:{slug}" for slug in slugs])
        now = time.monotonic()
        for slug, seconds in zip(slugs, left):
            if seconds > 0:
                self._until[slug] = max(self._until.get(slug, 0.0), now + seconds)


MODELS = ModelHealth()

_GATES: dict[tuple[str, int | None, int | None], ProviderGate] = {}


def gate_for(provider_id: str, requests_per_minute: int | None, max_concurrency: int | None) -> ProviderGate:
    key = (provider_id, requests_per_minute, max_concurrency)
    gate = _GATES.get(key)
    if gate is None:
        gate = _GATES[key] = ProviderGate(requests_per_minute, max_concurrency, key=provider_id)
    state = shared_state.STATE
    if state.shared:
        state.on_tick(MODELS.refresh)  # type: ignore[attr-defined]
    return gate


def gates() -> list[ProviderGate]:
    """Every gate in use (the metrics read queue depths and cooldowns from them)."""
    return list(_GATES.values())
