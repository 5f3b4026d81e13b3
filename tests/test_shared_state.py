"""SharedState: Redis first, this replica's memory while Redis is down (limits divided by the
replicas last seen), one log line each way, and the resync when Redis is back (even empty)."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

pytest.importorskip("redis")

from fcc.engine import shared_state
from fcc.engine.redis_state import RedisState
from fcc.engine.failover import SharedState
from fcc.engine.shared_state import MemoryState
from tests.support.redis_server import RedisServer

WINDOW = 30.0


@pytest.fixture(autouse=True)
def quick_heartbeats(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shared_state, "HEARTBEAT_EVERY", 0.1)
    monkeypatch.setattr(shared_state, "RETRY_EVERY", 0.1)
    monkeypatch.setattr(shared_state, "OP_TIMEOUT", 0.5)


async def until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def test_memory_state_window_and_slots() -> None:
    async def scenario() -> list:
        state = MemoryState()
        seen = [await state.take_window("k", 2, 0.2, m) for m in "abc"]
        await asyncio.sleep(0.25)
        seen.append(await state.take_window("k", 2, 0.2, "d"))
        seen.append([await state.acquire_slot("s", 1, h, 0.1) for h in ("x", "y")])
        await asyncio.sleep(0.15)
        seen.append(await state.acquire_slot("s", 1, "y", 0.1))  # x's lease lapsed
        return seen

    a, b, c, d, slots, lapsed = asyncio.run(scenario())
    assert a == (True, 0) and b[0] is True and 0.15 < b[1] <= 0.2 and c[0] is False
    assert d == (True, 0)
    assert slots == [True, False] and lapsed is True


def test_outage_serves_locally_with_a_share_of_the_limit_then_resyncs(
    own_redis: RedisServer, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fcc")

    async def scenario() -> dict:
        a = SharedState(RedisState(own_redis.url, redis_prefix), "redis://test")
        b = SharedState(RedisState(own_redis.url, redis_prefix), "redis://test")
        try:
            # Both replicas up: one window of 6 between them.
            for replica in (a, b):
                for i in range(2):
                    assert (await replica.take_window("provider:p", 6, WINDOW, f"{replica.replica_id}:{i}"))[0]
            await until(lambda: a.replicas == 2 and b.replicas == 2)
            await asyncio.sleep(0.3)  # a few heartbeats: each has read what the other holds
            await a.add_usage("user:u:day:x", {"requests": 1, "input_tokens": 10}, 600)

            own_redis.kill()
            # Down: each replica may send 6 // 2 = 3 in the window, counting its own 2 already sent.
            during = [await replica.take_window("provider:p", 6, WINDOW, f"{replica.replica_id}:o{i}")
                      for replica in (a, b) for i in range(2)]
            await a.add_usage("user:u:day:x", {"requests": 1, "input_tokens": 5}, 600)
            await a.extend_cooldown("provider:p", 20)
            slot_down = [await a.acquire_slot("provider:p", 4, h, 30) for h in ("h1", "h2", "h3")]
            usage_down = await a.usage("user:u:day:x")
            assert not a.up and not b.up

            own_redis.start()  # back, and empty (nothing was saved)
            await until(lambda: a.up and b.up)
            check = RedisState(own_redis.url, redis_prefix)
            try:
                members = await check.window_members("provider:p")
                usage_after = await check.usage("user:u:day:x")
                cooldown = (await check.cooldowns(["provider:p"]))[0]
                # The shared window resumed with every stamp still in it: the 7th is refused.
                refused = await a.take_window("provider:p", 6, WINDOW, "late")
            finally:
                await check.close()
            return {"during": during, "slot_down": slot_down, "usage_down": usage_down, "members": len(members),
                    "usage_after": usage_after, "cooldown": cooldown, "refused": refused}
        finally:
            await a.close()
            await b.close()

    result = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert [taken for taken, _ in result["during"]] == [True, False, True, False]
    assert result["slot_down"] == [True, True, False]  # 4 slots shared by 2 replicas: 2 each
    assert result["usage_down"] == {"requests": 2, "input_tokens": 15}  # local totals meanwhile
    assert result["members"] == 6  # 4 from before the outage + 2 during it, pushed back
    assert result["usage_after"] == {"requests": 1, "input_tokens": 5}  # what Redis missed (it lost the rest)
    assert 15 < result["cooldown"] <= 20
    assert result["refused"][0] is False
    down = [r for r in caplog.records if "unreachable" in r.getMessage()]
    back = [r for r in caplog.records if "is back;" in r.getMessage()]
    assert len(down) == 2 and len(back) == 2  # once per replica each way, however many calls failed
    assert "divided by 2 replicas" in down[0].getMessage()


def test_redis_down_from_the_start_still_serves(redis_prefix: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="fcc")
    from tests.support.procs import free_port

    async def scenario() -> list:
        state = SharedState(RedisState(f"redis://127.0.0.1:{free_port()}/0", redis_prefix), "redis://nowhere")
        try:
            return [await state.take_window("provider:p", 2, WINDOW, str(i)) for i in range(3)]
        finally:
            await state.close()

    results = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert [taken for taken, _ in results] == [True, True, False]
    assert len([r for r in caplog.records if "unreachable" in r.getMessage()]) == 1


def test_configure_picks_the_state_and_keeps_it_across_reloads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shared_state, "STATE", MemoryState())
    monkeypatch.setattr(shared_state, "_CONFIGURED", None)
    shared = shared_state.configure("redis://user:pw@127.0.0.1:1/0")
    assert isinstance(shared, SharedState) and shared.description == "redis://user:***@127.0.0.1:1/0"
    assert shared_state.configure("redis://user:pw@127.0.0.1:1/0") is shared  # a reload keeps windows
    assert isinstance(shared_state.configure(None), MemoryState)
