"""Content views for OpenAI Responses traffic (the Codex CLI's requests and fcc's answers)."""

from __future__ import annotations

import json

from mitmproxy import http

from fcc.mitm.views_common import Line, cut as _cut, loads_or_none as _json, raw_lines as _raw_lines, sse_events as _events


def _item_summary(item: object) -> str:
    if not isinstance(item, dict):
        return _cut(json.dumps(item, ensure_ascii=False))
    kind = item.get("type") or ("message" if "role" in item else "?")
    if kind == "message":
        content = item.get("content")
        text = content if isinstance(content, str) else " ".join(
            str(p.get("text", p.get("type"))) for p in content or [] if isinstance(p, dict))
        return f"message {item.get('role', 'assistant')}: {_cut(text)}"
    if kind == "reasoning":
        summary = " ".join(p.get("text", "") for p in item.get("summary") or [] if isinstance(p, dict))
        state = " [encrypted_content]" if item.get("encrypted_content") else ""
        return f"reasoning{state}: {_cut(summary)}"
    if kind in ("function_call", "custom_tool_call"):
        name = f"{item['namespace']}.{item.get('name')}" if item.get("namespace") else item.get("name")
        return f"{kind} {name} {item.get('call_id')}: {_cut(str(item.get('arguments', item.get('input', ''))))}"
    if kind.endswith("_output"):
        output = item.get("output")
        text = output if isinstance(output, str) else " ".join(str(p.get("text", "")) for p in output or [] if isinstance(p, dict))
        return f"{kind} {item.get('call_id')}: {_cut(text)}"
    if kind == "additional_tools":
        return f"additional_tools: {', '.join(_tool_names(item.get('tools') or []))}"
    return f"{kind}: {_cut(json.dumps(item, ensure_ascii=False))}"


def _tool_names(tools: list) -> list[str]:
    names: list[str] = []
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        if tool.get("type") == "namespace":
            names += [f"{tool.get('name')}.{n}" for n in _tool_names(tool.get("tools") or [])]
        elif tool.get("type") == "custom":
            names.append(f"{tool.get('name')} (custom)")
        else:
            names.append(str(tool.get("name") or tool.get("type")))
    return names


def render_responses_sse(data: bytes) -> tuple[str, list[Line]]:
    events = _events(data)
    final: dict | None = None
    items: list[dict] = []
    for _, payload in events:
        event = _json(payload)
        if not isinstance(event, dict):
            continue
        if event.get("type") == "response.output_item.done" and isinstance(event.get("item"), dict):
            items.append(event["item"])
        elif event.get("type") in ("response.completed", "response.failed", "response.incomplete", "response.created"):
            final = event.get("response") if isinstance(event.get("response"), dict) else final
    lines: list[Line] = []
    if final is None:
        lines.append(("error", "no response.created: not a Responses stream"))
    else:
        lines.append(("header", f"response {final.get('id', '?')}  model {final.get('model', '?')}  status {final.get('status')}"))
        usage = final.get("usage") or {}
        lines.append(("text", "usage: " + (" ".join(f"{k}={v}" for k, v in usage.items() if not isinstance(v, dict)) or "-")))
        if final.get("error"):
            lines.append(("error", f"error: {final['error'].get('code')}: {final['error'].get('message')}"))
        if final.get("incomplete_details"):
            lines.append(("error", f"incomplete: {final['incomplete_details'].get('reason')}"))
    for index, item in enumerate(items):
        lines.append(("text", f"  [{index}] {_item_summary(item)}"))
    return "Responses SSE", [*lines, ("text", " "), *_raw_lines(events)]


def render_responses_request(data: bytes) -> tuple[str, list[Line]]:
    body = _json(data.decode("utf-8", "replace"))
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    known = ("model", "stream", "reasoning", "tool_choice", "parallel_tool_calls", "max_output_tokens", "text", "store")
    lines: list[Line] = [("header", "  ".join(f"{k}: {json.dumps(body[k])}" for k in known if k in body))]
    if body.get("instructions"):
        lines.append(("text", f"instructions: {_cut(str(body['instructions']))}"))
    items = body.get("input")
    items = [{"type": "message", "role": "user", "content": items}] if isinstance(items, str) else items or []
    lines.append(("header", f"input ({len(items)} items)"))
    lines += [("text", f"  [{index}] {_item_summary(item)}") for index, item in enumerate(items)]
    tools = body.get("tools") or []
    lines.append(("header", f"tools ({len(tools)}): {', '.join(_tool_names(tools))}"))
    rest = [k for k in body if k not in (*known, "instructions", "input", "tools")]
    if rest:
        lines.append(("text", f"other fields: {', '.join(rest)}"))
    return "Responses request", lines



def responses_sse_priority(data: bytes, content_type: str | None) -> float:
    is_sse = (content_type or "").startswith("text/event-stream") or data.lstrip()[:6] in (b"event:", b"data: ", b"data:{")
    head = data[:8192]
    return 2.0 if is_sse and b'"type":"response.' in head.replace(b'": "', b'":"') else 0.0


def responses_request_priority(data: bytes, content_type: str | None, flow, http_message) -> float:
    if not isinstance(http_message, http.Request) or not data.lstrip().startswith(b"{"):
        return 0.0
    path = str((getattr(flow, "metadata", None) or {}).get("fcc_original_url") or http_message.path)
    return 2.0 if path.split("?", 1)[0].endswith("/responses") else 0.0
