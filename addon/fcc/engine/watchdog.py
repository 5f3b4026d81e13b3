"""An idle timer for one upstream stream that costs an attribute store per chunk.

`asyncio.timeout(...).reschedule()` per chunk cancels a timer handle and pushes a new one
onto the loop's heap every chunk (about 3 us, 4 % of the proxy's samples on 100-chunk
streams). Here the timer fires at most once per `timeout` and then looks at when the last
chunk came: only a stream silent for the whole timeout is cancelled. While the engine
delivers to a slow client (`paused`) the silence clock does not run, as before.
"""

from __future__ import annotations

import asyncio
from types import TracebackType


class IdleWatchdog:
    """`async with IdleWatchdog(timeout) as dog:` raises TimeoutError when `dog.last`
    (loop time of the last upstream activity) is older than `dog.timeout` while not paused."""

    def __init__(self, timeout: float) -> None:
        self._loop = asyncio.get_running_loop()
        self.timeout = timeout
        self.last = self._loop.time()
        self.paused = False
        self.expired = False
        self._task: asyncio.Task | None = None
        self._cancelling = 0
        self._handle: asyncio.TimerHandle | None = None

    async def __aenter__(self) -> IdleWatchdog:
        self._task = asyncio.current_task()
        if self._task is None:
            raise RuntimeError("IdleWatchdog must be used inside a task")
        self._cancelling = self._task.cancelling()
        self._arm(self.last + self.timeout)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        # As asyncio.timeout does: our cancel becomes TimeoutError, anyone else's stays a cancel.
        if self.expired and self._task is not None and self._task.uncancel() <= self._cancelling:
            if exc_type is asyncio.CancelledError:
                raise TimeoutError from exc

    def restart(self, timeout: float) -> None:
        """A new timeout from now (the first chunk ends the longer first-chunk wait)."""
        self.timeout = timeout
        self.last = self._loop.time()
        if self._handle is not None:
            self._handle.cancel()
        self._arm(self.last + timeout)

    def _arm(self, when: float) -> None:
        self._handle = self._loop.call_at(when, self._check)

    def _check(self) -> None:
        self._handle = None
        if self.expired:
            return
        now = self._loop.time()
        due = now + self.timeout if self.paused else self.last + self.timeout
        if due > now:
            self._arm(due)
            return
        self.expired = True
        assert self._task is not None
        self._task.cancel()
