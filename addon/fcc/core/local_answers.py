"""Answers fcc gives without asking a provider: token counts and the model list."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from fcc.core.memo import ContentMemo, tool_names_key

# Characters per token for mixed English prose, code and JSON: the starting point that
# fcc.engine.calibration scales per provider/model from the usage providers report.
CHARS_PER_TOKEN = 3.6
IMAGE_TOKENS = 1600


def _content_chars(content: object) -> tuple[int, int, int]:
    """(prose characters, structured characters, images) in message content of any shape.

    Prose (text, thinking, tool output) and structured text (tool-call JSON, schemas) are
    kept apart because tokenizers pack them differently; calibration learns both rates."""
    if isinstance(content, str):
        return len(content), 0, 0
    if not isinstance(content, list):
        return 0, 0, 0
    prose = structured = images = 0
    for block in content:
        if not isinstance(block, dict):
            prose += len(str(block))
            continue
        kind = block.get("type")
        if kind == "image":
            images += 1
        elif kind == "text":
            prose += len(block.get("text") or "")
        elif kind == "thinking":
            prose += len(block.get("thinking") or "")
        elif kind == "redacted_thinking":
            continue  # opaque provider state (fcc keeps Gemini/OpenRouter state here), like a signature
        elif kind == "tool_use":
            structured += len(block.get("name") or "") + len(json.dumps(block.get("input") or {})) + 20
        elif kind == "tool_result":
            inner_prose, inner_structured, inner_images = _content_chars(block.get("content"))
            prose += inner_prose
            structured += inner_structured + 20
            images += inner_images
        else:
            structured += len(json.dumps(block)) // 2
    return prose, structured, images


def _tool_chars(tools: list[Any]) -> int:
    return sum(len(json.dumps(tool, separators=(",", ":"))) for tool in tools if isinstance(tool, dict))


# Serialising Claude Code's ~30 KB tool list to size it cost ~0.4 ms per estimate, every turn.
_TOOL_CHARS_MEMO: ContentMemo[list[Any], int] = ContentMemo()


def estimate_parts(request: dict[str, Any]) -> tuple[float, float, int]:
    """(prose tokens, structured tokens, image tokens) at CHARS_PER_TOKEN: what calibration scales."""
    prose = structured = images = 0
    system = request.get("system")
    if isinstance(system, str):
        prose += len(system)
    elif isinstance(system, list):
        prose += sum(len(b.get("text") or "") for b in system if isinstance(b, dict))
    for message in request.get("messages") or []:
        if isinstance(message, dict):
            message_prose, message_structured, message_images = _content_chars(message.get("content"))
            prose += message_prose
            structured += message_structured + 12
            images += message_images
    tools = request.get("tools")
    if isinstance(tools, list) and tools:
        structured += _TOOL_CHARS_MEMO.get(tool_names_key(tools), tools, _tool_chars)
    return prose / CHARS_PER_TOKEN, structured / CHARS_PER_TOKEN, images * IMAGE_TOKENS


def estimate_input_tokens(request: dict[str, Any]) -> int:
    prose, structured, images = estimate_parts(request)
    return max(1, int(prose + structured) + images)


def count_tokens_body(request: dict[str, Any], tokens: int | None = None) -> bytes:
    """`{"input_tokens": N}`: `tokens` when the caller calibrated the count, else the raw estimate."""
    return json.dumps({"input_tokens": estimate_input_tokens(request) if tokens is None else tokens}).encode()


class PublishedModel(Protocol):
    """A /v1/models entry (fcc.model_picker.PickerEntry)."""

    @property
    def id(self) -> str: ...
    @property
    def display_name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def context_window(self) -> int | None: ...
    @property
    def max_output_tokens(self) -> int | None: ...


def models_body(models: Sequence[str | PublishedModel]) -> bytes:
    """`GET /v1/models` in Anthropic's page shape.

    Each model is an id or an object with `id`, `display_name`, `description` and
    optionally `context_window` / `max_output_tokens`, published as Anthropic's
    `max_input_tokens` / `max_tokens` (clients that do not know them ignore them).
    """
    data: list[dict[str, Any]] = []
    for model in models:
        model_id = model if isinstance(model, str) else model.id
        item: dict[str, Any] = {"type": "model", "id": model_id, "display_name": model_id, "created_at": "2025-01-01T00:00:00Z"}
        if not isinstance(model, str):
            item["display_name"] = model.display_name or model_id
            if model.description:
                item["description"] = model.description
            if model.context_window:
                item["max_input_tokens"] = model.context_window
            if model.max_output_tokens:
                item["max_tokens"] = model.max_output_tokens
        data.append(item)
    return json.dumps(
        {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        },
        ensure_ascii=False,
    ).encode()
