"""The engine's loopback HTTP server that mitmproxy streams answers from.

mitmproxy 11 cannot stream a body an addon makes, so routed flows are
redirected here (../shared/research/mitmproxy-mechanics.md Q4). Bound to 127.0.0.1 on a
random port; a request is served only when its path carries a live one-time
token issued by the addon for that flow. HTTP framing is h11's (sans-IO).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable

import h11

from fcc.core.errors import make_error

log = logging.getLogger("fcc")

TOKEN_PATH = "/fcc/"
TOKEN_TTL = 120.0  # seconds a token stays valid between the request hook and the sidecar request


class ResponseWriter:
    """What an exchange uses to answer: headers once, body pieces, end. Never raises."""

    def __init__(self, conn: h11.Connection, writer: asyncio.StreamWriter) -> None:
        self._conn = conn
        self._writer = writer
        self.headers_sent = False
        self.closed = False
        self._pending: list[bytes] = []
        self._flush_handle: asyncio.Handle | None = None

    async def start(self, status: int, headers: dict[str, str], *, stream: bool) -> None:
        if self.headers_sent or self.closed:
            return
        pairs = [(k, v) for k, v in headers.items() if k.lower() not in ("content-length", "transfer-encoding")]
        if stream:
            pairs.append(("transfer-encoding", "chunked"))
        self.headers_sent = True
        await self._send(h11.Response(status_code=status, headers=pairs))

    async def write(self, data: bytes) -> None:
        """Queue body bytes; they leave as one HTTP chunk when the event loop next gets a turn,
        so a burst of upstream chunks read without waiting becomes one write to mitmproxy."""
        if data and not self.closed:
            self._pending.append(data)
            if self._flush_handle is None:
                self._flush_handle = asyncio.get_running_loop().call_soon(self._flush)
            if self._writer.transport.get_write_buffer_size() > 256 * 1024:
                self._flush()
                await self._writer.drain()

    def _flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        if self.closed:
            return
        try:
            out = self._conn.send(h11.Data(data=data))
            if out:
                self._writer.write(out)
        except (ConnectionError, h11.LocalProtocolError, RuntimeError) as exc:
            self.closed = True
            log.debug("fcc sidecar: write failed: %s", exc)

    async def end(self) -> None:
        self._flush()
        if not self.closed:
            await self._send(h11.EndOfMessage())

    async def whole(self, status: int, headers: dict[str, str], body: bytes) -> None:
        """A complete non-streamed answer."""
        if self.headers_sent or self.closed:
            return
        pairs = [(k, v) for k, v in headers.items() if k.lower() not in ("content-length", "transfer-encoding")]
        pairs.append(("content-length", str(len(body))))
        self.headers_sent = True
        await self._send(h11.Response(status_code=status, headers=pairs))
        await self.write(body)
        await self.end()

    async def _send(self, event: h11.Event) -> None:
        try:
            data = self._conn.send(event)
            if data:
                self._writer.write(data)
                await self._writer.drain()
        except (ConnectionError, h11.LocalProtocolError, RuntimeError) as exc:
            self.closed = True
            log.debug("fcc sidecar: write failed: %s", exc)


Handler = Callable[[object, ResponseWriter, asyncio.Event], Awaitable[None]]


class Sidecar:
    """Serves planned exchanges; `issue(plan)` returns the one-time URL path."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._plans: dict[str, tuple[float, object]] = {}
        self._server: asyncio.base_events.Server | None = None
        self.port = 0

    async def start(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._serve, host="127.0.0.1", port=0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def issue(self, plan: object) -> str:
        now = time.monotonic()
        for token in [t for t, (born, _) in self._plans.items() if now - born > TOKEN_TTL]:
            self._plans.pop(token, None)
        token = secrets.token_urlsafe(18)
        self._plans[token] = (now, plan)
        return TOKEN_PATH + token

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _redeem(self, target: str) -> object | None:
        path = target.split("?", 1)[0]
        if not path.startswith(TOKEN_PATH):
            return None
        entry = self._plans.pop(path[len(TOKEN_PATH) :], None)
        if entry is None or time.monotonic() - entry[0] > TOKEN_TTL:
            return None
        return entry[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        leftover = bytearray()
        try:
            while True:
                if leftover:
                    conn.receive_data(bytes(leftover))
                    leftover.clear()
                request = await self._read_request(conn, reader)
                if request is None:
                    return
                response = ResponseWriter(conn, writer)
                plan = self._redeem(request.target.decode("latin-1"))
                if plan is None:
                    error = make_error(404, "fcc: unknown or expired exchange")
                    await response.whole(error.status, error.response_headers(), error.body_bytes())
                else:
                    await self._run(plan, response, reader, leftover)
                if response.closed or conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        except Exception:  # a broken peer must never take the sidecar down
            log.exception("fcc sidecar: connection failed")
        finally:
            writer.close()

    async def _read_request(self, conn: h11.Connection, reader: asyncio.StreamReader) -> h11.Request | None:
        request: h11.Request | None = None
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                conn.receive_data(data)
                if not data and conn.their_state is h11.IDLE:
                    return None
                continue
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.EndOfMessage):
                return request
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return None

    async def _run(
        self, plan: object, response: ResponseWriter, reader: asyncio.StreamReader, leftover: bytearray
    ) -> None:
        """Run the exchange; cancel it the moment mitmproxy (i.e. the client) hangs up."""
        disconnected = asyncio.Event()
        task = asyncio.ensure_future(self._handler(plan, response, disconnected))

        async def watch() -> None:
            # mitmproxy sends nothing on this connection until we have answered, so EOF
            # means the client hung up; bytes mean the next request came early: keep them.
            data = await reader.read(65536)
            if data:
                leftover.extend(data)
                return
            disconnected.set()
            task.cancel()

        watcher = asyncio.ensure_future(watch())
        try:
            await task
        except asyncio.CancelledError:
            if not disconnected.is_set():
                raise
            response.closed = True
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        if not response.headers_sent and not response.closed:
            # The handler must always answer; this is the last line of defence.
            error = make_error(500, "fcc: the exchange ended without an answer")
            await response.whole(error.status, error.response_headers(), error.body_bytes())
        elif response.headers_sent and not response.closed:
            await response.end()
