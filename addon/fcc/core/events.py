"""Anthropic stream events: the hub every dialect is decoded into.

Events are plain dicts shaped exactly like the `data:` JSON of an Anthropic
SSE event (`{"type": "content_block_delta", ...}`); they stay cheap on the hot
path and serialise without a conversion step.

`BlockEmitter` owns the grammar the SDK accumulators rely on (A.3/A.4 in
../shared/research/protocol-notes.md): `message_start` first, blocks numbered 0..n in
start order, one block open at a time, `message_delta` then `message_stop`,
or a final `error` and nothing after it.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from fcc.core.sse import encode_event
from fcc.core.tools import SYNTHETIC_SIGNATURE

Event = dict


def new_message_id() -> str:
    return "msg_" + uuid.uuid4().hex[:24]


def usage_dict(
    input_tokens: int = 0,
    output_tokens: int = 0,
    cache_read: int = 0,
    cache_creation: int = 0,
) -> dict:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": cache_creation,
        "cache_read_input_tokens": cache_read,
    }


def message_start_event(message_id: str, model: str, input_tokens: int = 0) -> Event:
    return {
        "type": "message_start",
        "message": {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage_dict(input_tokens, 1),
        },
    }


def error_event(error_type: str, message: str) -> Event:
    return {"type": "error", "error": {"type": error_type, "message": message}}


class BlockEmitter:
    """Builds a well-formed Anthropic event sequence from content pieces."""

    __slots__ = (
        "message_id",
        "model",
        "started",
        "ended",
        "_index",
        "_open_kind",
        "blocks_started",
        "output_chars",
        "_input_tokens",
        "usage",
    )

    def __init__(self, model: str, message_id: str | None = None, input_tokens: int = 0, *, started: bool = False) -> None:
        self.message_id = message_id or new_message_id()
        self.model = model
        self.started = started  # True: the caller sends message_start itself
        self.ended = False
        self._index = -1
        self._open_kind: str | None = None
        self.blocks_started = 0
        self.output_chars = 0
        self._input_tokens = input_tokens
        self.usage: dict[str, Any] = {}  # as sent in the final message_delta

    def _ensure_started(self, out: list[Event]) -> None:
        if not self.started:
            self.started = True
            out.append(message_start_event(self.message_id, self.model, self._input_tokens))

    def start_message(self) -> list[Event]:
        out: list[Event] = []
        self._ensure_started(out)
        return out

    def _open(self, out: list[Event], kind: str, block: dict) -> None:
        self._close(out)
        self._index += 1
        self.blocks_started += 1
        self._open_kind = kind
        out.append({"type": "content_block_start", "index": self._index, "content_block": block})

    def _close(self, out: list[Event], signature: str | None = None) -> None:
        if self._open_kind is None:
            return
        if self._open_kind == "thinking":
            out.append(
                {
                    "type": "content_block_delta",
                    "index": self._index,
                    "delta": {"type": "signature_delta", "signature": signature or SYNTHETIC_SIGNATURE},
                }
            )
        out.append({"type": "content_block_stop", "index": self._index})
        self._open_kind = None

    @property
    def open_kind(self) -> str | None:
        return self._open_kind

    def text(self, piece: str, out: list[Event]) -> None:
        if not piece or self.ended:
            return
        self._ensure_started(out)
        if self._open_kind != "text":
            self._open(out, "text", {"type": "text", "text": ""})
        self.output_chars += len(piece)
        out.append({"type": "content_block_delta", "index": self._index, "delta": {"type": "text_delta", "text": piece}})

    def thinking(self, piece: str, out: list[Event]) -> None:
        if not piece or self.ended:
            return
        self._ensure_started(out)
        if self._open_kind != "thinking":
            self._open(out, "thinking", {"type": "thinking", "thinking": "", "signature": ""})
        self.output_chars += len(piece)
        out.append(
            {"type": "content_block_delta", "index": self._index, "delta": {"type": "thinking_delta", "thinking": piece}}
        )

    def close_block(self, out: list[Event], signature: str | None = None) -> None:
        self._close(out, signature)

    def redacted_thinking(self, data: str, out: list[Event]) -> None:
        self._ensure_started(out)
        self._open(out, "redacted_thinking", {"type": "redacted_thinking", "data": data})
        self._close(out)

    def tool_use(self, tool_id: str, name: str, input_json: str, out: list[Event]) -> None:
        """A whole tool call: start, one input_json_delta with validated JSON, stop."""
        if self.ended:
            return
        self._ensure_started(out)
        self._open(out, "tool_use", {"type": "tool_use", "id": tool_id, "name": name, "input": {}})
        self.output_chars += len(input_json)
        out.append(
            {
                "type": "content_block_delta",
                "index": self._index,
                "delta": {"type": "input_json_delta", "partial_json": input_json},
            }
        )
        self._close(out)

    def stop(self, stop_reason: str, usage: dict, out: list[Event], stop_sequence: str | None = None) -> None:
        if self.ended:
            return
        self._ensure_started(out)
        self._close(out)
        self.ended = True
        self.usage = usage
        out.append(
            {
                "type": "message_delta",
                "delta": {"type": "message_delta", "stop_reason": stop_reason, "stop_sequence": stop_sequence},
                "usage": usage,
            }
        )
        out.append({"type": "message_stop"})

    def error(self, error_type: str, message: str, out: list[Event]) -> None:
        """A final error: the stream ends here, with no fake message_stop."""
        if self.ended:
            return
        self.ended = True
        out.append(error_event(error_type, message))


def encode_events(events: list[Event]) -> list[bytes]:
    return [encode_event(event["type"], event) for event in events]


class MessageAccumulator:
    """Events -> the final Message JSON (serves `stream:false` from a streamed upstream)."""

    def __init__(self) -> None:
        self.message: dict | None = None
        self.error: dict | None = None
        self._json_buffers: dict[int, str] = {}

    def add(self, events: list[Event]) -> None:
        for event in events:
            kind = event["type"]
            if kind == "message_start":
                self.message = dict(event["message"])
                self.message["content"] = []
                self.message["usage"] = dict(event["message"].get("usage") or {})
            elif self.message is None:
                if kind == "error":
                    self.error = event["error"]
                continue
            elif kind == "content_block_start":
                self.message["content"].append(dict(event["content_block"]))
            elif kind == "content_block_delta":
                self._delta(event["index"], event["delta"])
            elif kind == "content_block_stop":
                index = event["index"]
                if index in self._json_buffers:
                    raw = self._json_buffers.pop(index)
                    try:
                        self.message["content"][index]["input"] = json.loads(raw) if raw else {}
                    except ValueError:
                        self.message["content"][index]["input"] = {"_raw_arguments": raw}
            elif kind == "message_delta":
                delta = event.get("delta") or {}
                self.message["stop_reason"] = delta.get("stop_reason")
                self.message["stop_sequence"] = delta.get("stop_sequence")
                for key, value in (event.get("usage") or {}).items():
                    if value is not None:
                        self.message["usage"][key] = value
            elif kind == "error":
                self.error = event["error"]

    def _delta(self, index: int, delta: dict) -> None:
        assert self.message is not None
        blocks = self.message["content"]
        if index >= len(blocks):
            return
        block = blocks[index]
        kind = delta.get("type")
        if kind == "text_delta" and block.get("type") == "text":
            block["text"] += delta.get("text", "")
        elif kind == "thinking_delta" and block.get("type") == "thinking":
            block["thinking"] += delta.get("thinking", "")
        elif kind == "signature_delta" and block.get("type") == "thinking":
            block["signature"] = delta.get("signature", "")
        elif kind == "input_json_delta" and block.get("type") in ("tool_use", "server_tool_use"):
            self._json_buffers[index] = self._json_buffers.get(index, "") + delta.get("partial_json", "")

    @property
    def complete(self) -> bool:
        return self.message is not None and self.error is None and self.message.get("stop_reason") is not None


class AnthropicSSETranslator:
    """Any event reader -> Anthropic SSE bytes: `feed(bytes) -> list[bytes]`, `finish() -> list[bytes]`."""

    __slots__ = ("reader",)

    def __init__(self, reader: Any) -> None:  # reader: has feed(bytes)->events, finish()->events
        self.reader = reader

    def feed(self, data: bytes) -> list[bytes]:
        return encode_events(self.reader.feed(data))

    def finish(self) -> list[bytes]:
        return encode_events(self.reader.finish())
