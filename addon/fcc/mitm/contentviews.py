"""mitmproxy content views for both sides of an exchange.

- "Anthropic SSE":     the message an Anthropic stream adds up to (text, thinking,
                       each tool call with its parsed input, stop reason, usage),
                       then the raw events.
- "OpenAI chat SSE":   the same for an OpenAI Chat Completions stream, read by
                       fcc's own stream reader, plus the provider's finish reason.
- "Anthropic request": system, messages (one line per block, long text cut),
                       tools collapsed to their names.
- "Responses SSE":     what an OpenAI Responses stream (fcc's answer to Codex, or
                       OpenAI's own) adds up to: status, usage, each output item.
- "Responses request": a Codex request: settings, one line per input item, tools.

Decoding reuses the sans-IO core (SSEDecoder, OpenAIChatReader,
MessageAccumulator). The renderers are plain functions returning lines; thin
adapters fit them to mitmproxy 11's `contentviews.View` and to mitmproxy 12's
`contentviews.Contentview` (a different API), whichever is installed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from mitmproxy import contentviews, http

from fcc.core.events import MessageAccumulator
from fcc.mitm.views_common import Line, cut as _cut, loads_or_none as _json, raw_lines as _raw_lines, sse_events as _events
from fcc.mitm.views_responses import (
    render_responses_request,
    render_responses_sse,
    responses_request_priority,
    responses_sse_priority,
)
from fcc.core.dialects.openai_chat_stream import OpenAIChatReader

log = logging.getLogger("fcc")


def _usage_line(usage: dict | None) -> str:
    if not usage:
        return "usage: -"
    names = {"input_tokens": "in", "output_tokens": "out", "cache_read_input_tokens": "cache_read",
             "cache_creation_input_tokens": "cache_write"}
    parts = [f"{short}={usage[key]}" for key, short in names.items() if usage.get(key) is not None]
    return "usage: " + " ".join(parts)


def _message_lines(message: dict | None, error: dict | None) -> list[Line]:
    lines: list[Line] = []
    if message is None:
        lines.append(("error", "no message_start: not a complete Anthropic message"))
    else:
        lines.append(("header", f"message {message.get('id', '?')}  model {message.get('model', '?')}"))
        lines.append(("text", f"stop_reason: {message.get('stop_reason')}"
                              + (f"  stop_sequence: {message['stop_sequence']!r}" if message.get("stop_sequence") else "")))
        lines.append(("text", _usage_line(message.get("usage"))))
        for index, block in enumerate(message.get("content") or []):
            lines.extend(_block_lines(index, block))
    if error:
        lines.append(("error", f"error: {error.get('type')}: {error.get('message')}"))
    return lines


def _block_lines(index: int, block: dict) -> list[Line]:
    kind = block.get("type")
    if kind == "text":
        head, body = f"[{index}] text", block.get("text", "")
    elif kind == "thinking":
        signature = block.get("signature") or ""
        head, body = f"[{index}] thinking (signature {len(signature)} chars)", block.get("thinking", "")
    elif kind in ("tool_use", "server_tool_use"):
        head = f"[{index}] {kind} {block.get('name')}  id={block.get('id')}"
        body = json.dumps(block.get("input"), indent=2, ensure_ascii=False)
    elif kind == "redacted_thinking":
        head, body = f"[{index}] redacted_thinking", f"({len(block.get('data') or '')} chars of encrypted data)"
    else:
        head, body = f"[{index}] {kind}", json.dumps(block, ensure_ascii=False)
    return [("header", head), *(("text", "    " + line) for line in str(body).splitlines() or [""])]


# ---------------------------------------------------------------- renderers
def render_anthropic_sse(data: bytes) -> tuple[str, list[Line]]:
    events = _events(data)
    accumulator = MessageAccumulator()
    for _, payload in events:
        event = _json(payload)
        if isinstance(event, dict) and isinstance(event.get("type"), str):
            try:
                accumulator.add([event])
            except (KeyError, IndexError, TypeError, AttributeError):
                pass  # a malformed event; the raw list below shows it
    lines = _message_lines(accumulator.message, accumulator.error)
    return "Anthropic SSE", [*lines, ("text", " "), *_raw_lines(events)]


def render_openai_sse(data: bytes) -> tuple[str, list[Line]]:
    events = _events(data)
    finish, usage, model = None, None, None
    for _, payload in events:
        chunk = _json(payload)
        if not isinstance(chunk, dict):
            continue
        model = chunk.get("model") or model
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices") or []:
            if isinstance(choice, dict) and choice.get("finish_reason"):
                finish = choice["finish_reason"]
    reader = OpenAIChatReader(str(model or "upstream"), message_id="msg_upstream")
    accumulator = MessageAccumulator()
    accumulator.add(reader.feed(data) + reader.finish())
    lines = _message_lines(accumulator.message, accumulator.error)
    lines.insert(1, ("text", f"provider: model {model}  finish_reason {finish}  usage {json.dumps(usage) if usage else '-'}"))
    return "OpenAI chat SSE", [*lines, ("text", " "), *_raw_lines(events)]


def render_anthropic_request(data: bytes) -> tuple[str, list[Line]]:
    body = _json(data.decode("utf-8", "replace"))
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    lines: list[Line] = []
    known = ("model", "max_tokens", "stream", "temperature", "thinking", "tool_choice", "output_config")
    lines.append(("header", "  ".join(f"{k}: {json.dumps(body[k])}" for k in known if k in body)))
    system = body.get("system")
    if isinstance(system, str):
        system = [{"type": "text", "text": system}]
    if system:
        lines.append(("header", f"system ({len(system)} blocks)"))
        for index, block in enumerate(system):
            lines.append(("text", f"  [{index}] {_block_summary(block)}"))
    messages = body.get("messages") or []
    lines.append(("header", f"messages ({len(messages)})"))
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        lines.append(("header", f"  [{index}] {message.get('role')}" + ("" if content else " (empty)")))
        for block in content or []:
            lines.append(("text", f"      {_block_summary(block)}"))
    tools = body.get("tools") or []
    if tools:
        names = [str(t.get("name") or t.get("type")) for t in tools if isinstance(t, dict)]
        lines.append(("header", f"tools ({len(tools)}): {', '.join(names)}"))
    rest = [k for k in body if k not in (*known, "system", "messages", "tools")]
    if rest:
        lines.append(("text", f"other fields: {', '.join(rest)}"))
    return "Anthropic request", lines


def _block_summary(block: object) -> str:
    if not isinstance(block, dict):
        return _cut(json.dumps(block, ensure_ascii=False))
    kind = block.get("type")
    cache = " [cache]" if block.get("cache_control") else ""
    if kind == "text":
        return f"text{cache}: {_cut(block.get('text', ''))}"
    if kind == "thinking":
        return f"thinking{cache}: {_cut(block.get('thinking', ''))}"
    if kind == "tool_use":
        return f"tool_use {block.get('name')} {block.get('id')}{cache}: {_cut(json.dumps(block.get('input'), ensure_ascii=False))}"
    if kind == "tool_result":
        content = block.get("content")
        if isinstance(content, list):
            content = " ".join(str(c.get("text", c.get("type"))) if isinstance(c, dict) else str(c) for c in content)
        error = " (error)" if block.get("is_error") else ""
        return f"tool_result {block.get('tool_use_id')}{error}{cache}: {_cut(str(content))}"
    if kind == "image":
        return f"image{cache} ({(block.get('source') or {}).get('media_type', '?')})"
    return f"{kind}{cache}: {_cut(json.dumps(block, ensure_ascii=False))}"


# ----------------------------------------------------------------- matching
def _is_sse(data: bytes, content_type: str | None) -> bool:
    return (content_type or "").startswith("text/event-stream") or data.lstrip()[:6] in (b"event:", b"data: ", b"data:{")


def anthropic_sse_priority(data: bytes, content_type: str | None) -> float:
    head = data[:8192]
    return 2.0 if _is_sse(data, content_type) and b"message_start" in head else 0.0


def openai_sse_priority(data: bytes, content_type: str | None) -> float:
    head = data[:8192]
    return 2.0 if _is_sse(data, content_type) and b'"choices"' in head and b"message_start" not in head else 0.0


def anthropic_request_priority(data: bytes, content_type: str | None, flow, http_message) -> float:
    if not isinstance(http_message, http.Request) or not data.lstrip().startswith(b"{"):
        return 0.0
    path = str((getattr(flow, "metadata", None) or {}).get("fcc_original_url") or http_message.path)
    path = path.split("?", 1)[0]
    if path.endswith("/v1/messages") or path.endswith("/v1/messages/count_tokens"):
        return 2.0
    return 0.0


RENDERERS = {
    "Anthropic SSE": (render_anthropic_sse, lambda d, ct, f, m: anthropic_sse_priority(d, ct)),
    "OpenAI chat SSE": (render_openai_sse, lambda d, ct, f, m: openai_sse_priority(d, ct)),
    "Anthropic request": (render_anthropic_request, anthropic_request_priority),
    "Responses SSE": (render_responses_sse, lambda d, ct, f, m: responses_sse_priority(d, ct)),
    "Responses request": (render_responses_request, responses_request_priority),
}


# ----------------------------------------------------------------- adapters
def _make_views() -> list[Any]:  # 11's View or 12's Contentview, whichever is installed
    protocol = getattr(contentviews, "Contentview", None)
    if protocol is not None:  # mitmproxy >= 12: prettify(data, metadata) -> str

        class _View12(protocol):  # type: ignore[misc, valid-type]
            def __init__(self, label: str, render, priority) -> None:
                self._label, self._render, self._priority = label, render, priority

            @property
            def name(self) -> str:
                return self._label

            @property
            def syntax_highlight(self) -> str:
                return "none"

            def prettify(self, data: bytes, metadata) -> str:
                _, lines = self._render(data)
                return "\n".join(text for _, text in lines)

            def render_priority(self, data: bytes, metadata) -> float:
                try:
                    return self._priority(data, getattr(metadata, "content_type", None),
                                          getattr(metadata, "flow", None), getattr(metadata, "http_message", None))
                except Exception:
                    return 0.0

            def __lt__(self, other) -> bool:
                return self.name < other.name

        return [_View12(label, render, priority) for label, (render, priority) in RENDERERS.items()]

    class _View11(contentviews.View):  # mitmproxy 11: __call__(data, **metadata) -> (description, lines)
        def __init__(self, label: str, render, priority) -> None:
            self.name = label  # type: ignore[misc]  # 11 declares it on the class; each of ours has its own
            self._render, self._priority = render, priority

        def __call__(self, data: bytes, **metadata):
            description, lines = self._render(data)
            return description, iter([[line] for line in lines])

        def render_priority(self, data: bytes, **metadata) -> float:
            try:
                return self._priority(data, metadata.get("content_type"), metadata.get("flow"), metadata.get("http_message"))
            except Exception:
                return 0.0

    return [_View11(label, render, priority) for label, (render, priority) in RENDERERS.items()]


_REGISTERED: list[Any] = []


def register() -> None:
    """Add the views (replacing any left by an earlier load of the script)."""
    try:
        unregister()
        registry = getattr(contentviews, "registry", None)  # mitmproxy >= 12
        for view in _make_views():
            if registry is not None:
                registry.register(view)  # replaces a view of the same name
            else:
                existing = contentviews.get(view.name)
                if existing is not None:
                    contentviews.remove(existing)
                contentviews.add(view)
            _REGISTERED.append(view)
    except Exception:  # a newer mitmproxy with another API: fcc still works, without the views
        log.warning("fcc: content views not available with this mitmproxy version", exc_info=True)


def unregister() -> None:
    registry = getattr(contentviews, "registry", None)
    while _REGISTERED:
        view = _REGISTERED.pop()
        try:
            if registry is None:
                contentviews.remove(view)
            else:  # 12 has no public removal (its `remove` is a deprecated no-op)
                by_name = getattr(registry, "_by_name", None)
                key = view.name.lower()
                if isinstance(by_name, dict) and by_name.get(key) is view:
                    del by_name[key]
        except Exception:
            pass


def render(name: str, data: bytes) -> Iterable[str]:
    """Text of one view (tests, and the `fcc` console script)."""
    _, lines = RENDERERS[name][0](data)
    return [text for _, text in lines]
