"""The addon's `done`: at mitmproxy's exit it closes the pooled upstream clients and the engine's
sidecar; a reload of the entry script (which calls `done` too) leaves both serving."""

from __future__ import annotations

import asyncio

from mitmproxy.test import taddons

from fcc.config import Target
from fcc.core.catalog import CATALOG
from fcc.engine import upstream
from fcc.mitm import runtime
from fcc.mitm.addon import FccAddon


async def _listening(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


async def _handler(state, writer, disconnected) -> None:  # never called: no exchange is issued
    raise AssertionError("no exchange expected")


def test_done_closes_clients_and_sidecar_at_exit_but_not_on_a_reload() -> None:
    async def scenario() -> None:
        with taddons.context() as tctx:
            sidecar = await runtime.sidecar(_handler)
            client = upstream.client_for(Target(CATALOG["vllm"], "m"))
            addon = FccAddon()
            await addon.done()  # a script reload: mitmproxy is not exiting
            assert not client.is_closed and await _listening(sidecar.port)
            tctx.master.should_exit.set()
            await addon.done()
            assert client.is_closed and not await _listening(sidecar.port)
            assert runtime._SIDECAR is None and upstream.client_for(Target(CATALOG["vllm"], "m")) is not client
            await upstream.close_clients()

    asyncio.run(scenario())
