"""The Lua scripts of fcc.engine.redis_state against a real Redis: windows, slots with leases,
cooldowns that only grow, usage counters, replica heartbeats; atomic under concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

redis = pytest.importorskip("redis")

from fcc.engine.redis_state import RedisState  # noqa: E402


def run(redis_url: str, prefix: str, scenario: Callable[..., Awaitable[Any]], replicas: int = 1) -> Any:
    async def main() -> Any:
        states = [RedisState(redis_url, prefix) for _ in range(replicas)]
        try:
            return await asyncio.wait_for(scenario(*states), 30)
        finally:
            keys = [key async for key in states[0].redis.scan_iter(match=prefix + "*")]
            if keys:
                await states[0].redis.delete(*keys)
            for state in states:
                await state.close()

    return asyncio.run(main())


# ---------------------------------------------------------------------- windows


def test_window_admits_the_limit_then_says_how_long_to_wait(redis_url: str, redis_prefix: str) -> None:
    async def scenario(state: RedisState) -> list[tuple[bool, float]]:
        results = [await state.take_window("provider:p", 3, 1.0, f"m{i}") for i in range(4)]
        ttl = await state.redis.pttl(state.key("window", "provider:p"))
        assert 0 < ttl <= 1000  # the window's key never outlives the window
        await asyncio.sleep(1.05)
        results.append(await state.take_window("provider:p", 3, 1.0, "m4"))
        return results

    results = run(redis_url, redis_prefix, scenario)
    assert [taken for taken, _ in results[:3]] == [True, True, True]
    assert results[0][1] == 0 and results[1][1] == 0
    assert 0.9 <= results[2][1] <= 1.0  # the third fills it: room again once the first leaves
    assert results[3][0] is False and 0.85 <= results[3][1] <= 1.0
    assert results[4] == (True, 0)  # the window rolled on


def test_window_is_atomic_across_replicas(redis_url: str, redis_prefix: str) -> None:
    """60 simultaneous requests from three replicas for 10 places: exactly 10 get in."""

    async def scenario(*states: RedisState) -> tuple[int, int]:
        calls = [states[i % 3].take_window("provider:p", 10, 30.0, f"r{i % 3}:{i}") for i in range(60)]
        results = await asyncio.gather(*calls)
        members = await states[0].window_members("provider:p")
        return sum(taken for taken, _ in results), len(members)

    taken, stored = run(redis_url, redis_prefix, scenario, replicas=3)
    assert taken == 10
    assert stored == 10


def test_resync_stamps_count_by_their_age(redis_url: str, redis_prefix: str) -> None:
    async def scenario(state: RedisState) -> tuple[int, int, bool, float]:
        # Sent 0.2 s and 0.5 s ago while Redis was away; one from 5 s ago is out of the window.
        added = await state.add_stamps("provider:p", [(0.2, "a"), (0.5, "b"), (5.0, "old")], 1.0)
        again = await state.add_stamps("provider:p", [(0.2, "a")], 1.0)  # pushing twice counts once
        taken, wait = await state.take_window("provider:p", 2, 1.0, "c")
        return added, again, taken, wait

    added, again, taken, wait = run(redis_url, redis_prefix, scenario)
    assert (added, again) == (2, 0)
    assert taken is False
    assert 0.4 <= wait <= 0.55  # room once the stamp from 0.5 s ago leaves the 1 s window


# ------------------------------------------------------------------------ slots


def test_slots_cap_release_and_lease_lapse(redis_url: str, redis_prefix: str) -> None:
    async def scenario(state: RedisState) -> list[bool]:
        seen = [
            await state.acquire_slot("provider:p", 2, "a", 30),
            await state.acquire_slot("provider:p", 2, "b", 0.3),
            await state.acquire_slot("provider:p", 2, "c", 30),  # full
            await state.acquire_slot("provider:p", 2, "a", 30),  # a holder asking again keeps its slot
        ]
        await state.release_slot("provider:p", "a")
        seen.append(await state.acquire_slot("provider:p", 2, "c", 30))  # a's place
        seen.append(await state.acquire_slot("provider:p", 2, "d", 30))  # b still holds its lease
        await asyncio.sleep(0.4)  # b's replica died: its lease lapses
        seen.append(await state.acquire_slot("provider:p", 2, "d", 30))
        return seen

    assert run(redis_url, redis_prefix, scenario) == [True, True, False, True, True, False, True]


def test_renewed_leases_hold_and_others_lapse(redis_url: str, redis_prefix: str) -> None:
    async def scenario(state: RedisState) -> tuple[bool, bool]:
        await state.acquire_slot("provider:p", 2, "kept", 0.3)
        await state.acquire_slot("provider:p", 2, "dead", 0.3)
        for _ in range(3):
            await asyncio.sleep(0.15)
            await state.renew_slots("provider:p", ["kept", "never-held"], 0.3)
        first = await state.acquire_slot("provider:p", 2, "new", 30)
        second = await state.acquire_slot("provider:p", 2, "newer", 30)
        return first, second

    # "dead" lapsed and gave its place; "kept" was renewed and still holds; "never-held" got nothing.
    assert run(redis_url, redis_prefix, scenario) == (True, False)


# -------------------------------------------------------------------- cooldowns


def test_cooldowns_only_grow_and_expire(redis_url: str, redis_prefix: str) -> None:
    async def scenario(state: RedisState) -> list[float]:
        seen = [await state.extend_cooldown("provider:p", 5)]
        seen.append(await state.extend_cooldown("provider:p", 1))  # shorter: ignored
        seen.append(await state.extend_cooldown("provider:p", 0))  # nothing to add
        seen += await state.cooldowns(["provider:p", "provider:none"])
        await state.extend_cooldown("model:m", 0.2)
        await asyncio.sleep(0.3)
        seen += await state.cooldowns(["model:m"])
        await state.clear_cooldown("provider:p")
        seen += await state.cooldowns(["provider:p"])
        return seen

    five, still, zero_added, left, none, lapsed, cleared = run(redis_url, redis_prefix, scenario)
    assert five == 5.0
    assert 4.8 < still <= 5.0 and 4.8 < zero_added <= 5.0 and 4.8 < left <= 5.0
    assert none == 0 and lapsed == 0 and cleared == 0


# ------------------------------------------------------------------------ usage


def test_usage_counters_add_up_and_expire(redis_url: str, redis_prefix: str) -> None:
    async def scenario(*states: RedisState) -> tuple[dict, int, dict]:
        adds = [states[i % 2].add_usage("user:u:day:x", {"requests": 1, "input_tokens": 100, "cost_usd": 0.0015}, 60)
                for i in range(40)]
        await asyncio.gather(*adds)
        totals = await states[0].usage("user:u:day:x")
        ttl = await states[0].redis.pttl(states[0].key("usage", "user:u:day:x"))
        await states[0].add_usage("short", {"requests": 1}, 0.2)
        await asyncio.sleep(0.3)
        return totals, ttl, await states[0].usage("short")

    totals, ttl, expired = run(redis_url, redis_prefix, scenario, replicas=2)
    assert totals["requests"] == 40 and totals["input_tokens"] == 4000
    assert totals["cost_usd"] == pytest.approx(0.06)
    assert 0 < ttl <= 60_000
    assert expired == {}


# --------------------------------------------------------------------- replicas


def test_heartbeats_count_live_replicas(redis_url: str, redis_prefix: str) -> None:
    async def scenario(state: RedisState) -> list[int]:
        seen = [await state.heartbeat("a", 0.3), await state.heartbeat("b", 30), await state.heartbeat("a", 0.3)]
        await asyncio.sleep(0.4)  # a stopped beating
        seen.append(await state.heartbeat("b", 30))
        return seen

    assert run(redis_url, redis_prefix, scenario) == [1, 2, 2, 1]


def test_scripts_survive_a_script_cache_flush(redis_url: str, redis_prefix: str) -> None:
    """A restarted Redis has no scripts loaded; the client loads them again on NOSCRIPT."""

    async def scenario(state: RedisState) -> tuple[bool, float]:
        await state.take_window("provider:p", 5, 10, "a")
        await state.redis.script_flush()
        return await state.take_window("provider:p", 5, 10, "b")

    assert run(redis_url, redis_prefix, scenario) == (True, 0)
