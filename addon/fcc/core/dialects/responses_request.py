"""OpenAI Responses request (what the Codex CLI sends) -> the internal Anthropic-shaped request.

The internal request is the one every provider path already translates
(openai_chat_request for chat providers, anthropic_native for Anthropic-shaped
ones), so a Codex request reaches every provider fcc serves. What the stream
writer needs to map answers back (which upstream function name was a custom
tool, a namespaced function or a local shell) travels in `ToolMap`.

Lenient like the Messages edge: unknown fields and item types are kept out of
the way, never a 400; only input fcc cannot make sense of is refused, with a
Responses-shaped error (fcc.codex turns it into the OpenAI error body).

Opaque state: a thinking signature reaches Codex as a reasoning item's
`encrypted_content` (see responses_stream.py) and comes back here verbatim.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fcc.core.dialects.responses_tools import (
    CUSTOM_INPUT,
    LOCAL_SHELL,
    ToolMap,
    translate_tool_choice,
    translate_tools,
)
from fcc.core.reasoning import EFFORT_ORDER
from fcc.core.tools import SYNTHETIC_SIGNATURE, decode_state, encode_state

log = logging.getLogger("fcc")

# Signatures that are not fcc's own state ride in encrypted_content wrapped as this kind.
SIGNATURE_STATE = "signature"
REDACTED_STATE = "redacted_thinking"


class ResponsesRequestError(ValueError):
    """Input fcc cannot translate; the message goes to the client as a 400."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class ResponsesBody(BaseModel):
    """The edge check: shapes fcc relies on; everything else is optional and kept."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1)
    input: str | list[dict[str, Any]] = Field(default_factory=list)
    instructions: str | list[Any] | None = None
    tools: list[dict[str, Any]] | None = None
    stream: bool = False
    max_output_tokens: int | None = Field(default=None, ge=1)
    previous_response_id: str | None = None


@dataclass(slots=True)
class TranslatedResponses:
    request: dict  # the internal Anthropic-shaped request
    tool_map: ToolMap
    dropped_tools: list[str]


# ----------------------------------------------------------------- content ---


def _text_of(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [text for part in content if isinstance(part, dict) and isinstance(text := part.get("text"), str)]
        return "\n".join(parts)
    return ""


def _image_block(part: dict) -> dict | None:
    url = part.get("image_url")
    if isinstance(url, dict):
        url = url.get("url")
    if not isinstance(url, str) or not url:
        return None
    if url.startswith("data:") and ";base64," in url:
        media, data = url[5:].split(";base64,", 1)
        return {"type": "image", "source": {"type": "base64", "media_type": media or "image/png", "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _content_blocks(content: object) -> list[dict]:
    """Responses content parts -> Anthropic content blocks (text and images)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict] = []
    for part in content if isinstance(content, list) else []:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text", "summary_text", "reasoning_text") and isinstance(part.get("text"), str):
            if part["text"]:
                blocks.append({"type": "text", "text": part["text"]})
        elif kind == "refusal" and isinstance(part.get("refusal"), str):
            blocks.append({"type": "text", "text": part["refusal"]})
        elif kind == "input_image":
            image = _image_block(part)
            if image is not None:
                blocks.append(image)
        elif kind == "input_file":
            name = part.get("filename") or part.get("file_id") or "file"
            blocks.append({"type": "text", "text": f"[file {name} attached; fcc cannot pass files to this provider]"})
    return blocks


def _tool_output(output: object) -> str | list[dict]:
    if isinstance(output, str):
        return output
    blocks = _content_blocks(output)
    if all(block["type"] == "text" for block in blocks):
        return "\n".join(block["text"] for block in blocks)
    return blocks


def _arguments(raw: object) -> dict:
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return {"_raw_arguments": raw}
        return value if isinstance(value, dict) else {"_raw_arguments": raw}
    return {}


def thinking_block(item: dict) -> dict | None:
    """A replayed reasoning item -> the thinking (or redacted_thinking) block it came from."""
    summary = item.get("summary")
    text = "\n\n".join(
        part.get("text", "") for part in summary if isinstance(part, dict) and isinstance(part.get("text"), str)
    ) if isinstance(summary, list) else ""
    if not text and isinstance(item.get("content"), list):
        text = _text_of(item["content"])
    encrypted = item.get("encrypted_content")
    state = decode_state(encrypted) if isinstance(encrypted, str) else None
    if state is not None and state[0] == REDACTED_STATE and isinstance(state[1], str):
        return {"type": "redacted_thinking", "data": state[1]}
    if state is not None and state[0] == SIGNATURE_STATE and isinstance(state[1], str):
        signature = state[1]
    elif state is not None:
        signature = str(encrypted)  # fcc's own provider state (reasoning_details, thought signatures)
    else:
        # Another party's state (OpenAI's own encrypted reasoning): no provider here can check it.
        signature = SYNTHETIC_SIGNATURE
    if not text and signature == SYNTHETIC_SIGNATURE:
        return None
    return {"type": "thinking", "thinking": text, "signature": signature}


def wrap_signature(signature: str) -> str:
    """The encrypted_content for a thinking signature (fcc's own state stays as it is)."""
    if decode_state(signature) is not None or signature == SYNTHETIC_SIGNATURE:
        return signature
    return encode_state(SIGNATURE_STATE, signature)


# --------------------------------------------------------------- messages ---


class _Turns:
    """Items in order -> alternating user/assistant messages."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.system: list[str] = []

    def add(self, role: str, blocks: list[dict]) -> None:
        if not blocks:
            return
        if self.messages and self.messages[-1]["role"] == role:
            last = self.messages[-1]["content"]
            if role == "user" and blocks[0].get("type") == "tool_result":
                # Anthropic wants a turn's tool results first; text that came before them moves after.
                split = max((i + 1 for i, b in enumerate(last) if b.get("type") == "tool_result"), default=0)
                last[split:split] = blocks
                return
            last.extend(blocks)
            return
        self.messages.append({"role": role, "content": list(blocks)})


def translate_items(items: list, tools: ToolMap, turns: _Turns, dropped_items: list[str]) -> None:
    """Input items -> messages (and system text) in `turns`."""
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            role = item.get("role")
            content = item.get("content")
            if role in ("developer", "system"):
                text = _text_of(content)
                if text.strip():
                    turns.system.append(text)
            elif role == "assistant":
                turns.add("assistant", _content_blocks(content))
            else:
                turns.add("user", _content_blocks(content))
        elif kind == "reasoning":
            block = thinking_block(item)
            if block is not None:
                turns.add("assistant", [block])
        elif kind == "function_call":
            name = tools.upstream_name(str(item.get("name") or ""), item.get("namespace"))
            call_id = str(item.get("call_id") or item.get("id") or "")
            turns.add("assistant", [{"type": "tool_use", "id": call_id, "name": name, "input": _arguments(item.get("arguments"))}])
        elif kind == "custom_tool_call":
            name = tools.upstream_name(str(item.get("name") or ""), item.get("namespace"))
            call_id = str(item.get("call_id") or item.get("id") or "")
            turns.add("assistant", [{"type": "tool_use", "id": call_id, "name": name, "input": {CUSTOM_INPUT: str(item.get("input") or "")}}])
        elif kind == "local_shell_call":
            action = found if isinstance(found := item.get("action"), dict) else {}
            arguments = {k: v for k, v in action.items() if k in ("command", "workdir", "timeout_ms")}
            call_id = str(item.get("call_id") or item.get("id") or "")
            turns.add("assistant", [{"type": "tool_use", "id": call_id, "name": LOCAL_SHELL, "input": arguments}])
        elif kind in ("function_call_output", "custom_tool_call_output", "local_shell_call_output"):
            call_id = str(item.get("call_id") or item.get("id") or "")
            output = _tool_output(item.get("output"))
            turns.add("user", [{"type": "tool_result", "tool_use_id": call_id, "content": output}])
        elif kind not in ("additional_tools", "item_reference"):  # additional_tools: read up front
            dropped_items.append(str(kind))


INTERRUPTED = "(no output: the call was interrupted before it returned)"


def _pair_calls(messages: list[dict]) -> list[dict]:
    """Every call answered in the user turn right after it, and no answer without its call.

    Codex replays an interrupted turn with a call and no output; Anthropic-native providers
    refuse a tool_use without its tool_result, and a result without a call breaks strict chat
    templates, so the first gets a short placeholder result and the second is dropped.
    """
    out: list[dict] = []
    open_calls: list[str] = []
    for message in messages:
        if message["role"] == "assistant":
            if open_calls:
                out.append({"role": "user", "content": [_placeholder(call) for call in open_calls]})
            open_calls = [b.get("id", "") for b in message["content"] if b.get("type") == "tool_use"]
            out.append(message)
            continue
        results = [b for b in message["content"] if b.get("type") == "tool_result" and b.get("tool_use_id") in open_calls]
        answered = {b["tool_use_id"] for b in results}
        others = [b for b in message["content"] if b.get("type") != "tool_result"]
        missing = [_placeholder(call) for call in open_calls if call not in answered]
        open_calls = []
        content = results + missing + others
        out.append({**message, "content": content or [{"type": "text", "text": "(no content)"}]})
    if open_calls:
        out.append({"role": "user", "content": [_placeholder(call) for call in open_calls]})
    return out


def _placeholder(call_id: str) -> dict:
    return {"type": "tool_result", "tool_use_id": call_id, "content": INTERRUPTED}


# --------------------------------------------------------------- the whole ---


def _reasoning(body: dict, request: dict) -> None:
    reasoning = body.get("reasoning")
    effort = reasoning.get("effort") if isinstance(reasoning, dict) else None
    if effort == "none":
        request["thinking"] = {"type": "disabled"}
    elif isinstance(effort, str) and effort in EFFORT_ORDER:
        request["thinking"] = {"type": "adaptive"}
        request["output_config"] = {"effort": effort}


def _text_format(body: dict, request: dict) -> None:
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
        request.setdefault("output_config", {})["format"] = {"type": "json_schema", "schema": fmt["schema"]}
    elif isinstance(fmt, dict) and fmt.get("type") == "json_object":
        request["system"] = (request.get("system") or "") + "\n\nAnswer with one JSON object and nothing else."


def translate_responses_request(body: dict) -> TranslatedResponses:
    """A parsed Responses body -> the internal Anthropic request (pure; raises ResponsesRequestError)."""
    try:
        parsed = ResponsesBody.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(part) for part in first.get("loc", ()) if part not in ("str", "list[dict[str,Any]]")]
        where = ".".join(loc) or "body"
        raise ResponsesRequestError(f"{where}: {first.get('msg', 'invalid')}", loc[0] if loc else None) from None
    if parsed.previous_response_id:
        raise ResponsesRequestError(
            "previous_response_id is not supported: fcc stores no responses; send the whole conversation in `input` (store: false)",
            "previous_response_id",
        )
    tools = ToolMap()
    dropped: list[str] = []
    declared = translate_tools(parsed.tools or [], tools, dropped)
    turns = _Turns()
    if isinstance(parsed.instructions, str) and parsed.instructions.strip():
        turns.system.append(parsed.instructions)
    elif isinstance(parsed.instructions, list):
        translate_items(parsed.instructions, tools, turns, [])
    items: list = [{"type": "message", "role": "user", "content": parsed.input}] if isinstance(parsed.input, str) else parsed.input
    # Tools declared in the input (Codex's lite profile) must be known before calls are replayed.
    pre: list[dict] = []
    for item in items:
        if isinstance(item, dict) and item.get("type") == "additional_tools" and isinstance(item.get("tools"), list):
            pre.extend(item["tools"])
    declared += translate_tools(pre, tools, dropped)
    dropped_items: list[str] = []
    translate_items(items, tools, turns, dropped_items)
    messages = _pair_calls(turns.messages)
    if not messages or messages[0]["role"] != "user":
        messages.insert(0, {"role": "user", "content": [{"type": "text", "text": "(continue)"}]})
    request: dict = {"model": parsed.model, "messages": messages, "stream": parsed.stream}
    if turns.system:
        request["system"] = "\n\n".join(turns.system)
    if declared:
        request["tools"] = declared
        choice = translate_tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"), tools)
        if choice is not None:
            request["tool_choice"] = choice
    if parsed.max_output_tokens:
        request["max_tokens"] = parsed.max_output_tokens
    for key in ("temperature", "top_p"):
        value = body.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            request[key] = value
    _reasoning(body, request)
    _text_format(body, request)
    if dropped:
        log.info("fcc: Codex tools a provider cannot run, not offered: %s", ", ".join(sorted(set(dropped))))
    if dropped_items:
        log.info("fcc: Responses input items fcc does not translate, left out: %s", ", ".join(sorted(set(dropped_items))))
    return TranslatedResponses(request, tools, sorted(set(dropped)))


def parse_responses_request(raw: bytes | None) -> tuple[dict | None, ResponsesRequestError | None]:
    """Bytes -> (body dict, None) or (None, the error for a 400)."""
    if not raw:
        return None, ResponsesRequestError("request body is empty: expected a JSON object")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return None, ResponsesRequestError(f"request body is not valid JSON: {type(exc).__name__}")
    if not isinstance(body, dict):
        return None, ResponsesRequestError("request body must be a JSON object")
    return body, None
