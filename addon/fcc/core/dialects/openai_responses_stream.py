"""OpenAI Responses SSE from an upstream (OpenAI itself) -> Anthropic events, and the request body
for that upstream.

Codex's request goes to an OpenAI-Responses provider as it came (model renamed, fcc's wrapping
of reasoning state undone), and the answer comes back through the hub like every other
provider's: text and reasoning summaries stream as deltas, calls arrive whole on
`output_item.done`, and a reasoning item's `encrypted_content` becomes the thinking signature
(or a redacted_thinking block when no summary came), so the Responses writer hands Codex the
same item again.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from fcc.core.dialects.responses_request import REDACTED_STATE, SIGNATURE_STATE
from fcc.core.dialects.responses_tools import CUSTOM_INPUT, DEFAULT_NAMESPACE, NAMESPACE_SEPARATOR
from fcc.core.events import BlockEmitter, Event, usage_dict
from fcc.core.sse import SSEDecoder
from fcc.core.tools import decode_state, encode_state

# OpenAI's encrypted reasoning, as fcc state: dropped before any other provider (DESIGN decision 4).
OPENAI_REASONING_STATE = "openai_reasoning"

# Responses error codes -> the Anthropic error types the engine and the writers know.
_ERROR_TYPES = {
    "rate_limit_exceeded": "rate_limit_error",
    "insufficient_quota": "billing_error",
    "context_length_exceeded": "invalid_request_error",
    "invalid_prompt": "invalid_request_error",
    "server_error": "api_error",
    "vector_store_timeout": "api_error",
}


def passthrough_body(client_body: dict, upstream_model: str) -> dict:
    """The client's Responses body for an OpenAI-Responses upstream: its own state restored."""
    body = copy.deepcopy(client_body)
    body["model"] = upstream_model
    body["stream"] = True
    items = body.get("input")
    if isinstance(items, list):
        kept = []
        for item in items:
            if isinstance(item, dict) and item.get("type") == "reasoning":
                state = decode_state(item.get("encrypted_content"))
                if state is not None:
                    if state[0] not in (SIGNATURE_STATE, REDACTED_STATE, OPENAI_REASONING_STATE) or not isinstance(state[1], str):
                        continue  # another provider's state: meaningless to OpenAI
                    item = {**item, "encrypted_content": state[1]}
            kept.append(item)
        body["input"] = kept
    return body


class OpenAIResponsesReader:
    """Upstream Responses SSE -> Anthropic events (`feed`, `finish`, `fail`, like every reader)."""

    def __init__(
        self, client_model: str, message_id: str | None = None, input_tokens: int = 0, *, message_started: bool = False
    ) -> None:
        self.emitter = BlockEmitter(client_model, message_id, input_tokens, started=message_started)
        self._decoder = SSEDecoder()
        self._input_estimate = input_tokens
        self._streamed_text: set[str] = set()  # message items whose text came as deltas
        self._summary_items: dict[str, int] = {}  # reasoning item -> summary parts seen
        self._calls = 0
        self.error: tuple[str, str] | None = None

    @property
    def ended(self) -> bool:
        return self.emitter.ended

    @property
    def usage(self) -> dict[str, Any]:
        return self.emitter.usage

    # Nothing is held back: every event comes out of feed, finish or fail.
    needs_clock = False
    holding = False

    def flush_pending(self, now: float) -> list[Event]:
        return []

    @property
    def has_content(self) -> bool:
        return self.emitter.blocks_started > 0

    def feed(self, data: bytes) -> list[Event]:
        out: list[Event] = []
        try:
            for sse in self._decoder.feed(data):
                self._event(sse.data, out)
        except Exception as exc:  # the core must never raise into the proxy
            self._fail("api_error", f"fcc could not translate the upstream stream: {type(exc).__name__}", out)
        return out

    def finish(self) -> list[Event]:
        out: list[Event] = []
        try:
            for sse in self._decoder.finish():
                self._event(sse.data, out)
        except Exception as exc:
            self._fail("api_error", f"fcc could not finish the upstream stream: {type(exc).__name__}", out)
        if not self.emitter.ended:
            self._fail("api_error", "the upstream stream ended before response.completed", out)
        return out

    def fail(self, error_type: str, message: str) -> list[Event]:
        out: list[Event] = []
        self._fail(error_type, message, out)
        return out

    def _fail(self, error_type: str, message: str, out: list[Event]) -> None:
        if self.emitter.ended:
            return
        self.error = (error_type, message)
        self.emitter.error(error_type, message, out)

    # ------------------------------------------------------------ events
    def _event(self, data: str, out: list[Event]) -> None:
        if self.emitter.ended or not data.strip():
            return
        try:
            event = json.loads(data)
        except ValueError:
            return
        if not isinstance(event, dict):
            return
        kind = event.get("type")
        if kind == "response.output_text.delta" and isinstance(event.get("delta"), str):
            self._streamed_text.add(str(event.get("item_id")))
            self.emitter.text(event["delta"], out)
        elif kind == "response.reasoning_summary_part.added":
            item_id = str(event.get("item_id"))
            seen = self._summary_items.get(item_id, 0)
            if seen and self.emitter.open_kind == "thinking":
                self.emitter.thinking("\n\n", out)  # summary parts read as paragraphs
            self._summary_items[item_id] = seen + 1
        elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta") and isinstance(event.get("delta"), str):
            self.emitter.thinking(event["delta"], out)
        elif kind == "response.output_item.done" and isinstance(event.get("item"), dict):
            self._item_done(event["item"], out)
        elif kind in ("response.completed", "response.incomplete"):
            self._complete(event.get("response") or {}, kind == "response.incomplete", out)
        elif kind == "response.failed":
            error = (event.get("response") or {}).get("error") or {}
            self._upstream_error(error, out)
        elif kind == "error":
            self._upstream_error(found if isinstance(found := event.get("error"), dict) else event, out)

    def _item_done(self, item: dict, out: list[Event]) -> None:
        kind = item.get("type")
        if kind == "reasoning":
            raw = item.get("encrypted_content")
            encrypted = encode_state(OPENAI_REASONING_STATE, raw) if isinstance(raw, str) and raw else None
            if self.emitter.open_kind == "thinking":
                self.emitter.close_block(out, signature=encrypted)
            elif encrypted:
                self.emitter.redacted_thinking(encrypted, out)
        elif kind == "message":
            if str(item.get("id")) not in self._streamed_text:
                for part in item.get("content") or []:
                    if isinstance(part, dict) and isinstance(part.get("text"), str):
                        self.emitter.text(part["text"], out)
            if self.emitter.open_kind == "text":
                self.emitter.close_block(out)
        elif kind in ("function_call", "custom_tool_call"):
            name = str(item.get("name") or "")
            namespace = item.get("namespace")
            if isinstance(namespace, str) and namespace and namespace != DEFAULT_NAMESPACE:
                name = f"{namespace}{NAMESPACE_SEPARATOR}{name}"
            if kind == "function_call":
                arguments = str(item.get("arguments") or "") or "{}"
            else:
                arguments = json.dumps({CUSTOM_INPUT: str(item.get("input") or "")}, ensure_ascii=False)
            self._calls += 1
            self.emitter.tool_use(str(item.get("call_id") or item.get("id") or ""), name, arguments, out)

    def _complete(self, response: dict, incomplete: bool, out: list[Event]) -> None:
        usage = found if isinstance(found := response.get("usage"), dict) else {}
        cached = int(((usage.get("input_tokens_details") or {}).get("cached_tokens")) or 0)
        input_tokens = int(usage.get("input_tokens") or self._input_estimate)
        anthropic_usage = usage_dict(max(0, input_tokens - cached), int(usage.get("output_tokens") or 0), cache_read=cached)
        if incomplete:
            stop = "max_tokens"
        else:
            stop = "tool_use" if self._calls else "end_turn"
        self.emitter.stop(stop, anthropic_usage, out)

    def _upstream_error(self, error: dict, out: list[Event]) -> None:
        code = str(error.get("code") or error.get("type") or "server_error")
        message = str(error.get("message") or "the provider reported an error")
        self._fail(_ERROR_TYPES.get(code, "api_error"), message, out)
