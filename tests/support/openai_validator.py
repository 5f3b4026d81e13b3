"""A strict OpenAI Chat Completions request validator: what the pickiest compatible server accepts.

Stricter than OpenAI itself on purpose (vLLM/llama.cpp chat templates, Mistral, NIM): required
fields and their types, known roles and keys only, function names providers accept, tool calls
answered right after their assistant turn and nothing answered that was not called.

    problems = validate_chat_request(body)
    assert problems == []
"""

from __future__ import annotations

import json
import re
from typing import Any

FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TOP_LEVEL = {
    "model": str, "messages": list, "tools": list, "tool_choice": (str, dict), "parallel_tool_calls": bool,
    "max_tokens": int, "max_completion_tokens": int, "temperature": (int, float), "top_p": (int, float), "top_k": int,
    "stop": list, "reasoning_effort": str, "reasoning": dict, "thinking": dict, "chat_template_kwargs": dict,
    "response_format": dict, "stream": bool, "stream_options": dict,
}  # fmt: skip
MESSAGE_KEYS = {
    "system": {"role", "content", "name"},
    "user": {"role", "content", "name"},
    "assistant": {"role", "content", "tool_calls", "name", "reasoning_content", "reasoning", "reasoning_details", "refusal"},
    "tool": {"role", "content", "tool_call_id"},
}


def _text_parts_ok(content: Any, allow_images: bool) -> bool:
    if not isinstance(content, list) or not content:
        return False
    for part in content:
        if not isinstance(part, dict):
            return False
        if part.get("type") == "text" and isinstance(part.get("text"), str):
            continue
        if allow_images and part.get("type") == "image_url" and isinstance((part.get("image_url") or {}).get("url"), str):
            continue
        return False
    return True


def _message_problems(index: int, message: Any) -> list[str]:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        return [f"{where}: not an object"]
    role = message.get("role")
    if role not in MESSAGE_KEYS:
        return [f"{where}: unknown role {role!r}"]
    problems = [f"{where}: unknown key {key!r} for role {role}" for key in message if key not in MESSAGE_KEYS[role]]
    content = message.get("content")
    if role in ("system", "user"):
        if not (isinstance(content, str) and content.strip()) and not _text_parts_ok(content, allow_images=role == "user"):
            problems.append(f"{where}: {role} content must be a non-empty string or text parts")
    elif role == "tool":
        if not isinstance(message.get("tool_call_id"), str) or not message["tool_call_id"]:
            problems.append(f"{where}: tool message without tool_call_id")
        if not (isinstance(content, str) and content) and not _text_parts_ok(content, allow_images=False):
            problems.append(f"{where}: tool content must be a non-empty string")
    else:
        calls = message.get("tool_calls")
        if content is not None and not isinstance(content, str) and not _text_parts_ok(content, allow_images=False):
            problems.append(f"{where}: assistant content must be a string, null or text parts")
        if calls is not None:
            if not isinstance(calls, list) or not calls:
                problems.append(f"{where}: tool_calls must be a non-empty list")
            else:
                for number, call in enumerate(calls):
                    problems += _call_problems(f"{where}.tool_calls[{number}]", call)
        if not content and not calls:
            problems.append(f"{where}: assistant message with neither content nor tool_calls")
    return problems


def _call_problems(where: str, call: Any) -> list[str]:
    if not isinstance(call, dict) or call.get("type") != "function" or not isinstance(call.get("function"), dict):
        return [f"{where}: must be {{id, type: function, function: {{name, arguments}}}}"]
    problems = []
    if not isinstance(call.get("id"), str) or not call["id"]:
        problems.append(f"{where}: missing id")
    function = call["function"]
    if not isinstance(function.get("name"), str) or not FUNCTION_NAME.match(function["name"]):
        problems.append(f"{where}: bad function name {function.get('name')!r}")
    arguments = function.get("arguments")
    try:
        if not isinstance(arguments, str) or not isinstance(json.loads(arguments), dict):
            raise ValueError
    except ValueError:
        problems.append(f"{where}: arguments must be a JSON object encoded as a string")
    return problems


def _pairing_problems(messages: list) -> list[str]:
    """Tool calls answered right after their turn, all of them, and nothing else answered."""
    problems: list[str] = []
    pending: list[str] = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if role == "tool":
            if message.get("tool_call_id") not in pending:
                problems.append(f"messages[{index}]: answers {message.get('tool_call_id')!r}, which the turn before did not call")
            else:
                pending.remove(message["tool_call_id"])
            continue
        if pending:
            problems.append(f"messages[{index}]: calls {pending} were never answered before this {role} message")
        pending = [c.get("id") for c in message.get("tool_calls") or [] if isinstance(c, dict)] if role == "assistant" else []
        if len(pending) != len(set(pending)):
            problems.append(f"messages[{index}]: duplicate tool call ids {pending}")
    if pending:
        problems.append(f"the conversation ends with unanswered calls {pending}")
    roles = [m.get("role") for m in messages if isinstance(m, dict)]
    if "system" in roles[1:]:
        problems.append(f"a system message after the first position: {roles}")
    for index, (first, second) in enumerate(zip(roles, roles[1:])):
        if first == second and first in ("user", "assistant"):
            problems.append(f"messages[{index}], [{index + 1}]: two {first} messages in a row")
    return problems


def _tool_problems(tools: list, choice: Any) -> list[str]:
    problems: list[str] = []
    names: list[str] = []
    for index, tool in enumerate(tools):
        where = f"tools[{index}]"
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(function, dict):
            problems.append(f"{where}: must be {{type: function, function: {{...}}}}")
            continue
        name = function.get("name")
        if not isinstance(name, str) or not FUNCTION_NAME.match(name):
            problems.append(f"{where}: bad function name {name!r}")
        names.append(str(name))
        if "description" in function and not isinstance(function["description"], str):
            problems.append(f"{where}: description must be a string")
        parameters = function.get("parameters")
        if not isinstance(parameters, dict) or parameters.get("type") != "object":
            problems.append(f"{where}: parameters must be a JSON schema of type object")
        elif not isinstance(parameters.get("properties", {}), dict):
            problems.append(f"{where}: parameters.properties must be an object")
        extra = set(function) - {"name", "description", "parameters", "strict"}
        if extra:
            problems.append(f"{where}: unknown function keys {sorted(extra)}")
    if len(names) != len(set(names)):
        problems.append(f"duplicate tool names {sorted(n for n in names if names.count(n) > 1)}")
    if choice is not None:
        if isinstance(choice, str):
            if choice not in ("auto", "none", "required"):
                problems.append(f"tool_choice {choice!r} is not auto/none/required")
        elif not (choice.get("type") == "function" and (choice.get("function") or {}).get("name") in names):
            problems.append(f"tool_choice {choice!r} names no offered function")
    return problems


def validate_chat_request(body: Any, extra_keys: frozenset[str] = frozenset()) -> list[str]:
    """Every problem a strict OpenAI-compatible server would refuse the body for ([] when none)."""
    if not isinstance(body, dict):
        return ["body is not a JSON object"]
    problems: list[str] = []
    for key, value in body.items():
        expected = TOP_LEVEL.get(key)
        if expected is None:
            if key not in extra_keys:
                problems.append(f"unknown top-level key {key!r}")
        elif not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            problems.append(f"{key}: wrong type {type(value).__name__}")
    if not isinstance(body.get("model"), str) or not body.get("model"):
        problems.append("model is required")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return problems + ["messages must be a non-empty list"]
    for index, message in enumerate(messages):
        problems += _message_problems(index, message)
    problems += _pairing_problems(messages)
    if "tools" in body and isinstance(body["tools"], list):
        problems += _tool_problems(body["tools"], body.get("tool_choice"))
    elif "tool_choice" in body:
        problems.append("tool_choice without tools")
    for key in ("max_tokens", "max_completion_tokens"):
        if isinstance(body.get(key), int) and body[key] < 1:
            problems.append(f"{key} must be positive")
    return problems
