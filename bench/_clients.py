"""Benchmark clients, run as a worker process apart from every proxy.

    python bench/_clients.py        # reads one JSON command per line on stdin, answers one JSON line each

A command runs one block against one target: `requests` streamed requests,
sequential (`concurrency` 1) or from `concurrency` keep-alive clients, stopping
early once `budget_s` has passed (every client still completes at least one).
Each result is [ttfb_ms, first_delta_ms, total_ms, error or null]:

- ttfb: request written -> first response byte (status line);
- first delta: -> the first SSE event that carries content (text or tool input);
- total: -> the stream's last byte.

Every answer is checked against the workload: status 200, the complete event
grammar end (message_stop / [DONE]), the exact text, both tool calls with
their names and exact JSON input, and the stop reason. A mismatch is an error.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _workload

_BODIES: dict[str, bytes] = {}


def body_for(dialect: str) -> bytes:
    if dialect not in _BODIES:
        body = _workload.anthropic_body() if dialect == "anthropic" else _workload.openai_body()
        _BODIES[dialect] = json.dumps(body, separators=(",", ":")).encode()
    return _BODIES[dialect]


class BenchError(Exception):
    pass


class StreamCheck:
    """Incremental SSE reader for either dialect; notes when content first arrives."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.buf = b""
        self.first_content: float | None = None
        self.text: list[str] = []
        self.tools: dict[int, list] = {}  # index -> [id, name, [arg pieces]]
        self.stop_reason: str | None = None
        self.done = False
        self.error: str | None = None

    def feed(self, data: bytes, now: float) -> None:
        self.buf += data
        while True:
            cut = self.buf.find(b"\n\n")
            if cut < 0:
                return
            raw, self.buf = self.buf[:cut], self.buf[cut + 2 :]
            for line in raw.split(b"\n"):
                if line.startswith(b"data:"):
                    self._data(line[5:].strip(), now)

    def _data(self, payload: bytes, now: float) -> None:
        if payload == b"[DONE]":
            self.done = True
            return
        obj = json.loads(payload)
        if self.dialect == "openai":
            self._openai(obj, now)
        else:
            self._anthropic(obj, now)

    def _openai(self, obj: dict, now: float) -> None:
        for choice in obj.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("content"):
                self.text.append(delta["content"])
                self._content(now)
            for call in delta.get("tool_calls") or ():
                entry = self.tools.setdefault(call.get("index", 0), [None, None, []])
                entry[0] = call.get("id") or entry[0]
                function = call.get("function") or {}
                entry[1] = function.get("name") or entry[1]
                entry[2].append(function.get("arguments") or "")
                self._content(now)
            if choice.get("finish_reason"):
                self.stop_reason = {"tool_calls": "tool_use", "stop": "end_turn"}.get(choice["finish_reason"], choice["finish_reason"])

    def _anthropic(self, obj: dict, now: float) -> None:
        kind = obj.get("type")
        if kind == "content_block_delta":
            delta = obj["delta"]
            if delta.get("type") == "text_delta":
                self.text.append(delta["text"])
            elif delta.get("type") == "input_json_delta":
                self.tools.setdefault(obj["index"], [None, None, []])[2].append(delta["partial_json"])
            self._content(now)
        elif kind == "content_block_start":
            block = obj["content_block"]
            if block.get("type") == "tool_use":
                self.tools[obj["index"]] = [block.get("id"), block.get("name"), []]
        elif kind == "message_delta":
            self.stop_reason = (obj.get("delta") or {}).get("stop_reason")
        elif kind == "message_stop":
            self.done = True
        elif kind == "error":
            self.error = json.dumps(obj)[:300]

    def _content(self, now: float) -> None:
        if self.first_content is None:
            self.first_content = now

    def verdict(self, want: _workload.Expected) -> str | None:
        """None when the answer is exactly the expected one, else what is wrong."""
        if self.error:
            return f"error event: {self.error}"
        if not self.done:
            return "stream ended without message_stop/[DONE]"
        if "".join(self.text) != want.text:
            return f"text differs ({len(''.join(self.text))} vs {len(want.text)} chars)"
        tools = [self.tools[i] for i in sorted(self.tools)]
        if len(tools) != len(want.tools):
            return f"{len(tools)} tool calls, expected {len(want.tools)}"
        for (got_id, got_name, pieces), (_, name, args) in zip(tools, want.tools):
            if got_name != name or not got_id:
                return f"tool call {got_name!r} (id {got_id!r}), expected {name!r}"
            try:
                if json.loads("".join(pieces)) != args:
                    return f"tool {name} input differs"
            except ValueError:
                return f"tool {name} input is not JSON: {''.join(pieces)[:80]!r}"
        if self.stop_reason != want.stop_reason:
            return f"stop_reason {self.stop_reason!r}, expected {want.stop_reason!r}"
        return None


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.close()
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, head: bytes, body: bytes, dialect: str, want: _workload.Expected) -> list:
        """One streamed exchange; [ttfb_ms, first_delta_ms, total_ms, error]."""
        if self.writer is None:
            await self.open()
        reader, writer = self.reader, self.writer
        assert reader is not None and writer is not None
        check = StreamCheck(dialect)
        t0 = time.perf_counter()
        writer.write(head + body)
        status_line = await reader.readline()
        ttfb = time.perf_counter()
        if not status_line:
            raise BenchError("connection closed before any response byte")
        status = int(status_line.split(b" ", 2)[1])
        headers: dict[bytes, bytes] = {}
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        keep = headers.get(b"connection", b"").lower() != b"close"
        if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            while True:
                size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    await reader.readline()
                    break
                data = await reader.readexactly(size + 2)
                check.feed(data[:-2], time.perf_counter())
        elif b"content-length" in headers:
            check.feed(await reader.readexactly(int(headers[b"content-length"])), time.perf_counter())
        else:
            keep = False
            while data := await reader.read(65536):
                check.feed(data, time.perf_counter())
        end = time.perf_counter()
        if not keep:
            self.close()
        first = check.first_content or end
        error = f"HTTP {status}: {check.buf[:200]!r}" if status != 200 else check.verdict(want)
        if status != 200 and not check.buf:
            error = f"HTTP {status}"
        return [(ttfb - t0) * 1000, (first - t0) * 1000, (end - t0) * 1000, error]


def request_head(target: dict, body: bytes) -> bytes:
    lines = [f"POST {target['path']} HTTP/1.1", f"host: {target['host']}:{target['port']}",
             "content-type: application/json", f"content-length: {len(body)}", "connection: keep-alive",
             "accept-encoding: identity"]
    lines += [f"{k}: {v}" for k, v in target.get("headers", {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def run_block(cmd: dict) -> dict:
    target = cmd["target"]
    dialect = target["dialect"]
    body = body_for(dialect)
    head = request_head(target, body)
    want = _workload.expected(cmd["chunks"])
    total, concurrency = cmd["requests"], cmd.get("concurrency", 1)
    budget, timeout = cmd.get("budget_s", 1e9), cmd.get("timeout_s", 120.0)
    results: list[list] = []
    tickets = [total]
    conns = [Connection(target["host"], target["port"]) for _ in range(concurrency)]
    opened = await asyncio.gather(*(c.open() for c in conns), return_exceptions=True)
    connect_errors = [repr(e) for e in opened if isinstance(e, BaseException)]
    start = time.perf_counter()

    async def client(conn: Connection) -> None:
        mine = 0
        while tickets[0] > 0 and (mine == 0 or time.perf_counter() - start < budget):
            tickets[0] -= 1
            mine += 1
            try:
                results.append(await asyncio.wait_for(conn.request(head, body, dialect, want), timeout))
            except Exception as exc:  # timeouts, resets, malformed answers: all count as errors
                conn.close()
                results.append([None, None, None, f"{type(exc).__name__}: {exc}"[:300]])
        conn.close()

    await asyncio.gather(*(client(c) for c in conns))
    wall = time.perf_counter() - start
    return {"results": results, "wall_s": wall, "connect_errors": connect_errors}


async def serve() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout
    while line := await reader.readline():
        cmd = json.loads(line)
        if cmd.get("cmd") == "quit":
            break
        try:
            answer = await run_block(cmd)
        except Exception as exc:  # report, never die silently mid-run
            answer = {"results": [], "wall_s": 0.0, "connect_errors": [], "fatal": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(answer) + "\n")
        out.flush()


if __name__ == "__main__":
    asyncio.run(serve())
