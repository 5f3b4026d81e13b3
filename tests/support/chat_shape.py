"""Assertions about an OpenAI Chat Completions request body that fcc built.

Shared by the capture-driven translation tests and the per-provider quirk
tests: what every strict chat template accepts, and what must never leak.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fcc.core.catalog import CATALOG

# Everything translate_request may put at the top level (plus a profile's extra_body keys).
ALLOWED_TOP_LEVEL = frozenset(
    {
        "model", "messages", "tools", "tool_choice", "parallel_tool_calls",
        "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "stop",
        "reasoning_effort", "reasoning", "thinking", "chat_template_kwargs",
        "response_format", "stream", "stream_options",
    }
)  # fmt: skip

# Claude Code request fields no OpenAI-compatible provider knows.
CLAUDE_CODE_ONLY_FIELDS = (
    "context_management", "diagnostics", "safeguards", "metadata", "output_config",
    "fallbacks", "container", "mcp_servers", "service_tier", "inference_geo", "system", "stop_sequences",
)  # fmt: skip

# Keys that must not appear anywhere in an upstream chat body.
LEAK_KEYS = ("$schema", "defer_loading", "cache_control", "eager_input_streaming")

REASONING_MESSAGE_KEYS = ("reasoning_content", "reasoning", "reasoning_details")

BILLING_MARKER = "x-anthropic-billing-header"

OPENAI_PROFILES = sorted(pid for pid, p in CATALOG.items() if p.transport == "openai_chat")
NATIVE_PROFILES = sorted(pid for pid, p in CATALOG.items() if p.transport == "anthropic_messages")


def walk_keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from walk_keys(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from walk_keys(inner)


def assert_key_absent(body: dict, key: str) -> None:
    """Neither as a dict key anywhere nor as a JSON key in the serialised body."""
    assert key not in set(walk_keys(body)), f"{key!r} leaked into the upstream body"
    assert f'"{key}":' not in json.dumps(body), f"{key!r} leaked into the serialised upstream body"


def assert_no_leaks(body: dict) -> None:
    keys = set(walk_keys(body))
    serialised = json.dumps(body)
    for key in LEAK_KEYS:
        assert key not in keys, f"{key!r} leaked into the upstream body"
        assert f'"{key}":' not in serialised, f"{key!r} leaked into the serialised upstream body"
    assert BILLING_MARKER not in serialised


def assert_conversation_shape(messages: list[dict]) -> None:
    """What strict chat templates demand of the message list."""
    assert messages, "no messages"
    roles = [m["role"] for m in messages]
    assert set(roles) <= {"system", "user", "assistant", "tool"}, roles
    # One system message, first.
    assert "system" not in roles[1:], f"system message after the first position: {roles}"
    # No two consecutive user (or assistant) turns.
    for index, (first, second) in enumerate(zip(roles, roles[1:])):
        assert not (first == second and first in ("user", "assistant")), (
            f"consecutive {first} messages at {index}: {roles}"
        )
    # Every tool call is answered right after its assistant turn, and every tool
    # message answers a call of the assistant turn right before the tool block.
    index = 0
    while index < len(messages):
        message = messages[index]
        if message["role"] == "tool":
            raise AssertionError(f"tool message at {index} does not follow an assistant turn with tool_calls: {roles}")
        calls = message.get("tool_calls") or []
        if message["role"] == "assistant" and calls:
            ids = [call["id"] for call in calls]
            assert len(ids) == len(set(ids)), f"duplicate tool_call ids {ids}"
            answers: list[str] = []
            cursor = index + 1
            while cursor < len(messages) and messages[cursor]["role"] == "tool":
                answers.append(messages[cursor]["tool_call_id"])
                assert isinstance(messages[cursor]["content"], str) and messages[cursor]["content"], (
                    "a tool message needs non-empty string content"
                )
                cursor += 1
            assert sorted(answers) == sorted(ids), f"tool calls {ids} answered by {answers}"
            for call in calls:
                assert call["type"] == "function"
                assert call["function"]["name"]
                json.loads(call["function"]["arguments"])  # a JSON string
            index = cursor
            continue
        assert message["role"] != "assistant" or "tool_calls" not in message or message["tool_calls"], (
            "empty tool_calls list"
        )
        index += 1
    # An assistant message always carries something.
    for message in messages:
        if message["role"] == "assistant":
            assert message.get("content") or message.get("tool_calls"), f"empty assistant message {message}"
        if message["role"] == "user":
            assert message.get("content"), f"empty user message {message}"


def assistant_messages(body: dict) -> list[dict]:
    return [m for m in body["messages"] if m["role"] == "assistant"]


def tool_messages(body: dict) -> list[dict]:
    return [m for m in body["messages"] if m["role"] == "tool"]


def system_content(body: dict) -> str:
    systems = [m for m in body["messages"] if m["role"] == "system"]
    assert len(systems) == 1, f"expected one system message, got {len(systems)}"
    content = systems[0]["content"]
    assert isinstance(content, str)
    return content


def text_of(content: Any) -> str:
    """Message content (string or list of parts) as plain text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""
