"""Anthropic-native upstreams (DeepSeek/Z.ai/Kimi/MiniMax Anthropic endpoints,
llama.cpp, the real Anthropic API): request shaping and a stream reader.

The body passes through with the model renamed and the billing block removed;
the answer passes through with the client's model name restored and the
grammar enforced, because Anthropic-compatible servers are not all faithful
(OpenRouter zeroes message_start usage, appends a thinking block after
tool_use and a non-standard `event: data / [DONE]` trailer).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from fcc.core import reasoning as reasoning_policy
from fcc.core.events import Event, error_event, message_start_event, new_message_id
from fcc.core.dialects.openai_chat_messages import as_blocks, flatten_text, is_billing_block
from fcc.core.sse import SSEDecoder
from fcc.core.tools import is_fcc_signature

_KNOWN_EVENTS = frozenset(
    {"message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta",
     "message_stop", "ping", "error"}
)


DEFAULT_MAX_TOKENS = 32000


_INPUT_USAGE = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


def _is_fcc_thinking(block: object) -> bool:
    """Thinking that fcc made up (from another provider) would fail signature checks here."""
    return isinstance(block, dict) and (
        (block.get("type") == "thinking" and is_fcc_signature(block.get("signature")))
        or (block.get("type") == "redacted_thinking" and is_fcc_signature(block.get("data")))
    )


def _clean_messages(body: dict, genuine_anthropic: bool) -> list:
    """Drop fcc-made thinking, fold mid-conversation system turns into `system` for
    endpoints that only know user/assistant, and never leave an empty or repeated turn."""
    cleaned: list[dict] = []
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        emptied = False
        if isinstance(content, list) and content:
            content = [block for block in content if not _is_fcc_thinking(block)]
            emptied = not content
        if message.get("role") == "system" and not genuine_anthropic:
            text = flatten_text(content)
            if text.strip():
                system = body.get("system")
                blocks = [{"type": "text", "text": system}] if isinstance(system, str) else list(system or [])
                body["system"] = blocks + [{"type": "text", "text": text}]
            continue
        if emptied or (not content and not genuine_anthropic):
            continue
        turn = dict(message) if genuine_anthropic else {"role": message.get("role"), "content": content}
        turn["content"] = content
        previous = cleaned[-1] if cleaned else None
        if previous is not None and previous["role"] == turn["role"] and turn["role"] in ("user", "assistant"):
            previous["content"] = as_blocks(previous["content"]) + as_blocks(turn["content"])
            continue
        cleaned.append(turn)
    return cleaned


def translate_native_request(
    request: dict,
    upstream_model: str,
    *,
    reasoning: str = "client",
    max_tokens_cap: int | None = None,
    genuine_anthropic: bool = False,
) -> dict:
    """The request for an Anthropic-compatible upstream."""
    body = copy.deepcopy(request)
    body["model"] = upstream_model
    system = body.get("system")
    if isinstance(system, list):
        body["system"] = [b for b in system if not (isinstance(b, dict) and is_billing_block(b.get("text") or ""))]
        if not body["system"]:
            body.pop("system")
    elif isinstance(system, str) and is_billing_block(system):
        body.pop("system")
    body["messages"] = _clean_messages(body, genuine_anthropic)
    if not genuine_anthropic:
        # Third-party Anthropic endpoints reject or mishandle these Claude-Code-only fields.
        for key in ("context_management", "diagnostics", "safeguards", "container", "mcp_servers", "fallbacks"):
            body.pop(key, None)
    if not isinstance(body.get("max_tokens"), int):
        # Required here; Codex (Responses) requests usually leave it to the server.
        body["max_tokens"] = max_tokens_cap or DEFAULT_MAX_TOKENS
    if isinstance(body.get("max_tokens"), int) and max_tokens_cap:
        body["max_tokens"] = min(body["max_tokens"], max_tokens_cap)
    if reasoning and reasoning != "client":
        decision = reasoning_policy.resolve(request, reasoning)
        thinking = reasoning_policy.anthropic_thinking(decision, body.get("max_tokens"))
        if thinking is not None:
            body["thinking"] = thinking
            if thinking["type"] == "disabled" and isinstance(body.get("output_config"), dict):
                body["output_config"].pop("effort", None)
    return body


class AnthropicSSEReader:
    """Upstream Anthropic SSE -> clean Anthropic events (model restored, blocks renumbered)."""

    def __init__(self, client_model: str, input_tokens: int = 0, *, message_started: bool = False) -> None:
        self._model = client_model
        self._decoder = SSEDecoder()
        self._index_map: dict[int, int] = {}
        self._next_index = 0
        self._open: int | None = None
        self._open_type: str | None = None
        self._input_estimate = input_tokens
        # The provider's input counts from its message_start, kept for the final message_delta
        # when fcc sends its own message_start instead (the client must see the provider's numbers).
        self._start_usage: dict[str, int] = {}
        self.started = message_started  # True: the caller sends message_start itself
        self.ended = False
        self.usage: dict[str, Any] = {}  # as the upstream's message_delta reported it
        self._content_seen = False
        self.error: tuple[str, str] | None = None

    @property
    def has_content(self) -> bool:
        """True once something the client would keep arrived (not just an empty block start)."""
        return self._content_seen

    # Nothing is held back: every event comes out of feed, finish or fail.
    needs_clock = False
    holding = False

    def flush_pending(self, now: float) -> list[Event]:
        return []

    @property
    def pending_tool_call(self) -> bool:
        """A tool_use block is open (its input streams through as it comes)."""
        return self._open is not None and self._open_type in ("tool_use", "server_tool_use")

    def feed(self, data: bytes) -> list[Event]:
        out: list[Event] = []
        if self.ended:
            return out
        try:
            for sse in self._decoder.feed(data):
                self._event(sse.event, sse.data, out)
                if self.ended:
                    break
        except Exception as exc:
            self._fail("api_error", f"fcc could not translate the upstream stream: {type(exc).__name__}", out)
        return out

    def finish(self) -> list[Event]:
        out: list[Event] = []
        if self.ended:
            return out
        try:
            for sse in self._decoder.finish():
                self._event(sse.event, sse.data, out)
        except Exception as exc:  # the core must never raise into the proxy
            self._fail("api_error", f"fcc could not finish the upstream stream: {type(exc).__name__}", out)
        if not self.ended:
            self._fail("api_error", "the upstream stream ended before message_stop", out)
        return out

    def fail(self, error_type: str, message: str) -> list[Event]:
        out: list[Event] = []
        self._fail(error_type, message, out)
        return out

    def _fail(self, error_type: str, message: str, out: list[Event]) -> None:
        if self.ended:
            return
        self.error = (error_type, message)
        self.ended = True
        if not self.started:
            self.started = True
            out.append(message_start_event(new_message_id(), self._model, self._input_estimate))
        out.append(error_event(error_type, message))

    def _event(self, name: str | None, data: str, out: list[Event]) -> None:
        try:
            event = json.loads(data) if data.strip() else None
        except (ValueError, RecursionError):
            return
        if not isinstance(event, dict):
            return
        kind = name if name in _KNOWN_EVENTS else event.get("type")
        if kind not in _KNOWN_EVENTS or kind == "ping":
            return  # includes OpenRouter's `event: data / [DONE]` trailer
        event["type"] = kind
        if kind == "message_start":
            if self.started:
                usage = (event.get("message") or {}).get("usage")
                if isinstance(usage, dict):
                    self._start_usage = {k: v for k, v in usage.items() if k in _INPUT_USAGE and isinstance(v, int) and v}
                return
            self.started = True
            message = event.get("message") or {}
            message["model"] = self._model
            usage = message.get("usage") or {}
            if not usage.get("input_tokens"):
                usage["input_tokens"] = self._input_estimate
            usage.setdefault("output_tokens", 0)
            message["usage"] = usage
            event["message"] = message
            out.append(event)
            return
        if not self.started:
            self.started = True
            out.append(message_start_event(new_message_id(), self._model, self._input_estimate))
        if kind == "error":
            error = event.get("error") or {}
            self._fail(str(error.get("type") or "api_error"), str(error.get("message") or "upstream error"), out)
            return
        if kind == "content_block_start":
            self._close_open(out)
            upstream = event.get("index", self._next_index)
            self._index_map[upstream] = self._next_index
            event["index"] = self._next_index
            self._open = self._next_index
            self._next_index += 1
            block = event.get("content_block") or {}
            self._open_type = block.get("type")
            if block.get("type") not in ("text", "thinking") or block.get("text") or block.get("thinking"):
                self._content_seen = True
            out.append(event)
        elif kind in ("content_block_delta", "content_block_stop"):
            index = self._index_map.get(raw) if isinstance(raw := event.get("index"), int) else None
            if index is None or index != self._open:
                return  # a delta for a block that is not open would corrupt the client's accumulator
            event["index"] = index
            if kind == "content_block_stop":
                self._open = None
            elif any((event.get("delta") or {}).get(k) for k in ("text", "thinking", "partial_json", "signature")):
                self._content_seen = True
            out.append(event)
        elif kind == "message_delta":
            self._close_open(out)
            usage = event.get("usage")
            if not isinstance(usage, dict):
                usage = event["usage"] = {"output_tokens": 0}
            elif usage.get("output_tokens") is None:
                usage["output_tokens"] = 0
            for key, value in self._start_usage.items():
                if not usage.get(key):  # OpenRouter zeroes message_start and fills the delta: the delta wins
                    usage[key] = value
            self.usage = dict(event["usage"])
            out.append(event)
        elif kind == "message_stop":
            self._close_open(out)
            self.ended = True
            out.append({"type": "message_stop"})

    def _close_open(self, out: list[Event]) -> None:
        if self._open is not None:
            out.append({"type": "content_block_stop", "index": self._open})
            self._open = None
