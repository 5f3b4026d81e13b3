"""The one interface of the upstream stream readers, and what the engine tells a new one.

A reader turns one upstream answer (bytes as they arrive) into Anthropic events
(fcc.core.events), incrementally and without I/O: the engine feeds it, asks it
the few facts it decides on, and never reaches into it. Which reader serves a
provider is chosen by its transport, in fcc.core.dialects.readers.READERS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from fcc.core.events import Event
from fcc.core.profiles import Profile


@dataclass(frozen=True)
class StreamSetup:
    """What a reader needs to know about the request it reads an answer for."""

    client_model: str  # the model name the client asked for, put back into every event
    message_id: str
    input_tokens: int  # fcc's estimate, used when the provider reports no usage
    profile: Profile
    upstream_model: str = ""  # the provider's model name (some quirks depend on it)
    request: dict[str, Any] = field(default_factory=dict)  # the client's request (declared tools, tool_choice)
    # The caller already sent (or will send) message_start itself: early, to keep a streaming
    # client's watchdog fed while attempts are retried. The reader then never emits one.
    message_started: bool = True


class StreamReader(Protocol):
    """feed/finish/fail -> Anthropic events; never raises."""

    # (error type, message) once the answer failed (an in-stream error, a cut, a malformed stream).
    error: tuple[str, str] | None

    @property
    def has_content(self) -> bool:
        """Something the client keeps arrived: from here on the answer is committed."""

    @property
    def ended(self) -> bool:
        """The answer is complete (message_stop emitted) or failed."""

    @property
    def usage(self) -> dict[str, Any]:
        """The Anthropic usage of the answer as far as known (empty until the provider reports it)."""

    @property
    def needs_clock(self) -> bool:
        """True if flush_pending may produce events: the caller must call it on its own clock,
        and order those events with feed's."""

    @property
    def holding(self) -> bool:
        """Text is held back (e.g. while deciding whether it is a tool call written as text)."""

    def feed(self, data: bytes) -> list[Event]: ...

    def finish(self) -> list[Event]:
        """The upstream closed: the closing events (an error event if the answer was cut short)."""

    def fail(self, error_type: str, message: str) -> list[Event]:
        """The caller gave up on the upstream (timeout, connection lost): the events that end the answer."""

    def flush_pending(self, now: float) -> list[Event]:
        """Release held text that waited too long; `now` is the caller's monotonic clock (the core has none)."""
