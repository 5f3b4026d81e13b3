"""OpenAI Chat Completions SSE -> Anthropic events, incrementally.

Text and thinking stream through as they arrive. Tool calls are accumulated
and emitted whole when the upstream is done with them, because their
arguments must be valid JSON before the client sees them (the Python SDK
partial-parses every `input_json_delta` and dies on a bad prefix, and one bad
argument string poisons every later turn of the session). Parallel calls may
interleave their fragments, so they are keyed by index, or by id when a
provider reuses index 0 or sends none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fcc.core.profiles import Profile
from fcc.core.events import BlockEmitter, Event, usage_dict
from fcc.core.errors import stream_error_type_for, extract_message, is_context_overflow
from fcc.core.sse import SSEDecoder, dumps
from fcc.core.text_tools import TextToolRecogniser, text_tool_id
from fcc.core.thinking import ThinkTagSplitter
from fcc.core.tools import encode_state, is_complete_json, new_tool_id, parse_tool_arguments, without_lone_surrogates

# finish_reason values that mean the generation failed (OpenRouter, vLLM, Cohere-compat).
FAILED_FINISH_REASONS = frozenset({"error", "abort", "timeout"})

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
    "end_turn": "end_turn",
    "eos": "end_turn",
}


@dataclass(slots=True)
class _ToolCall:
    index: object
    id: str
    name: str = ""
    arguments: list[str] = field(default_factory=list)
    signature: str | None = None


def anthropic_usage(usage: dict, fallback_input: int = 0, fallback_output: int = 0) -> dict:
    """OpenAI usage -> Anthropic usage. Anthropic's input_tokens excludes cached tokens."""
    prompt = usage.get("prompt_tokens")
    if not isinstance(prompt, int) or isinstance(prompt, bool) or prompt < 0:
        prompt = fallback_input
    completion = usage.get("completion_tokens")
    if not isinstance(completion, int) or isinstance(completion, bool) or completion < 0:
        completion = fallback_output
    details = usage.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    if not isinstance(cached, int):
        cached = usage.get("prompt_cache_hit_tokens")
    if not isinstance(cached, int) or cached < 0:
        cached = 0
    cached = min(cached, prompt)
    return usage_dict(prompt - cached, completion, cache_read=cached)


class OpenAIChatReader:
    """feed(bytes) -> Anthropic events; finish() -> the closing events. Never raises."""

    def __init__(
        self,
        model: str,
        profile: Profile | None = None,
        *,
        message_id: str | None = None,
        input_tokens: int = 0,
        tool_id_decoder: dict[str, str] | None = None,
        text_tools: TextToolRecogniser | None = None,
        message_started: bool = False,
    ) -> None:
        self.emitter = BlockEmitter(model, message_id, input_tokens, started=message_started)
        self._decoder = SSEDecoder()
        self._think = ThinkTagSplitter() if (profile is None or profile.think_tags) else None
        self._tool_ids = tool_id_decoder or {}
        self._text_tools = text_tools  # tool calls written as text in the content (fcc.core.text_tools)
        self._text_calls = 0
        self._calls: list[_ToolCall] = []
        self._by_index: dict[object, _ToolCall] = {}
        self._reasoning_details: list[dict] = []
        self._finish_reason: str | None = None
        self._usage: dict | None = None
        self._input_estimate = input_tokens
        self.done = False  # `[DONE]` seen
        self.error: tuple[str, str] | None = None  # (type, message) of an in-stream error

    # ------------------------------------------------------------------ API
    @property
    def has_content(self) -> bool:
        """True once anything beyond message_start is visible to the client."""
        return self.emitter.blocks_started > 0

    @property
    def ended(self) -> bool:
        return self.emitter.ended

    @property
    def usage(self) -> dict[str, Any]:
        return self.emitter.usage

    @property
    def needs_clock(self) -> bool:
        return self._text_tools is not None

    @property
    def holding(self) -> bool:
        """Text is held back while deciding whether it is a tool call; see flush_pending."""
        return self._text_tools is not None and self._text_tools.holding

    def flush_pending(self, now: float) -> list[Event]:
        """Release held text that waited too long (the engine's clock; the core has none)."""
        out: list[Event] = []
        if self._text_tools is not None and not self.emitter.ended:
            self._recognised(self._text_tools.flush_pending(now), out)
        return out

    @property
    def pending_tool_call(self) -> bool:
        """A tool call is being streamed (it reaches the client only whole, at the end)."""
        return bool(self._calls) or self.holding

    def feed(self, data: bytes) -> list[Event]:
        out: list[Event] = []
        if self.emitter.ended:
            return out
        try:
            for sse in self._decoder.feed(data):
                self._event(sse.data, out)
                if self.emitter.ended:
                    break
        except Exception as exc:  # the core must never raise into the proxy
            self._fail("api_error", f"fcc could not translate the upstream stream: {type(exc).__name__}: {exc}", out)
        return out

    def finish(self) -> list[Event]:
        out: list[Event] = []
        if self.emitter.ended:
            return out
        try:
            for sse in self._decoder.finish():
                self._event(sse.data, out)
            if self.emitter.ended:
                return out
            self._flush_text(out)
            if self._finish_reason is None and not self.done:
                self._fail(
                    "api_error",
                    "the upstream stream ended before the response was complete (no finish_reason)",
                    out,
                )
                return out
            self._complete(out)
        except Exception as exc:
            self._fail("api_error", f"fcc could not finish the upstream stream: {type(exc).__name__}: {exc}", out)
        return out

    def fail(self, error_type: str, message: str) -> list[Event]:
        """Close the stream with an error from outside (timeout, cut connection)."""
        out: list[Event] = []
        self._fail(error_type, message, out)
        return out

    # ------------------------------------------------------------ internals
    def _fail(self, error_type: str, message: str, out: list[Event]) -> None:
        if self.emitter.ended:
            return
        self.error = (error_type, message)
        self.emitter._ensure_started(out)
        self.emitter.error(error_type, message, out)

    def _event(self, data: str, out: list[Event]) -> None:
        data = data.strip()
        if not data:
            return
        if data == "[DONE]":
            self.done = True
            return
        try:
            chunk = json.loads(data)
        except (ValueError, RecursionError):
            return
        if not isinstance(chunk, dict):
            return
        self.emitter._ensure_started(out)
        error = chunk.get("error")
        if error:
            self._upstream_error(error, out)
            return
        usage = chunk.get("usage")
        if isinstance(usage, dict) and usage:
            self._usage = usage
        else:
            x_groq = chunk.get("x_groq")
            if isinstance(x_groq, dict) and isinstance(x_groq.get("usage"), dict):
                self._usage = x_groq["usage"]
        choices = chunk.get("choices")
        if not choices:
            return
        choice = choices[0]
        if not isinstance(choice, dict):
            return
        delta = choice.get("delta")
        if delta is None:
            delta = choice.get("message")  # some servers send whole messages in a stream
        if isinstance(delta, dict) and delta:
            self._delta(delta, out)
        finish = choice.get("finish_reason")
        if finish:
            if str(finish).lower() in FAILED_FINISH_REASONS:
                native = choice.get("native_finish_reason") or chunk.get("native_finish_reason") or finish
                self._fail("api_error", f"the upstream provider failed mid-stream ({native})", out)
                return
            self._finish_reason = finish

    def _upstream_error(self, error: object, out: list[Event]) -> None:
        message = extract_message({"error": error}) or "upstream error"
        code = error.get("code") if isinstance(error, dict) else None
        status = code if isinstance(code, int) else None
        if status is None and isinstance(error, dict):
            kind = f"{error.get('type') or ''} {code or ''}"
            if "rate_limit" in kind:
                status = 429
            elif "overload" in kind:
                status = 529
        error_type = stream_error_type_for(status, message)
        if is_context_overflow(message):
            error_type, message = "invalid_request_error", f"prompt is too long: {message}"
        self._fail(error_type, f"upstream error: {message}", out)

    def _delta(self, delta: dict, out: list[Event]) -> None:
        reasoning = delta.get("reasoning_content")
        if not isinstance(reasoning, str) or not reasoning:
            reasoning = delta.get("reasoning")
        details = delta.get("reasoning_details")
        if isinstance(details, list) and details:
            detail_text = self._collect_details(details)
            if not (isinstance(reasoning, str) and reasoning):
                reasoning = detail_text
        if isinstance(reasoning, str) and reasoning:
            self.emitter.thinking(reasoning, out)

        content = delta.get("content")
        if isinstance(content, str):
            if content:
                self._content_text(content, out)
        elif isinstance(content, list):
            self._content_parts(content, out)

        tool_calls = delta.get("tool_calls")
        if isinstance(tool_calls, list):
            for call in tool_calls:
                if isinstance(call, dict):
                    self._tool_fragment(call)
        function_call = delta.get("function_call")
        if isinstance(function_call, dict):
            self._tool_fragment({"index": "legacy", "function": function_call})

    def _collect_details(self, details: list) -> str:
        text = []
        for item in details:
            if not isinstance(item, dict):
                continue
            self._reasoning_details.append(item)
            piece = item.get("text") if item.get("type") == "reasoning.text" else item.get("summary")
            if isinstance(piece, str):
                text.append(piece)
        return "".join(text)

    def _thinking_signature(self) -> str | None:
        if not self._reasoning_details:
            return None
        details, self._reasoning_details = self._reasoning_details, []
        return encode_state("reasoning_details", _merge_details(details))

    def _content_text(self, content: str, out: list[Event]) -> None:
        if self._think is None:
            self._visible(content, out)
            return
        for kind, piece in self._think.feed(content):
            if kind == "thinking":
                self.emitter.thinking(piece, out)
            else:
                self._visible(piece, out)

    def _visible(self, piece: str, out: list[Event]) -> None:
        if self._text_tools is None or self._text_tools.plain(piece):
            self._text(piece, out)
        else:
            self._recognised(self._text_tools.feed(piece), out)

    def _recognised(self, pieces: list, out: list[Event]) -> None:
        for kind, value in pieces:
            if kind == "text":
                self._text(value, out)
                continue
            if self.emitter.open_kind == "thinking":
                self.emitter.close_block(out, self._thinking_signature())
            self.emitter.tool_use(text_tool_id(value.dialect), value.name, dumps(value.arguments), out)
            self._text_calls += 1

    def _text(self, piece: str, out: list[Event]) -> None:
        if self.emitter.open_kind == "thinking":
            self.emitter.close_block(out, self._thinking_signature())
        self.emitter.text(piece, out)

    def _content_parts(self, parts: list, out: list[Event]) -> None:
        """Mistral reasoning models: content as typed parts (thinking / text)."""
        for part in parts:
            if not isinstance(part, dict):
                continue
            kind = part.get("type")
            if kind == "thinking":
                inner = part.get("thinking")
                if isinstance(inner, list):
                    text = "".join(p.get("text", "") for p in inner if isinstance(p, dict))
                else:
                    text = inner if isinstance(inner, str) else ""
                self.emitter.thinking(text, out)
            elif kind == "text" and isinstance(part.get("text"), str):
                self._content_text(part["text"], out)

    def _tool_fragment(self, fragment: dict) -> None:
        index = fragment.get("index")
        call_id = fragment.get("id") or ""
        function = fragment.get("function") or {}
        call: _ToolCall | None = None
        if index is not None:
            call = self._by_index.get(index)
            if call is not None and call_id and call.id and call_id != call.id:
                call = None  # a provider reusing index 0 for a second call
        elif call_id:
            call = next((c for c in self._calls if c.id == call_id), None)
        elif self._calls and not function.get("name"):
            call = self._calls[-1]  # an id-less continuation
        if call is None:
            call = _ToolCall(index=index if index is not None else len(self._calls), id=call_id)
            self._calls.append(call)
            self._by_index[call.index] = call
        elif call_id and not call.id:
            call.id = call_id
        name = function.get("name")
        if isinstance(name, str) and name and not call.name:
            call.name = name
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            if arguments:
                call.arguments.append(arguments)
        elif isinstance(arguments, (dict, list)):
            call.arguments = [dumps(arguments)]
        extra = fragment.get("extra_content")
        if isinstance(extra, dict):
            for vendor in ("google", "vertex"):
                block = extra.get(vendor)
                if isinstance(block, dict) and block.get("thought_signature"):
                    call.signature = block["thought_signature"]

    def _flush_text(self, out: list[Event]) -> None:
        if self._think is not None:
            for kind, piece in self._think.finish():
                if kind == "thinking":
                    self.emitter.thinking(piece, out)
                else:
                    self._visible(piece, out)
        if self._text_tools is not None:
            # A call cut off by the output limit is not run: it stays text.
            self._recognised(self._text_tools.finish(truncated=self._finish_reason == "length"), out)

    def _complete(self, out: list[Event]) -> None:
        if self.emitter.open_kind == "thinking":
            self.emitter.close_block(out, self._thinking_signature())
        calls = []
        signatures: dict[str, str] = {}
        truncated = False
        for call in self._calls:
            if not call.name and not call.arguments:
                continue
            if self._finish_reason == "length" and not is_complete_json("".join(call.arguments)):
                # Cut off by the output limit: running half a Write would be worse than asking to continue.
                truncated = True
                continue
            tool_id = self._tool_ids.get(call.id, call.id) if call.id else new_tool_id()
            if call.signature:
                signatures[tool_id] = call.signature
            calls.append((tool_id, call))
        if self._reasoning_details:
            # Reasoning state with no visible text (e.g. `reasoning.encrypted`) must still go back next turn.
            self.emitter.redacted_thinking(encode_state("reasoning_details", _merge_details(self._reasoning_details)), out)
            self._reasoning_details = []
        if signatures:
            # Gemini wants each call's thought signature back; Claude Code echoes this block verbatim.
            self.emitter.redacted_thinking(encode_state("thought_signatures", signatures), out)
        for tool_id, call in calls:
            arguments, _valid = parse_tool_arguments(without_lone_surrogates("".join(call.arguments)))
            self.emitter.tool_use(tool_id, call.name or "unknown_tool", dumps(arguments), out)
        if truncated:
            stop_reason = "max_tokens"
        elif calls or self._text_calls:
            stop_reason = "tool_use"
        else:
            stop_reason = STOP_REASONS.get(self._finish_reason or "stop", "end_turn")
            if stop_reason == "tool_use":
                stop_reason = "end_turn"  # "tool_calls" with no usable call: there is nothing to run
        usage = anthropic_usage(
            self._usage or {}, self._input_estimate, max(1, self.emitter.output_chars // 4)
        )
        self.emitter.stop(stop_reason, usage, out)


def _merge_details(details: list[dict]) -> list[dict]:
    """Streamed reasoning_details fragments -> the list the provider wants back."""
    merged: list[dict] = []
    for item in details:
        previous = merged[-1] if merged else None
        if (
            previous is not None
            and item.get("type") == previous.get("type") == "reasoning.text"
            and item.get("index", 0) == previous.get("index", 0)
        ):
            previous["text"] = previous.get("text", "") + (item.get("text") or "")
            if item.get("signature"):
                previous["signature"] = item["signature"]
            continue
        merged.append(dict(item))
    return merged
