"""The lazy idle timer: silence is cut, a steady trickle and a slow client are not."""

from __future__ import annotations

import asyncio

import pytest

from fcc.engine.watchdog import IdleWatchdog


def run(coro):
    return asyncio.run(coro)


def test_silence_raises_timeout_error() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(TimeoutError):
            async with IdleWatchdog(0.2):
                await asyncio.sleep(5)
        return loop.time() - start

    assert 0.18 <= run(main()) < 2.0


def test_activity_keeps_the_stream_alive_past_the_timeout() -> None:
    async def main() -> bool:
        loop = asyncio.get_running_loop()
        async with IdleWatchdog(0.3) as dog:
            for _ in range(10):  # 1 s in all, never 0.3 s silent
                await asyncio.sleep(0.1)
                dog.last = loop.time()
        return dog.expired

    assert run(main()) is False


def test_paused_time_is_not_silence() -> None:
    async def main() -> bool:
        loop = asyncio.get_running_loop()
        async with IdleWatchdog(0.2) as dog:
            dog.paused = True  # a slow client: the engine is blocked writing
            await asyncio.sleep(0.6)
            dog.paused = False
            dog.last = loop.time()
            await asyncio.sleep(0.05)
        return dog.expired

    assert run(main()) is False


def test_restart_shortens_the_first_wait() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(TimeoutError):
            async with IdleWatchdog(10.0) as dog:
                dog.restart(0.2)  # the first chunk came: idle timeout from now
                await asyncio.sleep(5)
        return loop.time() - start

    assert run(main()) < 2.0


def test_an_outside_cancel_stays_a_cancel() -> None:
    async def main() -> None:
        async def body() -> None:
            async with IdleWatchdog(5.0):
                await asyncio.sleep(5)

        task = asyncio.ensure_future(body())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())
