"""What one routed request asked for, and what happened to it.

`RequestRecord` is made once, by the addon's request hook, and never changes:
the parsed request, its route, and the few client facts the engine needs.
`Trace` is written only by the engine, through its methods, while the exchange
runs: attempts, timings, status, outcome, usage. The mitmproxy layer keeps both
in its own per-flow state (never in `flow.metadata`, which mitmproxy saves to
flow files) and reads the trace when the client's flow ends.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from fcc.core.dialects.client_writers import ResponsesContext
from fcc.core.events import new_message_id
from fcc.router import Route


@dataclass(frozen=True)
class RequestRecord:
    """What was asked and where it routes."""

    request: dict
    route: Route
    stream: bool
    client_headers: Mapping[str, str]  # may hold the client's own credentials: never shown or saved
    input_estimate: int
    request_class: str = "main"
    message_id: str = field(default_factory=new_message_id)
    responses: ResponsesContext | None = None  # set for Codex (OpenAI Responses) clients

    def __post_init__(self) -> None:
        object.__setattr__(self, "client_headers", MappingProxyType(dict(self.client_headers)))


@dataclass
class Attempt:
    """One try at one target: the translated request (credentials masked) and the raw answer."""

    target: str
    url: str = ""
    request_headers: dict[str, str] = field(default_factory=dict)
    request_body: bytes = b""
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    raw: bytearray = field(default_factory=bytearray)
    chunk_times: list[tuple[float, int]] = field(default_factory=list)
    error: str | None = None
    started: float = field(default_factory=time.monotonic)
    continuation: bool = False  # asked the provider to continue a cut answer (fcc.core.continuation)


@dataclass
class Trace:
    """What happened to one request."""

    started: float = field(default_factory=time.monotonic)
    attempts: list[Attempt] = field(default_factory=list)
    first_byte_ms: float | None = None
    status: int | None = None
    usage: dict[str, Any] = field(default_factory=dict)  # Anthropic usage, as the answer reported it
    served_by: str | None = None
    outcome: str = ""
    error: str | None = None  # "type: message" of the error the client got (HTTP status or final event)
    notes: list[str] = field(default_factory=list)  # what fcc did on the way (continuations)

    def failed(self, error_type: str, message: str) -> None:
        self.error = self.error or f"{error_type}: {message}"

    def note(self, text: str) -> None:
        self.notes.append(text)

    def begin_attempt(self, attempt: Attempt) -> Attempt:
        self.attempts.append(attempt)
        return attempt

    def first_byte(self) -> None:
        """The client heard something (headers, an error, or the whole answer): time to first byte."""
        if self.first_byte_ms is None:
            self.first_byte_ms = (time.monotonic() - self.started) * 1000

    def answered(self, status: int) -> None:
        self.status = status
        self.first_byte()

    def add_usage(self, usage: Mapping[str, object] | None) -> None:
        self.usage.update({k: v for k, v in (usage or {}).items() if v is not None})

    def served(self, slug: str) -> None:
        self.served_by = slug

    def finish(self, outcome: str) -> None:
        """The first outcome stands: a later one (e.g. the client leaving after an error) does not hide it."""
        self.outcome = self.outcome or outcome

    def elapsed_ms(self) -> float:
        return (time.monotonic() - self.started) * 1000
