"""Incremental Server-Sent-Events framing, both directions.

Upstream reads arrive in arbitrary pieces (mitmproxy hands over whatever one
socket read returned), so the decoder buffers partial lines and yields whole
events only. It accepts what real servers send: CRLF or LF, `data:` with or
without the space, comment lines (`: keep-alive`, `: OPENROUTER PROCESSING`),
multi-line data, and a missing final blank line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# A single SSE line longer than this is not an event any provider sends; it is
# garbage or an attack. The decoder drops the line and reports it instead of
# growing without bound.
MAX_LINE_BYTES = 8 * 1024 * 1024


@dataclass(slots=True)
class SSEEvent:
    event: str | None
    data: str


class SSEDecoder:
    """bytes in, `SSEEvent`s out. Never raises on bad input."""

    __slots__ = ("_pending", "_pending_size", "_event", "_data", "oversized_lines", "_skipping")

    def __init__(self) -> None:
        # The unfinished line as a list of pieces: joining only when a newline arrives keeps
        # a long line linear in its length (a 1 MB line fed in 64-byte reads).
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._event: str | None = None
        self._data: list[str] = []
        self.oversized_lines = 0
        self._skipping = False  # inside an oversized line: drop until its newline

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if not chunk:
            return []
        events: list[SSEEvent] = []
        newline = chunk.find(b"\n")
        if newline < 0:
            self._hold(chunk)
            return events
        first = chunk[:newline]
        if self._skipping:
            self._skipping = False
        elif self._pending:
            self._pending.append(first)
            self._line(b"".join(self._pending), events)
        else:
            self._line(first, events)
        self._pending = []
        self._pending_size = 0
        start = newline + 1
        while True:
            newline = chunk.find(b"\n", start)
            if newline < 0:
                break
            self._line(chunk[start:newline], events)
            start = newline + 1
        if start < len(chunk):
            self._hold(chunk[start:])
        return events

    def _hold(self, piece: bytes) -> None:
        if self._skipping:
            return
        self._pending.append(piece)
        self._pending_size += len(piece)
        if self._pending_size > MAX_LINE_BYTES:
            self.oversized_lines += 1
            self._pending = []
            self._pending_size = 0
            self._skipping = True

    def finish(self) -> list[SSEEvent]:
        """Flush a final event that was not followed by a blank line."""
        events: list[SSEEvent] = []
        if self._pending and not self._skipping:
            self._line(b"".join(self._pending), events)
        self._pending = []
        self._pending_size = 0
        self._dispatch(events)
        return events

    def _line(self, raw: bytes, events: list[SSEEvent]) -> None:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if not raw:
            self._dispatch(events)
            return
        if raw[:1] == b":":
            return  # comment / keep-alive
        line = raw.decode("utf-8", "replace")
        field, sep, value = line.partition(":")
        if not sep:
            field, value = line, ""
        elif value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value.strip() or None
        # `id:` and `retry:` carry nothing a translator needs.

    def _dispatch(self, events: list[SSEEvent]) -> None:
        if self._data or self._event is not None:
            events.append(SSEEvent(self._event, "\n".join(self._data)))
        self._event = None
        self._data = []


_DUMPS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


_DUMPS_ASCII = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode


def _json_bytes(data: object) -> bytes:
    try:
        return _DUMPS(data).encode()
    except UnicodeEncodeError:  # a lone surrogate from upstream: escape it instead of failing
        return _DUMPS_ASCII(data).encode()


def encode_event(name: str, data: dict[str, Any]) -> bytes:
    """One Anthropic-style event: always with its `event:` line (both SDKs dispatch on it)."""
    return b"event: " + name.encode() + b"\ndata: " + _json_bytes(data) + b"\n\n"


def encode_data(data: dict[str, Any] | str) -> bytes:
    """One OpenAI-style `data:` event."""
    body = data.encode("utf-8", "replace") if isinstance(data, str) else _json_bytes(data)
    return b"data: " + body + b"\n\n"


def dumps(data: object) -> str:
    return _DUMPS(data)
