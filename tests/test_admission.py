"""Per-provider admission: request window, concurrency cap, cooldowns, the post-cooldown probe,
and per-model learned cooldowns. Real asyncio with short times (the window is shrunk)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from fcc.engine import admission
from fcc.engine.admission import AdmissionTimeout, ModelHealth, ProviderGate, gate_for

EPS = 0.03  # timer slack on the early side
LATE = 0.35  # generous slack on the late side (loaded CI machines)


def run(coro_factory: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(coro_factory(), 10))


class Timeline:
    """Records when each request got in and out, relative to the start."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.events: list[tuple[str, str, float]] = []
        self.active = 0
        self.max_active = 0

    def now(self) -> float:
        return time.monotonic() - self.start

    def entered(self, name: str) -> float:
        return next(t for n, kind, t in self.events if n == name and kind == "in")

    def left(self, name: str) -> float:
        return next(t for n, kind, t in self.events if n == name and kind == "out")

    async def request(
        self,
        gate: ProviderGate,
        name: str,
        hold: float = 0.0,
        max_wait: float = 5.0,
        then: Callable[[], None] | None = None,
        verdict: bool | None = True,
        verdict_after: float | None = None,
    ) -> None:
        """Hold a slot for `hold` seconds; give the provider's verdict (`slot.settle`) after
        `verdict_after` seconds (default: at the end), then run `then`."""
        async with gate.slot(max_wait=max_wait) as slot:
            self.events.append((name, "in", self.now()))
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            try:
                first = hold if verdict_after is None else min(verdict_after, hold)
                await asyncio.sleep(first)
                if then is not None:
                    then()
                if verdict is not None:
                    slot.settle(verdict)
                    self.events.append((name, "verdict", self.now()))
                await asyncio.sleep(hold - first)
            finally:
                self.active -= 1
                self.events.append((name, "out", self.now()))

    def at(self, name: str, kind: str) -> float:
        return next(t for n, k, t in self.events if n == name and k == kind)


@pytest.fixture
def small_window(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(admission, "WINDOW_SECONDS", 0.3)
    monkeypatch.setattr(admission, "WINDOW_MARGIN_MIN", 0.0)  # timings below are in fractions of this window
    return 0.3


# ---------------------------------------------------------------------- window


def test_fourth_request_waits_for_the_window(small_window: float) -> None:
    async def scenario() -> Timeline:
        gate = ProviderGate(requests_per_minute=3, max_concurrency=None)
        timeline = Timeline()
        await asyncio.gather(*(timeline.request(gate, name) for name in "abcd"))
        return timeline

    timeline = run(scenario)
    for name in "abc":
        assert timeline.entered(name) < 0.15
    # The fourth gets in once the first send leaves the window.
    assert timeline.entered("d") >= timeline.entered("a") + small_window - EPS
    assert timeline.entered("d") < small_window + LATE


def test_window_frees_up_again(small_window: float) -> None:
    async def scenario() -> tuple[float, float, float]:
        gate = ProviderGate(requests_per_minute=2, max_concurrency=None)
        for _ in range(2):
            async with gate.slot():
                pass
        full = gate.wait_estimate()
        await asyncio.sleep(small_window + 0.05)
        start = time.monotonic()
        for _ in range(2):
            async with gate.slot():
                pass
        return full, time.monotonic() - start, gate.admitted

    full, elapsed, admitted = run(scenario)
    assert 0 < full <= small_window * (1 + admission.WINDOW_MARGIN_FRACTION)
    assert elapsed < 0.15  # a fresh window: no waiting
    assert admitted == 4


def test_no_limits_means_no_waiting() -> None:
    async def scenario() -> float:
        gate = ProviderGate(None, None)
        start = time.monotonic()
        await asyncio.gather(*(Timeline().request(gate, str(i)) for i in range(50)))
        return time.monotonic() - start

    assert run(scenario) < 0.5


# ----------------------------------------------------------------- concurrency


def test_concurrency_cap() -> None:
    async def scenario() -> Timeline:
        gate = ProviderGate(requests_per_minute=None, max_concurrency=2)
        timeline = Timeline()
        await asyncio.gather(*(timeline.request(gate, name, hold=0.2) for name in "abc"))
        assert gate.active == 0
        return timeline

    timeline = run(scenario)
    assert timeline.max_active == 2
    assert timeline.entered("a") < 0.1 and timeline.entered("b") < 0.1
    assert timeline.entered("c") >= min(timeline.left("a"), timeline.left("b")) - EPS
    assert timeline.entered("c") >= 0.2 - EPS


def test_slot_is_released_when_the_request_fails() -> None:
    async def scenario() -> int:
        gate = ProviderGate(None, max_concurrency=1)
        with pytest.raises(RuntimeError):
            async with gate.slot(max_wait=0.2):
                raise RuntimeError("upstream exploded")
        async with gate.slot(max_wait=0.2):  # would time out if the slot leaked
            return gate.active

    assert run(scenario) == 1


# -------------------------------------------------------------------- cooldown


def test_cooldown_delays_the_next_request() -> None:
    async def scenario() -> Timeline:
        gate = ProviderGate(None, None)
        gate.cool_down(0.3)
        assert 0.25 < gate.wait_estimate() <= 0.3
        timeline = Timeline()
        await timeline.request(gate, "a")
        return timeline

    timeline = run(scenario)
    assert 0.3 - EPS <= timeline.entered("a") < 0.3 + LATE


def test_cooldown_only_grows() -> None:
    gate = ProviderGate(None, None)
    gate.cool_down(5)
    gate.cool_down(1)
    assert gate.wait_estimate() > 4
    gate.cool_down(-3)  # a negative retry-after is no reason to shorten anything
    assert gate.wait_estimate() > 4


# ---------------------------------------------------------------- max_wait


def test_admission_timeout_on_a_long_cooldown() -> None:
    async def scenario() -> tuple[float, AdmissionTimeout]:
        gate = ProviderGate(None, None)
        gate.cool_down(30)
        start = time.monotonic()
        with pytest.raises(AdmissionTimeout) as caught:
            async with gate.slot(max_wait=0.2):
                pytest.fail("admitted during a cooldown")
        return time.monotonic() - start, caught.value

    elapsed, error = run(scenario)
    assert elapsed < 0.25  # no point waiting when the wait is known to be too long
    assert 29 < error.wait <= 30
    assert "30 s" in str(error) or "29 s" in str(error)


def test_admission_timeout_on_a_full_window(small_window: float, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(admission, "WINDOW_SECONDS", 10.0)

    async def scenario() -> AdmissionTimeout:
        gate = ProviderGate(requests_per_minute=1, max_concurrency=None)
        async with gate.slot():
            pass
        with pytest.raises(AdmissionTimeout) as caught:
            async with gate.slot(max_wait=0.1):
                pass
        return caught.value

    assert 9 < run(scenario).wait <= 10 * (1 + admission.WINDOW_MARGIN_FRACTION)


def test_admission_timeout_waiting_for_a_concurrency_slot() -> None:
    async def scenario() -> float:
        gate = ProviderGate(None, max_concurrency=1)
        holder = asyncio.create_task(Timeline().request(gate, "holder", hold=1.0))
        await asyncio.sleep(0.05)
        start = time.monotonic()
        with pytest.raises(AdmissionTimeout):
            async with gate.slot(max_wait=0.2):
                pass
        elapsed = time.monotonic() - start
        holder.cancel()
        return elapsed

    elapsed = run(scenario)
    assert 0.2 - EPS <= elapsed < 0.2 + LATE


# ----------------------------------------------------------------------- probe


def test_after_a_cooldown_one_probe_goes_first() -> None:
    async def scenario() -> Timeline:
        gate = ProviderGate(None, None)
        gate.cool_down(0.15)
        timeline = Timeline()
        await asyncio.gather(*(timeline.request(gate, name, hold=0.15) for name in "abc"))
        return timeline

    timeline = run(scenario)
    first = min("abc", key=timeline.entered)
    others = [name for name in "abc" if name != first]
    assert timeline.entered(first) >= 0.15 - EPS
    # Nobody else is let in before the probe's verdict.
    for name in others:
        assert timeline.entered(name) >= timeline.at(first, "verdict") - EPS
    # The probe succeeded: the others go together, not one by one.
    assert abs(timeline.entered(others[0]) - timeline.entered(others[1])) < 0.1
    assert timeline.max_active == 2


def test_a_healthy_verdict_frees_the_waiters_before_the_probe_ends() -> None:
    """The verdict is the answer's status; a long stream after it must not hold the others back."""

    async def scenario() -> Timeline:
        gate = ProviderGate(None, None)
        gate.cool_down(0.05)
        timeline = Timeline()
        probe = asyncio.create_task(timeline.request(gate, "probe", hold=0.5, verdict_after=0.1))
        await asyncio.sleep(0.01)
        await asyncio.gather(timeline.request(gate, "b"), timeline.request(gate, "c"))
        await probe
        return timeline

    timeline = run(scenario)
    for name in "bc":
        assert timeline.at("probe", "verdict") - EPS <= timeline.entered(name) < timeline.left("probe")


def test_a_failed_probe_makes_the_others_wait_for_the_new_cooldown() -> None:
    async def scenario() -> tuple[Timeline, float]:
        gate = ProviderGate(None, None)
        gate.cool_down(0.1)
        timeline = Timeline()
        cooled: list[float] = []

        def provider_says_429_again() -> None:
            gate.cool_down(0.3)
            cooled.append(timeline.now())

        probe = asyncio.create_task(
            timeline.request(gate, "probe", hold=0.1, then=provider_says_429_again, verdict=False)
        )
        await asyncio.sleep(0.01)
        await asyncio.gather(timeline.request(gate, "b", hold=0.1), timeline.request(gate, "c", hold=0.1))
        await probe
        return timeline, cooled[0]

    timeline, cooled_at = run(scenario)
    for name in "bc":
        assert timeline.entered(name) >= cooled_at + 0.3 - EPS, timeline.events
    # After the second cooldown there is again exactly one probe first.
    second, third = sorted("bc", key=timeline.entered)
    assert timeline.entered(third) >= timeline.at(second, "verdict") - EPS


def test_a_probe_without_a_verdict_does_not_wedge_the_provider() -> None:
    async def scenario() -> Timeline:
        gate = ProviderGate(None, None)
        gate.cool_down(0.05)
        timeline = Timeline()

        async def crashing_probe() -> None:
            def boom() -> None:
                raise ConnectionError("reset by peer")

            with pytest.raises(ConnectionError):
                await timeline.request(gate, "probe", hold=0.1, then=boom)

        probe = asyncio.create_task(crashing_probe())
        await asyncio.sleep(0.01)
        await timeline.request(gate, "b")
        await probe
        return timeline

    timeline = run(scenario)
    # No verdict counts as "not known healthy": b is the next probe, admitted once the first is over.
    assert timeline.entered("b") >= timeline.left("probe") - EPS
    assert timeline.entered("b") < timeline.left("probe") + LATE


def test_a_cancelled_probe_does_not_wedge_the_provider() -> None:
    async def scenario() -> Timeline:
        gate = ProviderGate(None, None)
        gate.cool_down(0.05)
        timeline = Timeline()
        probe = asyncio.create_task(timeline.request(gate, "probe", hold=5.0, verdict=None))
        await asyncio.sleep(0.01)
        waiter = asyncio.create_task(timeline.request(gate, "b"))
        await asyncio.sleep(0.2)
        probe.cancel()  # the client hung up mid-probe
        await waiter
        return timeline

    timeline = run(scenario)
    assert timeline.entered("b") < 0.6


# ---------------------------------------------------------------- model health


def test_model_health_strikes_grow_the_cooldown(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(admission.time, "monotonic", lambda: clock[0])
    health = ModelHealth()
    slug = "nvidia_nim/moonshotai/kimi-k2"

    def refused(retry_after: float | None) -> float:
        clock[0] += 2 * ModelHealth.BURST  # separate refusals, not one burst
        return health.rate_limited(slug, retry_after)

    # Two 429s are normal life: only the provider's own retry-after counts.
    assert refused(None) == 0
    assert refused(5) == 5
    assert health.cooling_for(slug) == pytest.approx(5)
    # From the third on, a learned pause that doubles.
    pauses = [refused(None) for _ in range(8)]
    assert pauses[:4] == [30, 60, 120, 240]
    assert pauses == sorted(pauses) and max(pauses) == ModelHealth.MAX_COOLDOWN
    assert health.cooling_for(slug) == pytest.approx(ModelHealth.MAX_COOLDOWN)
    # A provider's longer retry-after still wins over the learned pause.
    assert health.rate_limited("other/model", 2000) == 2000
    # Time passes: the pause runs out.
    clock[0] += ModelHealth.MAX_COOLDOWN + 1
    assert health.cooling_for(slug) == 0


def test_model_health_success_and_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [50.0]
    monkeypatch.setattr(admission.time, "monotonic", lambda: clock[0])
    health = ModelHealth()
    for _ in range(3):
        clock[0] += 2 * ModelHealth.BURST
        health.rate_limited("a/m", None)
    assert health.cooling_for("a/m") == pytest.approx(30)
    assert health.cooling_for("b/m") == 0  # per model
    health.succeeded("a/m")
    assert health.cooling_for("a/m") == 0
    assert health.rate_limited("a/m", None) == 0  # strikes were forgotten
    # Strikes far apart do not add up.
    health.rate_limited("a/m", None)
    clock[0] += ModelHealth.STRIKE_MEMORY + 1
    assert health.rate_limited("a/m", None) == 0


def test_model_health_a_burst_of_429s_is_one_strike(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [10.0]
    monkeypatch.setattr(admission.time, "monotonic", lambda: clock[0])
    health = ModelHealth()
    # Three concurrent requests refused at the same moment: one refusal, no learned pause.
    assert [health.rate_limited("n/m", None) for _ in range(3)] == [0, 0, 0]
    assert health.cooling_for("n/m") == 0


def test_gate_for_shares_a_gate_per_provider_and_limits() -> None:
    first = gate_for("test_provider_x", 10, 2)
    assert gate_for("test_provider_x", 10, 2) is first
    assert gate_for("test_provider_x", 20, 2) is not first  # a config change gets fresh limits
    assert gate_for("test_provider_y", 10, 2) is not first
    assert (first.requests_per_minute, first.max_concurrency) == (10, 2)
