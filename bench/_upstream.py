"""A fast scripted model provider for the benchmark, run in its own process.

    python bench/_upstream.py [--port 0] [--chunks 100] [--delay-ms 0]

Prints `PORT <n>` once listening. Minimal asyncio HTTP/1.1 with keep-alive.
Every answer is pre-built bytes (status line, headers, one HTTP chunk per SSE
event), so serving a stream is one write: the upstream is never the bottleneck.

    POST .../chat/completions   OpenAI chat SSE (text + 2 tool calls), or JSON when "stream": false
    POST .../messages           the same answer as Anthropic Messages SSE
    GET  .../models             a model list
    POST /_bench/config         {"chunks": N, "delay_ms": x}: what later requests get
    GET  /_bench/stats          requests served, by kind
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _workload

_SSE_HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
             b"transfer-encoding: chunked\r\n\r\n")


def _chunked(pieces: list[bytes]) -> list[bytes]:
    return [b"%x\r\n%s\r\n" % (len(p), p) for p in pieces] + [b"0\r\n\r\n"]


def _json_response(status: int, obj: object, reason: str = "OK") -> bytes:
    body = json.dumps(obj).encode()
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n").encode() + body


class Upstream:
    def __init__(self, chunks: int, delay_ms: float) -> None:
        self.stats: Counter[str] = Counter()
        self._cache: dict[tuple[str, int], list[bytes]] = {}
        self.configure(chunks, delay_ms)

    def configure(self, chunks: int, delay_ms: float) -> None:
        self.chunks = max(1, int(chunks))
        self.delay = max(0.0, float(delay_ms)) / 1000

    def _stream(self, kind: str) -> list[bytes]:
        key = (kind, self.chunks)
        if key not in self._cache:
            events = _workload.openai_events(self.chunks) if kind == "openai" else _workload.anthropic_events(self.chunks)
            pieces = _chunked(events)
            self._cache[key] = [_SSE_HEAD + b"".join(pieces)] + [_SSE_HEAD] + pieces  # [whole, head, *pieces]
        return self._cache[key]

    def _openai_json(self) -> bytes:
        expected = _workload.expected(self.chunks)
        message: dict = {"role": "assistant", "content": expected.text}
        if expected.tools:
            message["tool_calls"] = [{"id": i, "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
                                     for i, n, a in expected.tools]
        return _json_response(200, {
            "id": "chatcmpl-bench", "object": "chat.completion", "created": 1763700000, "model": _workload.MODEL,
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if expected.tools else "stop"}],
            "usage": {"prompt_tokens": 5000, "completion_tokens": self.chunks, "total_tokens": 5000 + self.chunks}})

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                body = await self._read_body(reader, headers)
                close = headers.get("connection", "").lower() == "close"
                await self._answer(method, target.split("?", 1)[0], headers, body, writer)
                if close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    @staticmethod
    async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            parts = []
            while True:
                size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while (await reader.readline()) not in (b"\r\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
        length = int(headers.get("content-length", "0") or 0)
        return await reader.readexactly(length) if length else b""

    async def _answer(self, method: str, path: str, headers: dict[str, str], body: bytes, writer: asyncio.StreamWriter) -> None:
        if path == "/_bench/config" and method == "POST":
            config = json.loads(body or b"{}")
            self.configure(config.get("chunks", self.chunks), config.get("delay_ms", self.delay * 1000))
            writer.write(_json_response(200, {"chunks": self.chunks, "delay_ms": self.delay * 1000}))
        elif path == "/_bench/stats":
            writer.write(_json_response(200, dict(self.stats)))
        elif path.endswith("/chat/completions") and method == "POST":
            streaming = b'"stream":true' in body.replace(b" ", b"")
            self.stats["openai_stream" if streaming else "openai_json"] += 1
            if not streaming:
                writer.write(self._openai_json())
            else:
                await self._send_stream("openai", writer)
                return
        elif path.endswith("/messages") and method == "POST":
            if headers.get("x-bench-trap"):
                # The client's own request reached us untouched: the proxy passed it through.
                self.stats["trapped"] += 1
                writer.write(_json_response(418, {"type": "error", "error": {"type": "invalid_request_error",
                                                  "message": "bench upstream: request passed through untranslated"}}, "Teapot"))
            else:
                self.stats["anthropic_stream"] += 1
                await self._send_stream("anthropic", writer)
                return
        elif path.endswith("/models"):
            writer.write(_json_response(200, {"object": "list", "data": [{"id": _workload.MODEL, "object": "model"}]}))
        else:
            self.stats["not_found"] += 1
            writer.write(_json_response(404, {"error": {"message": f"bench upstream: no route for {method} {path}"}}, "Not Found"))
        await writer.drain()

    async def _send_stream(self, kind: str, writer: asyncio.StreamWriter) -> None:
        whole, head, *pieces = self._stream(kind)
        if not self.delay:
            writer.write(whole)
            await writer.drain()
            return
        writer.write(head)
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(self.delay)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--chunks", type=int, default=100)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    args = parser.parse_args()
    upstream = Upstream(args.chunks, args.delay_ms)
    server = await asyncio.start_server(upstream.handle, args.host, args.port, backlog=1024)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
