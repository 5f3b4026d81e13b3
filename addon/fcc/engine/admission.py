"""Per-provider admission: a request window, a concurrency cap and learned cooldowns.

A request waits its turn in the engine (only that flow waits). Waiters are
served first come, first served (asyncio.Lock is FIFO). State lives in this
package module, not in the reloadable entry script, so a script reload keeps
quotas and cooldowns.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from contextlib import asynccontextmanager
from collections.abc import AsyncIterator

WINDOW_SECONDS = 60.0
# Requests take a moment to reach the provider; counting them a little longer than its
# window keeps fcc's count from expiring just before the provider's does.
WINDOW_MARGIN_FRACTION = 1 / 120  # half a second of a one-minute window


class ProviderGate:
    def __init__(self, requests_per_minute: int | None, max_concurrency: int | None) -> None:
        self.requests_per_minute = requests_per_minute
        self.max_concurrency = max_concurrency
        self._sent: deque[float] = deque()
        self._turn = asyncio.Lock()
        self._slots = asyncio.Semaphore(max_concurrency) if max_concurrency else None
        self.cooldown_until = 0.0
        self.active = 0
        self.admitted = 0
        # After a cooldown one request probes the provider; the others wait for its outcome
        # instead of all hitting a provider that may still be refusing (no retry storms).
        self._probe_needed = False
        self._probe_done: asyncio.Event | None = None

    def cool_down(self, seconds: float) -> None:
        """The provider told us to wait (429 retry-after, reset headers)."""
        self.cooldown_until = max(self.cooldown_until, time.monotonic() + max(0.0, seconds))
        self._probe_needed = True

    def wait_estimate(self) -> float:
        now = time.monotonic()
        wait = max(0.0, self.cooldown_until - now)
        if self.requests_per_minute and len(self._sent) >= self.requests_per_minute:
            wait = max(wait, self._sent[0] + WINDOW_SECONDS * (1 + WINDOW_MARGIN_FRACTION) - now)
        return wait

    async def _wait_cooldown(self, deadline: float) -> None:
        while True:
            wait = self.cooldown_until - time.monotonic()
            if wait <= 0:
                return
            if time.monotonic() + wait > deadline:
                raise AdmissionTimeout(wait)
            await asyncio.sleep(min(wait, 1.0))

    async def _take_window(self, deadline: float) -> None:
        while True:
            now = time.monotonic()
            while self._sent and now - self._sent[0] >= WINDOW_SECONDS * (1 + WINDOW_MARGIN_FRACTION):
                self._sent.popleft()
            wait = self.wait_estimate()
            if wait <= 0:
                self._sent.append(now)
                return
            if now + wait > deadline:
                raise AdmissionTimeout(wait)
            await asyncio.sleep(min(wait, 1.0))

    async def _claim_probe_or_wait(self, deadline: float) -> bool:
        """After a cooldown: True when this request is the probe; otherwise wait for the
        probe's verdict and the cooldown it may have set, then go on as a normal request."""
        while True:
            await self._wait_cooldown(deadline)
            if not self._probe_needed:
                return False
            if self._probe_done is None:
                self._probe_done = asyncio.Event()
                return True
            try:
                await asyncio.wait_for(self._probe_done.wait(), max(0.01, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                raise AdmissionTimeout(self.wait_estimate()) from None

    def _end_probe(self, healthy: bool) -> None:
        if healthy:
            self._probe_needed = False
        done, self._probe_done = self._probe_done, None
        if done is not None:
            done.set()

    @asynccontextmanager
    async def slot(self, max_wait: float = 240.0) -> AsyncIterator[Slot]:
        """Wait for cooldowns, the window and a concurrency slot; AdmissionTimeout past max_wait.

        The holder calls `slot.settle(ok)` as soon as the provider's answer status is
        known, so a probe's verdict frees the waiting requests without waiting for its
        whole stream to end.
        """
        deadline = time.monotonic() + max_wait
        acquired = False
        slot: Slot | None = None
        try:
            # The concurrency slot first, so that the window is stamped when the request
            # is really about to be sent: a provider counts requests when they arrive.
            if self._slots is not None:
                try:
                    await asyncio.wait_for(self._slots.acquire(), max(0.01, max_wait))
                except asyncio.TimeoutError:
                    raise AdmissionTimeout(self.wait_estimate()) from None
                acquired = True
            try:
                # One queue, first come first served: cooldown, probe verdict, then the window.
                await asyncio.wait_for(self._turn.acquire(), max(0.01, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                raise AdmissionTimeout(self.wait_estimate()) from None
            try:
                slot = Slot(self, await self._claim_probe_or_wait(deadline))
                await self._take_window(deadline)
            finally:
                self._turn.release()
            self.active += 1
            self.admitted += 1
            try:
                yield slot
            finally:
                self.active -= 1
        finally:
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
        return pause

    def succeeded(self, slug: str) -> None:
        self._strikes.pop(slug, None)
        self._until.pop(slug, None)

    def cooling_for(self, slug: str) -> float:
        return max(0.0, self._until.get(slug, 0.0) - time.monotonic())


MODELS = ModelHealth()

_GATES: dict[tuple[str, int | None, int | None], ProviderGate] = {}


def gate_for(provider_id: str, requests_per_minute: int | None, max_concurrency: int | None) -> ProviderGate:
    key = (provider_id, requests_per_minute, max_concurrency)
    gate = _GATES.get(key)
    if gate is None:
        gate = _GATES[key] = ProviderGate(requests_per_minute, max_concurrency)
    return gate
