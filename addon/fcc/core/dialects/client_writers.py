"""The client side of an exchange: how Anthropic events, errors and whole answers
are written for the client that asked (Claude Code: Anthropic SSE; Codex: Responses SSE).

The engine runs one exchange the same way for both and asks its writer for the bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Protocol

from fcc.core.dialects.responses_tools import ToolMap
from fcc.core.dialects.responses_stream import ResponsesWriter, error_code, openai_error_body, response_from_message
from fcc.core.errors import AnthropicError, CLIENT_MAX_RETRY_AFTER
from fcc.core.events import Event, encode_events, error_event
from fcc.core.sse import encode_event

JSON_HEADERS = {"content-type": "application/json"}


class ClientWriter(Protocol):
    def encode(self, events: list[Event]) -> list[bytes]: ...
    def ping(self) -> bytes: ...
    def stream_error(self, error: AnthropicError) -> list[bytes]: ...
    def failure_stream(self, error: AnthropicError) -> list[bytes] | None: ...
    def error_answer(self, error: AnthropicError) -> tuple[int, dict[str, str], bytes]: ...
    def json_body(self, message: dict) -> bytes: ...


class AnthropicClientWriter:
    """Claude Code and the Anthropic SDKs."""

    def encode(self, events: list[Event]) -> list[bytes]:
        return encode_events(events)

    def ping(self) -> bytes:
        return encode_event("ping", {"type": "ping"})

    def stream_error(self, error: AnthropicError) -> list[bytes]:
        return encode_events([error_event(error.type, error.message)])

    def failure_stream(self, error: AnthropicError) -> list[bytes] | None:
        return None  # before the stream began, an HTTP error with its status says it best

    def error_answer(self, error: AnthropicError) -> tuple[int, dict[str, str], bytes]:
        return error.status, error.response_headers(), error.body_bytes()

    def json_body(self, message: dict) -> bytes:
        return json.dumps(message, ensure_ascii=False).encode()


@dataclass
class ResponsesContext:
    """What a Responses (Codex) request carries besides the internal request."""

    tool_map: ToolMap = field(default_factory=ToolMap)
    body: dict = field(default_factory=dict)  # the client's own body, for OpenAI-Responses upstreams


class ResponsesClientWriter:
    """The Codex CLI and other OpenAI Responses clients.

    Codex (0.171.0, ../shared/research/codex-client.md) shows a 400's body and stops; it retries 429 and 5xx
    several times and then replaces the message with a generic one. So a final transient failure
    goes to a streaming client as `response.failed` (its message kept; `rate_limit_exceeded` with
    "try again in N s" is retried after that delay, `context_length_exceeded` starts compaction),
    and a request that cannot succeed is an HTTP 400 with the OpenAI error body.
    """

    def __init__(self, model: str, context: ResponsesContext, response_id: str | None = None) -> None:
        self.context = context
        self.writer = ResponsesWriter(model, context.tool_map, response_id)

    def encode(self, events: list[Event]) -> list[bytes]:
        return self.writer.feed(events)

    def ping(self) -> bytes:
        return b"".join(self.writer.feed([{"type": "ping"}]))

    def stream_error(self, error: AnthropicError) -> list[bytes]:
        out: list[bytes] = []
        self.writer.fail(error.type, _message(error), out)
        return out

    def failure_stream(self, error: AnthropicError) -> list[bytes] | None:
        if error.status < 500 and error.status != 429 and error_code(error.type, error.message) != "context_length_exceeded":
            return None
        return self.stream_error(error)

    def error_answer(self, error: AnthropicError) -> tuple[int, dict[str, str], bytes]:
        code = error_code(error.type, error.message)
        status = error.status
        if 400 < status < 500 and status != 429:
            status = 400  # Codex retries 401/404 five times before showing anything
        headers = {**JSON_HEADERS, **{k: v for k, v in error.headers.items() if k == "retry-after"}}
        kind = "invalid_request_error" if status == 400 else error.type
        return status, headers, openai_error_body(_message(error), kind, code)

    def json_body(self, message: dict) -> bytes:
        response = response_from_message(message, self.context.tool_map, self.writer.response["id"])
        return json.dumps(response, ensure_ascii=False).encode()


def _message(error: AnthropicError) -> str:
    """Codex reads the retry delay of a rate limit from the message text ("try again in 12s")."""
    if error.status == 429 and "try again in" not in error.message.lower():
        seconds = error.headers.get("retry-after")
        if seconds and seconds.isdigit() and int(seconds) <= CLIENT_MAX_RETRY_AFTER:
            return f"{error.message}. Please try again in {max(1, int(seconds))}s."
    return error.message
