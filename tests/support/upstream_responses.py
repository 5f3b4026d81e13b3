"""What a ScriptedUpstream answers: response kinds (dataclasses) and builders.

A response is data; upstream.py interprets it. Every kind works for any path.
Each SSE event built here is its own network chunk, so a test controls
exactly where the wire splits (use Stream.from_body(..., split=N) for
splits that cut events in half).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Framing = Literal["chunked", "close", "length"]

SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"
FAKE_MODEL = "fake-model"
FAKE_CREATED = 1_700_000_000
DEFAULT_USAGE: Mapping[str, int] = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


@dataclass(frozen=True)
class Stream:
    """Send `chunks` one by one (one HTTP chunk each when framing is chunked),
    sleeping `delay` seconds between them."""

    chunks: Sequence[bytes]
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=lambda: {"content-type": SSE_CONTENT_TYPE})
    delay: float = 0.0
    framing: Framing = "chunked"

    def __post_init__(self) -> None:
        # Frozen + tuple: one scripted response may be replayed many times (the default).
        object.__setattr__(self, "chunks", tuple(self.chunks))

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    @classmethod
    def from_body(
        cls,
        body: bytes,
        *,
        split: Literal["events"] | int = "events",
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        framing: Framing = "chunked",
    ) -> Stream:
        """Replay recorded bytes, split at SSE event boundaries or every `split` bytes."""
        if split == "events":
            chunks = re.findall(rb".*?\r?\n\r?\n|.+\Z", body, re.S)
        else:
            chunks = [body[start : start + split] for start in range(0, len(body), split)]
        return cls(chunks, status, dict(headers) if headers is not None else {"content-type": SSE_CONTENT_TYPE}, delay, framing)

    def replace(self, **changes: Any) -> Stream:
        fields = {"chunks": self.chunks, "status": self.status, "headers": self.headers, "delay": self.delay, "framing": self.framing}
        return Stream(**{**fields, **changes})


@dataclass(frozen=True)
class JsonResponse:
    """A whole JSON body with Content-Length (errors, non-streamed answers)."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    def as_stream(self) -> Stream:
        encoded = self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()
        return Stream((encoded,), self.status, {"content-type": "application/json", **self.headers}, 0.0, "length")


@dataclass(frozen=True)
class RawResponse:
    """Bytes written verbatim, status line included: for broken HTTP itself."""

    data: bytes
    close_after: bool = True


@dataclass(frozen=True)
class Refuse:
    """Read the request, then close without answering. reset=True sends a TCP RST
    instead of a FIN (clients see ECONNRESET rather than an empty reply)."""

    reset: bool = False


@dataclass(frozen=True)
class Hang:
    """Accept and read the request, never answer; ends when the client leaves or the server stops."""


@dataclass(frozen=True)
class SlowFirstByte:
    seconds: float
    then: Response


@dataclass(frozen=True)
class StallMidStream:
    """Send `after_chunks` chunks, then go silent for `seconds` (None: until the end)
    and, if it was finite, send the rest."""

    stream: Stream
    after_chunks: int
    seconds: float | None = None


@dataclass(frozen=True)
class CutMidStream:
    """Send `after_chunks` chunks, then close the socket: no terminating 0-chunk
    (chunked), fewer bytes than announced (length), or a clean early EOF (close)."""

    stream: Stream
    after_chunks: int


Response = Stream | JsonResponse | RawResponse | Refuse | Hang | SlowFirstByte | StallMidStream | CutMidStream


# ------------------------------------------------------------ SSE framing ---


def sse_data(payload: Any) -> bytes:
    """One OpenAI-style event: `data: <compact json>\\n\\n` (strings sent as-is)."""
    text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {text}\n\n".encode()


def sse_event(event: str, payload: Any) -> bytes:
    """One Anthropic-style event: `event: <name>\\ndata: <json>\\n\\n`."""
    return f"event: {event}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


SSE_DONE = b"data: [DONE]\n\n"


def split_text(text: str | Sequence[str]) -> list[str]:
    """Words with their leading whitespace, so joining the pieces gives `text` back."""
    if not isinstance(text, str):
        return list(text)
    return re.findall(r"\s*\S+|\s+", text) or [text]


# ------------------------------------------------------- OpenAI chat SSE ---


def openai_chunk(
    delta: Mapping[str, Any],
    *,
    finish_reason: str | None = None,
    chunk_id: str = "chatcmpl-fake",
    model: str = FAKE_MODEL,
) -> dict[str, Any]:
    return {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": FAKE_CREATED,
        "model": model,
        "choices": [{"index": 0, "delta": dict(delta), "logprobs": None, "finish_reason": finish_reason}],
    }


def openai_usage_chunk(usage: Mapping[str, Any], *, chunk_id: str = "chatcmpl-fake", model: str = FAKE_MODEL) -> dict[str, Any]:
    """The trailing `choices: []` chunk OpenAI sends when stream_options.include_usage is set."""
    return {"id": chunk_id, "object": "chat.completion.chunk", "created": FAKE_CREATED, "model": model, "choices": [], "usage": dict(usage)}


def _openai_stream(
    middle: Sequence[dict[str, Any]],
    *,
    finish_reason: str,
    model: str,
    usage: Mapping[str, Any] | None,
    with_done: bool,
    stream_options: dict[str, Any],
) -> Stream:
    frames = [openai_chunk({"role": "assistant", "content": ""}, model=model), *middle]
    frames.append(openai_chunk({}, finish_reason=finish_reason, model=model))
    if usage is not None:
        frames.append(openai_usage_chunk(usage, model=model))
    chunks = [sse_data(frame) for frame in frames] + ([SSE_DONE] if with_done else [])
    return Stream(chunks, **stream_options)


def openai_text_stream(
    text: str | Sequence[str],
    *,
    model: str = FAKE_MODEL,
    finish_reason: str = "stop",
    usage: Mapping[str, Any] | None = DEFAULT_USAGE,
    with_done: bool = True,
    **stream_options: Any,
) -> Stream:
    """Role chunk, one chunk per text piece, finish chunk, usage chunk, [DONE].
    `stream_options` are Stream fields: delay, framing, status, headers."""
    middle = [openai_chunk({"content": piece}, model=model) for piece in split_text(text)]
    return _openai_stream(middle, finish_reason=finish_reason, model=model, usage=usage, with_done=with_done, stream_options=stream_options)


def openai_tool_call_stream(
    name: str,
    arguments: Mapping[str, Any],
    *,
    id: str = "call_fake0001",
    text_before: str | None = None,
    argument_pieces: int = 3,
    model: str = FAKE_MODEL,
    usage: Mapping[str, Any] | None = DEFAULT_USAGE,
    with_done: bool = True,
    **stream_options: Any,
) -> Stream:
    """OpenAI's incremental shape: id/type/name with arguments "" first, then
    argument fragments that only concatenate to valid JSON at the end."""
    middle = [openai_chunk({"content": piece}, model=model) for piece in split_text(text_before)] if text_before else []
    call_start = {"index": 0, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}
    middle.append(openai_chunk({"tool_calls": [call_start]}, model=model))
    encoded = json.dumps(dict(arguments), separators=(",", ":"))
    step = max(1, -(-len(encoded) // max(1, argument_pieces)))
    for start in range(0, len(encoded), step):
        fragment = {"index": 0, "function": {"arguments": encoded[start : start + step]}}
        middle.append(openai_chunk({"tool_calls": [fragment]}, model=model))
    return _openai_stream(middle, finish_reason="tool_calls", model=model, usage=usage, with_done=with_done, stream_options=stream_options)


def openai_reasoning_stream(
    reasoning: str | Sequence[str],
    answer: str | Sequence[str],
    *,
    reasoning_field: str = "reasoning_content",
    model: str = FAKE_MODEL,
    usage: Mapping[str, Any] | None = DEFAULT_USAGE,
    with_done: bool = True,
    **stream_options: Any,
) -> Stream:
    """DeepSeek-style (`reasoning_content`) or OpenRouter-style (`reasoning`) thinking, then the answer."""
    middle = [openai_chunk({reasoning_field: piece, "content": None}, model=model) for piece in split_text(reasoning)]
    middle += [openai_chunk({"content": piece, reasoning_field: None}, model=model) for piece in split_text(answer)]
    return _openai_stream(middle, finish_reason="stop", model=model, usage=usage, with_done=with_done, stream_options=stream_options)


def openai_in_stream_error_stream(
    text_before: str = "Partial answer",
    error: Mapping[str, Any] | None = None,
    **stream_options: Any,
) -> Stream:
    """HTTP 200, some content, then a bare `data: {"error": ...}` frame and no [DONE],
    as OpenAI sends it (wire-samples/anthropic-and-openai-midstream-error.txt (B))."""
    error_body = dict(error or {"message": "The server had an error while processing your request. Sorry about that!", "type": "server_error"})
    frames = [openai_chunk({"role": "assistant", "content": ""})]
    frames += [openai_chunk({"content": piece}) for piece in split_text(text_before)]
    # Real OpenAI error frames use json.dumps' default ", " / ": " spacing.
    chunks = [sse_data(frame) for frame in frames] + [sse_data(json.dumps({"error": error_body}))]
    return Stream(chunks, **stream_options)


def malformed_sse_stream(**stream_options: Any) -> Stream:
    """A stream a lenient decoder must survive: truncated JSON, a non-JSON payload,
    a line with no field name and a comment, between valid frames; ends normally."""
    chunks = [
        sse_data(openai_chunk({"role": "assistant", "content": ""})),
        b'data: {"id":"chatcmpl-fake","choices":[{"index":0,"delta":{"content":"trunc\n\n',
        b"data: this is not json\n\n",
        b"garbage line without a field name\n\n",
        b": a comment line\n\n",
        sse_data(openai_chunk({"content": "still here"})),
        sse_data(openai_chunk({}, finish_reason="stop")),
        SSE_DONE,
    ]
    return Stream(chunks, **stream_options)


def big_text_stream(total_bytes: int = 10 * 1024 * 1024, piece_chars: int = 16 * 1024, **stream_options: Any) -> Stream:
    """An answer whose text alone is at least `total_bytes`, one chunk per `piece_chars` piece."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 \n"
    piece = (alphabet * (piece_chars // len(alphabet) + 1))[:piece_chars]
    count = -(-total_bytes // piece_chars)
    return openai_text_stream([piece] * count, **stream_options)


# ---------------------------------------------------------- Anthropic SSE ---


def anthropic_text_stream(
    text: str | Sequence[str],
    *,
    model: str = "claude-fake",
    message_id: str = "msg_fake",
    input_tokens: int = 10,
    stop_reason: str = "end_turn",
    **stream_options: Any,
) -> Stream:
    """A native Anthropic Messages stream with one text block (for passthrough routes)."""
    pieces = split_text(text)
    usage = {"input_tokens": input_tokens, "output_tokens": 1, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    message = {"id": message_id, "type": "message", "role": "assistant", "model": model, "content": [], "stop_reason": None, "stop_sequence": None, "usage": usage}
    chunks = [
        sse_event("message_start", {"type": "message_start", "message": message}),
        sse_event("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        sse_event("ping", {"type": "ping"}),
        *(sse_event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}) for p in pieces),
        sse_event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        sse_event("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None}, "usage": {"output_tokens": len(pieces)}}),
        sse_event("message_stop", {"type": "message_stop"}),
    ]
    return Stream(chunks, **stream_options)


# ---------------------------------------------------------------- errors ---


def openai_error(
    status: int,
    message: str,
    *,
    error_type: str = "invalid_request_error",
    code: str | int | None = None,
    retry_after: float | None = None,
    headers: Mapping[str, str] | None = None,
) -> JsonResponse:
    """OpenAI-style nested error body, e.g. openai_error(429, "slow down", retry_after=2)."""
    all_headers = dict(headers or {})
    if retry_after is not None:
        all_headers["retry-after"] = f"{retry_after:g}"
    return JsonResponse(status, {"error": {"message": message, "type": error_type, "param": None, "code": code}}, all_headers)


def anthropic_error(status: int, error_type: str, message: str, *, retry_after: float | None = None) -> JsonResponse:
    """Anthropic's error envelope, e.g. anthropic_error(529, "overloaded_error", "Overloaded")."""
    headers = {"retry-after": f"{retry_after:g}"} if retry_after is not None else {}
    return JsonResponse(status, {"type": "error", "error": {"type": error_type, "message": message}}, headers)
