"""ScriptedUpstream: a fake model provider on 127.0.0.1 that answers from a script.

A raw asyncio stream server in its own thread, so the test owns HTTP framing
byte for byte (chunk boundaries, missing terminators, early closes) -- which
http.server cannot do. It records every request and the time each response
chunk left, so tests can assert streaming rather than buffering.

    with ScriptedUpstream() as upstream:
        upstream.script(openai_text_stream("hi"), openai_error(429, "slow", retry_after=1))
        ... point the code under test at upstream.base_url ...
        assert upstream.requests[0].json_body["model"] == "x"
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import http
import itertools
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Self

import pytest

from tests.support.upstream_responses import (
    CutMidStream,
    Hang,
    JsonResponse,
    RawResponse,
    Refuse,
    Response,
    SlowFirstByte,
    StallMidStream,
    Stream,
    openai_text_stream,
)

_REASON_PHRASES = {529: "Overloaded"}
_MAX_HEADER_BYTES = 1024 * 1024
_STOP_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    http_version: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    json_body: Any | None
    received_at: float  # time.monotonic()
    connection_index: int

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((value for key, value in self.headers if key.lower() == lowered), None)


@dataclass
class Exchange:
    """One request and what the server did about it (mutated by the server thread)."""

    request: RecordedRequest
    response: Response
    chunk_sent_at: list[float] = field(default_factory=list)  # after each body chunk was flushed
    finished_at: float | None = None  # the response was written in full
    client_closed_at: float | None = None  # the peer went away before we were done


class ScriptedUpstream:
    def __init__(self, default: Response | None = None) -> None:
        self.default: Response = default or openai_text_stream("Hello from the scripted upstream.")
        self._queue: collections.deque[Response] = collections.deque()
        self._fixed: dict[tuple[str, str], Response] = {}
        self._lock = threading.Lock()
        self._exchanges: list[Exchange] = []
        self._connection_counter = itertools.count(1)
        self.connection_count = 0
        self.errors: list[BaseException] = []  # unexpected server-side failures; tests may assert it is empty
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop_requested: asyncio.Event | None = None
        self._connection_tasks: set[asyncio.Task[None]] = set()
        self._ready = threading.Event()
        self._port: int | None = None

    # ------------------------------------------------------- public API ---

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("ScriptedUpstream is not started")
        return self._port

    @property
    def running(self) -> bool:
        """True while the server thread is alive (False again after stop())."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def script(self, *responses: Response) -> None:
        """Queue responses; each request takes the next one, then `default` forever."""
        with self._lock:
            self._queue.extend(responses)

    def clear_script(self) -> None:
        """Drop responses a previous (failed) test scripted but never consumed."""
        with self._lock:
            self._queue.clear()

    @property
    def pending_script_count(self) -> int:
        with self._lock:
            return len(self._queue)

    @property
    def exchanges(self) -> list[Exchange]:
        with self._lock:
            return list(self._exchanges)

    @property
    def requests(self) -> list[RecordedRequest]:
        return [exchange.request for exchange in self.exchanges]

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        self.wait_until(lambda: len(self.exchanges) >= count, timeout, f"{count} request(s)")
        return self.requests

    def wait_until(self, condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"ScriptedUpstream: waited {timeout}s for {what}; saw {len(self.exchanges)} request(s)")
            time.sleep(0.01)

    def start(self) -> Self:
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run_loop, name="scripted-upstream", daemon=True)
        self._thread.start()
        if not self._ready.wait(_STOP_TIMEOUT_SECONDS) or self._port is None:
            self.stop()
            raise RuntimeError(f"ScriptedUpstream failed to start: {self.errors!r}")
        return self

    def stop(self) -> None:
        """Close the listener and every open connection (hangs and stalls included)."""
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive() and self._stop_requested is not None:
            try:
                loop.call_soon_threadsafe(self._stop_requested.set)
            except RuntimeError:
                pass  # loop already closed
        if thread is not None:
            thread.join(_STOP_TIMEOUT_SECONDS)
            if thread.is_alive():
                raise RuntimeError("ScriptedUpstream thread did not stop")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------- event loop ---

    def _run_loop(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as error:  # surfaced through .errors and start()
            self.errors.append(error)
        finally:
            self._loop.close()
            self._ready.set()

    async def _serve(self) -> None:
        self._stop_requested = asyncio.Event()
        server = await asyncio.start_server(self._handle_connection, self.host, 0, limit=_MAX_HEADER_BYTES)
        self._port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            await self._stop_requested.wait()
        finally:
            server.close()
            for task in list(self._connection_tasks):
                task.cancel()
            await asyncio.gather(*self._connection_tasks, return_exceptions=True)
            await server.wait_closed()

    def answer(self, method: str, path: str, response: Response) -> None:
        """Always answer `method path` (query ignored) with `response`, outside the script queue
        (for requests whose timing the test does not control, e.g. a model-list fetch)."""
        with self._lock:
            self._fixed[(method.upper(), path)] = response

    def _next_response(self, request: RecordedRequest | None = None) -> Response:
        with self._lock:
            if request is not None:
                fixed = self._fixed.get((request.method, request.path.split("?", 1)[0]))
                if fixed is not None:
                    return fixed
            return self._queue.popleft() if self._queue else self.default

    async def _handle_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connection_tasks.add(task)
        connection_index = next(self._connection_counter)
        self.connection_count += 1
        cancelled = False
        try:
            while True:
                request = await _read_request(reader, connection_index)
                if request is None:
                    break
                exchange = Exchange(request, self._next_response(request))
                with self._lock:
                    self._exchanges.append(exchange)
                keep_alive = await self._respond(exchange.response, exchange, reader, writer)
                if not keep_alive or (request.header("connection") or "").lower() == "close":
                    break
        except asyncio.CancelledError:
            cancelled = True
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client left; nothing to answer
        except Exception as error:  # a harness bug must show up in the test, not vanish in a thread
            self.errors.append(error)
        finally:
            if cancelled:
                writer.transport.abort()  # stopping: don't wait for buffered bytes
            else:
                writer.close()
            self._connection_tasks.discard(task)

    # ---------------------------------------------------------- answers ---

    async def _respond(self, response: Response, exchange: Exchange, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Carry out one scripted response; True when the connection can be reused."""
        if isinstance(response, JsonResponse):
            response = response.as_stream()
        if isinstance(response, Stream):
            return await self._send_stream(response, exchange, reader, writer)
        if isinstance(response, SlowFirstByte):
            if await _client_closed_within(reader, exchange, response.seconds):
                return False
            return await self._respond(response.then, exchange, reader, writer)
        if isinstance(response, StallMidStream):
            return await self._send_stream(response.stream, exchange, reader, writer, stall=(response.after_chunks, response.seconds))
        if isinstance(response, CutMidStream):
            await self._send_stream(response.stream, exchange, reader, writer, cut_after=response.after_chunks)
            return False
        if isinstance(response, Hang):
            await _client_closed_within(reader, exchange, None)
            return False
        if isinstance(response, Refuse):
            if response.reset:
                # Linger 0 turns close() into an RST, which is what a crashing peer looks like.
                sock: socket.socket = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
            return False
        if isinstance(response, RawResponse):
            writer.write(response.data)
            await writer.drain()
            exchange.finished_at = time.monotonic()
            return not response.close_after
        raise TypeError(f"unknown scripted response {response!r}")

    async def _send_stream(
        self,
        stream: Stream,
        exchange: Exchange,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        cut_after: int | None = None,
        stall: tuple[int, float | None] | None = None,
    ) -> bool:
        # Empty pieces are dropped: in chunked framing an empty chunk *is* the terminator.
        chunks = [chunk for chunk in stream.chunks if chunk]
        try:
            writer.write(_response_head(stream, sum(map(len, chunks))))
            await writer.drain()
            for index, chunk in enumerate(chunks):
                if cut_after is not None and index >= cut_after:
                    return False
                if stall is not None and index == stall[0]:
                    if await _client_closed_within(reader, exchange, stall[1]):
                        return False
                if index and stream.delay:
                    await asyncio.sleep(stream.delay)
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if stream.framing == "chunked" else chunk)
                await writer.drain()
                exchange.chunk_sent_at.append(time.monotonic())
            if cut_after is not None and cut_after >= len(chunks):
                return False
            if stall is not None and stall[0] >= len(chunks) and await _client_closed_within(reader, exchange, stall[1]):
                return False
            if stream.framing == "chunked":
                writer.write(b"0\r\n\r\n")
                await writer.drain()
            exchange.finished_at = time.monotonic()
        except ConnectionError:
            exchange.client_closed_at = time.monotonic()
            return False
        return stream.framing != "close"


def _response_head(stream: Stream, content_length: int) -> bytes:
    framing_headers = {
        "chunked": {"transfer-encoding": "chunked"},
        "length": {"content-length": str(content_length)},
        "close": {"connection": "close"},
    }[stream.framing]
    # Framing is the harness's job; a scripted header must not contradict it.
    headers = {k: v for k, v in stream.headers.items() if k.lower() not in ("transfer-encoding", "content-length")}
    headers.update(framing_headers)
    try:
        reason = http.HTTPStatus(stream.status).phrase
    except ValueError:
        reason = _REASON_PHRASES.get(stream.status, "Unknown")
    lines = [f"HTTP/1.1 {stream.status} {reason}", *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _client_closed_within(reader: asyncio.StreamReader, exchange: Exchange, seconds: float | None) -> bool:
    """Stay silent for `seconds` (None: until cancelled); True if the client left meanwhile."""

    async def until_eof() -> None:
        while await reader.read(65536):
            pass  # a pipelined request would be dropped here; clients of a hung server do not pipeline

    try:
        await asyncio.wait_for(until_eof(), seconds)
    except TimeoutError:
        return False
    except ConnectionError:
        pass
    exchange.client_closed_at = time.monotonic()
    return True


async def _read_request(reader: asyncio.StreamReader, connection_index: int) -> RecordedRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None  # clean close between requests (or a port probe)
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, path, version = request_line.split(" ", 2)
    headers = tuple((name.strip(), value.strip()) for name, _, value in (line.partition(":") for line in header_lines if line))
    lowered = {name.lower(): value for name, value in headers}
    if "chunked" in lowered.get("transfer-encoding", "").lower():
        body = await _read_chunked_body(reader)
    else:
        body = await reader.readexactly(int(lowered.get("content-length", "0")))
    try:
        json_body = json.loads(body) if body else None
    except ValueError:
        json_body = None
    return RecordedRequest(method, path, version, headers, body, json_body, time.monotonic(), connection_index)


async def _read_chunked_body(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailers
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


# ------------------------------------------------------ refused ports ---

_held_refusing_sockets: list[socket.socket] = []


def refused_port() -> int:
    """A loopback port where connecting fails with ECONNREFUSED.

    The socket stays bound but never listens, so nothing else can take the
    port during the test run (a bind-then-close port could be reused).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    _held_refusing_sockets.append(sock)
    return sock.getsockname()[1]


@atexit.register
def _release_refusing_sockets() -> None:
    for sock in _held_refusing_sockets:
        sock.close()


# ------------------------------------------------------------ fixtures ---


@pytest.fixture
def scripted_upstream() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream() as upstream:
        yield upstream
    if upstream.errors:
        pytest.fail(f"ScriptedUpstream hit internal errors: {upstream.errors!r}", pytrace=False)
