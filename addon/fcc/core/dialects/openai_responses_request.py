"""Anthropic Messages request (Claude Code) -> OpenAI Responses request body (pure).

For OpenAI models served only by the Responses API (gpt-5-codex, o3-pro, ...). The answer comes
back through OpenAIResponsesReader like every stream. OpenAI's encrypted reasoning rides in the
thinking signature (or a redacted_thinking block's data) Claude Code echoes, and is sent back as a
reasoning item; other providers' thinking is left out, since OpenAI cannot check it.
"""

from __future__ import annotations

import json

from fcc.core import reasoning as reasoning_policy
from fcc.core.dialects.openai_chat_messages import flatten_text
from fcc.core.dialects.openai_chat_request import is_server_tool, system_text
from fcc.core.dialects.openai_responses_stream import OPENAI_REASONING_STATE
from fcc.core.profiles import Profile
from fcc.core.tools import decode_state


def _image_part(block: dict) -> dict | None:
    source = found if isinstance(found := block.get("source"), dict) else {}
    if source.get("type") == "base64" and source.get("data"):
        return {"type": "input_image", "image_url": f"data:{source.get('media_type') or 'image/png'};base64,{source['data']}"}
    if source.get("type") == "url" and source.get("url"):
        return {"type": "input_image", "image_url": source["url"]}
    return None


def _user_items(content: object) -> list[dict]:
    if isinstance(content, str):
        return [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": content}]}] if content else []
    items: list[dict] = []
    parts: list[dict] = []
    for block in content if isinstance(content, list) else []:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "tool_result":
            output = flatten_text(block.get("content")) or ("(error)" if block.get("is_error") else "(no output)")
            items.append({"type": "function_call_output", "call_id": str(block.get("tool_use_id") or ""), "output": output})
        elif kind == "text" and block.get("text"):
            parts.append({"type": "input_text", "text": block["text"]})
        elif kind == "image" and (image := _image_part(block)) is not None:
            parts.append(image)
    if parts:
        items.append({"type": "message", "role": "user", "content": parts})
    return items


def _assistant_items(content: object) -> list[dict]:
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
    items: list[dict] = []
    for block in content if isinstance(content, list) else []:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            items.append({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": block["text"]}]})
        elif kind in ("thinking", "redacted_thinking"):
            state = decode_state(block.get("signature") if kind == "thinking" else block.get("data"))
            if state is not None and state[0] == OPENAI_REASONING_STATE and isinstance(state[1], str):
                summary = [{"type": "summary_text", "text": block["thinking"]}] if block.get("thinking") else []
                items.append({"type": "reasoning", "summary": summary, "encrypted_content": state[1]})
        elif kind == "tool_use":
            items.append({"type": "function_call", "call_id": str(block.get("id") or ""), "name": str(block.get("name") or ""),
                          "arguments": json.dumps(block.get("input") or {}, ensure_ascii=False)})
    return items


def _tool_choice(choice: object) -> object | None:
    if not isinstance(choice, dict):
        return None
    kind = choice.get("type")
    if kind == "tool" and choice.get("name"):
        return {"type": "function", "name": choice["name"]}
    return {"auto": "auto", "any": "required", "none": "none"}.get(str(kind))


def translate_to_responses(request: dict, profile: Profile, upstream_model: str, *, reasoning: str = "client") -> dict:
    """The Responses body for one Anthropic request; always streamed, nothing stored at OpenAI."""
    body: dict = {"model": upstream_model, "stream": True, "store": False}
    instructions = system_text(request)
    if instructions:
        body["instructions"] = instructions
    items: list[dict] = []
    for message in request.get("messages") or []:
        if isinstance(message, dict) and message.get("role") == "assistant":
            items.extend(_assistant_items(message.get("content")))
        elif isinstance(message, dict) and message.get("role") == "user":
            items.extend(_user_items(message.get("content")))
    body["input"] = items
    tools = [
        {"type": "function", "name": tool["name"], "description": tool.get("description") or "",
         "parameters": tool.get("input_schema") or {"type": "object", "properties": {}}, "strict": False}
        for tool in request.get("tools") or []
        if isinstance(tool, dict) and tool.get("name") and not is_server_tool(tool)
    ]
    if tools:
        body["tools"] = tools
        choice = request.get("tool_choice")
        value = _tool_choice(choice)
        if value is not None:
            body["tool_choice"] = value
        if isinstance(choice, dict) and choice.get("disable_parallel_tool_use"):
            body["parallel_tool_calls"] = False
    if isinstance(request.get("max_tokens"), int):
        cap = profile.max_tokens_cap
        body["max_output_tokens"] = min(request["max_tokens"], cap) if cap else request["max_tokens"]
    decision = reasoning_policy.resolve(request, reasoning)
    if decision is not None and decision != "off":
        body["reasoning"] = {"effort": reasoning_policy.snap_effort(decision, profile.effort_levels), "summary": "auto"}
        body["include"] = ["reasoning.encrypted_content"]  # the state comes back in the signature
    elif isinstance(request.get("temperature"), (int, float)):
        body["temperature"] = request["temperature"]  # reasoning models refuse a temperature
    output_config = request.get("output_config")
    fmt = output_config.get("format") if isinstance(output_config, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        body["text"] = {"format": {"type": "json_schema", "name": "output", "schema": fmt.get("schema") or {}}}
    return body
