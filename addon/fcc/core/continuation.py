"""Mid-stream continuation: finishing a cut answer from its partial text.

When an upstream stream is cut or stalls after the client already has some
text, the engine may ask a provider to continue from that text (an assistant
prefill) and splice the continuation into the message the client is reading,
so the client sees one clean message instead of an error and a redo.

`Transcript` follows what the client was sent; `continuation_request` builds the
Anthropic-shaped request that ends with the partial assistant turn (each
dialect then expresses the prefill its own way, profile field `prefill`);
`Splice` renumbers the continuation's events into the client's message. A
tool call is never continued: a cut inside one ends as before.
"""

from __future__ import annotations

import copy
from typing import Any

Event = dict[str, Any]


class Transcript:
    """The content blocks of the current message as the client has received them."""

    __slots__ = ("blocks", "open")

    def __init__(self) -> None:
        self.blocks: list[dict[str, Any]] = []  # {"type": ..., "text": ...}
        self.open: int | None = None  # index of the block still open at the client

    def add(self, events: list[Event]) -> None:
        for event in events:
            kind = event.get("type")
            if kind == "content_block_start":
                block = event.get("content_block") or {}
                self.blocks.append({"type": block.get("type"), "text": block.get("text") or ""})
                self.open = event.get("index")
            elif kind == "content_block_delta":
                delta = event.get("delta") or {}
                index = event.get("index")
                if delta.get("type") == "text_delta" and isinstance(index, int) and index < len(self.blocks):
                    self.blocks[index]["text"] += delta.get("text") or ""
            elif kind == "content_block_stop":
                self.open = None

    @property
    def text(self) -> str:
        return "".join(block["text"] for block in self.blocks if block["type"] == "text")

    @property
    def tool_sent(self) -> bool:
        return any(block["type"] == "tool_use" for block in self.blocks)

    def continuable(self) -> bool:
        """Text is the latest thing the client got, and no tool call: a prefill can carry on from it."""
        return bool(self.blocks) and self.blocks[-1]["type"] == "text" and bool(self.text) and not self.tool_sent


def continuation_request(
    request: dict[str, Any], partial: str, *, strip_trailing_space: bool = False
) -> tuple[dict[str, Any], str]:
    """(the request ending with the partial assistant turn, the whitespace cut off its end).

    Anthropic rejects a prefill that ends in whitespace, so for it the tail is cut and
    the continuation's leading whitespace is dropped by `Splice` instead. Thinking is
    not asked for: the model already thought, and a prefill cannot carry its thinking.
    """
    prefill = partial.rstrip() if strip_trailing_space else partial
    dropped = partial[len(prefill) :]
    body = copy.copy(request)
    body.pop("thinking", None)
    messages: list[dict[str, Any]] = list(request.get("messages") or [])
    turn_content: list[dict[str, Any]] = [{"type": "text", "text": prefill}]
    if messages and messages[-1].get("role") == "assistant":
        # The client's own prefill: the partial continues it.
        last = messages[-1]
        content = last.get("content")
        blocks: list[dict[str, Any]] = [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])
        messages[-1] = {**last, "content": blocks + turn_content}
    else:
        messages.append({"role": "assistant", "content": turn_content})
    body["messages"] = messages
    return body, dropped


class Splice:
    """A continuation's events -> events that extend the client's message.

    The first text block merges into the client's open text block (or follows its
    last block); thinking in the continuation is dropped (the client's message already
    has its thinking first); message_start and pings are the engine's own.
    """

    def __init__(self, transcript: Transcript, dropped_space: str = "") -> None:
        self._open = transcript.open
        self._next = len(transcript.blocks)
        self._map: dict[int, int] = {}
        self._skip: set[int] = set()
        self._strip = bool(dropped_space)
        self._first_text = True
        self.text = ""  # the continuation's text, for the trace

    def feed(self, events: list[Event]) -> list[Event]:
        out: list[Event] = []
        for event in events:
            kind = event.get("type")
            if kind in ("message_start", "ping"):
                continue
            if kind == "content_block_start":
                self._start(event, out)
            elif kind in ("content_block_delta", "content_block_stop"):
                self._block_event(event, out)
            else:
                if kind == "message_delta" and self._open is not None:
                    out.append({"type": "content_block_stop", "index": self._open})
                    self._open = None
                out.append(event)
        return out

    def _start(self, event: Event, out: list[Event]) -> None:
        index = event.get("index")
        if not isinstance(index, int):
            return
        block = event.get("content_block") or {}
        if block.get("type") in ("thinking", "redacted_thinking"):
            self._skip.add(index)
            return
        if block.get("type") == "text" and self._open is not None and not self._map:
            self._map[index] = self._open
            return
        if self._open is not None:
            out.append({"type": "content_block_stop", "index": self._open})
            self._open = None
        self._map[index] = self._next
        self._next += 1
        out.append({**event, "index": self._map[index]})

    def _block_event(self, event: Event, out: list[Event]) -> None:
        index = event.get("index")
        if not isinstance(index, int) or index in self._skip or index not in self._map:
            return
        target = self._map[index]
        if event["type"] == "content_block_stop":
            if target == self._open:
                self._open = None
            out.append({**event, "index": target})
            return
        delta = event.get("delta") or {}
        if delta.get("type") == "text_delta":
            text = self._clean(delta.get("text") or "")
            if not text:
                return
            self.text += text
            delta = {**delta, "text": text}
        out.append({**event, "index": target, "delta": delta})

    def _clean(self, text: str) -> str:
        if self._first_text and text:
            if self._strip:
                text = text.lstrip()
            self._first_text = not text
        return text
