"""Anthropic Messages request -> OpenAI Chat Completions request body (pure).

Shaped by the provider profile: what the provider rejects is never sent,
reasoning history goes back in the form it wants, and the conversation obeys
the strict chat templates (tool results right after their calls, no two
same-role turns in a row, Mistral's no-user-after-tool rule).
"""

from __future__ import annotations

from fcc.core.profiles import Profile
from fcc.core import reasoning as reasoning_policy
from fcc.core.dialects.openai_chat_messages import MessageBuilder, flatten_text, is_billing_block
from fcc.core.memo import ContentMemo, tool_names_key
from fcc.core.tools import ToolIdCodec

# OpenAI caps `stop` at four strings.
_MAX_STOP_SEQUENCES = 4


def system_text(request: dict) -> str:
    """Top-level system prompt plus mid-conversation system turns, billing block removed."""
    parts: list[str] = []
    system = request.get("system")
    if isinstance(system, str):
        if system.strip() and not is_billing_block(system):
            parts.append(system)
    elif isinstance(system, list):
        for block in system:
            if isinstance(block, dict) and block.get("type", "text") == "text":
                text = block.get("text") or ""
                if text.strip() and not is_billing_block(text):
                    parts.append(text)
    for message in request.get("messages") or []:
        if isinstance(message, dict) and message.get("role") == "system":
            text = flatten_text(message.get("content"))
            if text.strip() and not is_billing_block(text):
                parts.append(text)
    return "\n\n".join(part.strip("\n") for part in parts)


def is_server_tool(tool: dict) -> bool:
    """Anthropic server tools (`web_search_20250305`, `bash_20250124`, ...) run at Anthropic, not here."""
    kind = tool.get("type")
    return isinstance(kind, str) and kind not in ("custom", "function")


def clean_schema(schema: object, strip: frozenset[str]) -> object:
    """Remove the keywords a provider rejects; property *names* are data and always kept."""
    if isinstance(schema, dict):
        cleaned: dict[object, object] = {}
        for key, value in schema.items():
            if key in strip:
                continue
            if key in ("properties", "patternProperties", "$defs", "definitions") and isinstance(value, dict):
                cleaned[key] = {name: clean_schema(sub, strip) for name, sub in value.items()}
            else:
                cleaned[key] = clean_schema(value, strip)
        return cleaned
    if isinstance(schema, list):
        return [clean_schema(item, strip) for item in schema]
    return schema


# Claude Code sends the same tools every turn; only the profile's schema_strip shapes the result.
_TOOLS_MEMO: ContentMemo[list, tuple[dict, ...]] = ContentMemo()


def translate_tools(tools: list, profile: Profile) -> list[dict]:
    if not tools:
        return []
    key = (profile.schema_strip, tool_names_key(tools))
    return list(_TOOLS_MEMO.get(key, tools, lambda value: tuple(_translate_tools(value, profile.schema_strip))))


def _translate_tools(tools: list, strip: frozenset[str]) -> list[dict]:
    out: list[dict] = []
    for tool in tools:
        if not isinstance(tool, dict) or is_server_tool(tool) or not tool.get("name"):
            continue
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or not schema:
            schema = {"type": "object", "properties": {}}
        schema = clean_schema(schema, strip)
        if isinstance(schema, dict) and "type" not in schema:
            schema = {"type": "object", **schema}
        function = {"name": tool["name"], "description": tool.get("description") or "", "parameters": schema}
        out.append({"type": "function", "function": function})
    return out


def translate_tool_choice(choice: object, profile: Profile, has_tools: bool) -> tuple[object | None, bool | None]:
    """(tool_choice, parallel_tool_calls) for the provider; None means "do not send"."""
    if not has_tools or not isinstance(choice, dict) or profile.tool_choice == "omit":
        parallel = None
        if has_tools and isinstance(choice, dict) and choice.get("disable_parallel_tool_use"):
            parallel = False
        return None, parallel
    kind = choice.get("type")
    parallel = False if choice.get("disable_parallel_tool_use") else None
    value: object | None
    if kind == "auto":
        value = "auto"
    elif kind == "any":
        value = "required"
    elif kind == "none":
        value = "none"
    elif kind == "tool" and choice.get("name"):
        value = {"type": "function", "function": {"name": choice["name"]}}
    else:
        value = None
    if profile.tool_choice == "auto_only":
        value = "auto" if value is not None and value != "none" else None
    elif profile.tool_choice == "no_named" and isinstance(value, dict):
        value = "required"
    return value, parallel


def translate_request(
    request: dict,
    profile: Profile,
    upstream_model: str,
    *,
    reasoning: str = "client",
    codec: ToolIdCodec | None = None,
) -> dict:
    """The OpenAI Chat body for one Anthropic request. Always a streaming request."""
    codec = codec or ToolIdCodec(profile.tool_id_format)
    body: dict = {"model": upstream_model}
    messages: list[dict] = []
    system = system_text(request)
    if system:
        messages.append({"role": "system", "content": system})
    builder = MessageBuilder(profile, codec)
    messages.extend(builder.build(request.get("messages") or []))
    body["messages"] = messages

    tools = translate_tools(request.get("tools") or [], profile)
    if tools:
        body["tools"] = tools
    choice, parallel = translate_tool_choice(request.get("tool_choice"), profile, bool(tools))
    if choice is not None:
        body["tool_choice"] = choice
    if parallel is not None and profile.parallel_tool_calls:
        body["parallel_tool_calls"] = parallel

    max_tokens = request.get("max_tokens")
    if isinstance(max_tokens, int) and max_tokens > 0:
        if profile.max_tokens_cap:
            max_tokens = min(max_tokens, profile.max_tokens_cap)
        body[profile.max_tokens_field] = max_tokens
    _sampling(request, profile, body)
    stops = request.get("stop_sequences")
    if isinstance(stops, list) and stops:
        body["stop"] = [s for s in stops if isinstance(s, str) and s][:_MAX_STOP_SEQUENCES]

    decision = reasoning_policy.resolve(request, reasoning)
    body.update(reasoning_policy.encode(decision, profile.reasoning_control, profile.effort_levels))

    output_config = request.get("output_config")
    fmt = output_config.get("format") if isinstance(output_config, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and profile.response_format:
        schema = clean_schema(fmt.get("schema") or {}, profile.schema_strip)
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}

    body["stream"] = True
    if profile.stream_options:
        body["stream_options"] = {"include_usage": True}
    for key, value in profile.extra_body:
        body.setdefault(key, value)
    for key in profile.rejects:
        body.pop(key, None)
    return body


def _sampling(request: dict, profile: Profile, body: dict) -> None:
    temperature = request.get("temperature")
    if isinstance(temperature, (int, float)) and not isinstance(temperature, bool):
        if profile.temperature == "pass":
            body["temperature"] = temperature
        elif profile.temperature == "clamp01":
            body["temperature"] = min(1.0, max(0.01, float(temperature)))
    top_p = request.get("top_p")
    if isinstance(top_p, (int, float)) and not isinstance(top_p, bool):
        body["top_p"] = top_p
    top_k = request.get("top_k")
    if profile.top_k and isinstance(top_k, int) and not isinstance(top_k, bool):
        body["top_k"] = top_k
