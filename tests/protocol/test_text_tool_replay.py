"""Assistant turns that carried recovered calls go back in a shape the provider understands."""

from __future__ import annotations

import pytest

from fcc.core.catalog import CATALOG
from fcc.core.dialects.openai_chat_request import translate_request
from fcc.core.text_tools import DIALECTS, TextToolRecogniser, ToolSet, text_tool_id
from tests.support.text_tool_streams import BASH, READ, TOOLS


def conversation(call_id: str) -> dict:
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "tools": [BASH, READ],
        "messages": [
            {"role": "user", "content": "list the files"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "I'll list them.\n"},
                {"type": "tool_use", "id": call_id, "name": "Bash", "input": {"command": "ls -la"}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": call_id, "content": "a.txt\nb.txt"},
                {"type": "text", "text": "and now?"},
            ]},
        ],
    }


def test_native_replay_by_default() -> None:
    call_id = text_tool_id("hermes")
    body = translate_request(conversation(call_id), CATALOG["ollama"], "qwen3:8b")
    assistant = next(m for m in body["messages"] if m["role"] == "assistant")
    assert assistant["tool_calls"][0]["id"] == call_id
    assert assistant["tool_calls"][0]["function"]["name"] == "Bash"
    tool = next(m for m in body["messages"] if m["role"] == "tool")
    assert tool["tool_call_id"] == call_id and tool["content"] == "a.txt\nb.txt"


@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_text_replay_writes_the_call_in_its_own_dialect(dialect: str) -> None:
    call_id = text_tool_id(dialect)
    profile = CATALOG["llamacpp"].replace(text_tool_replay="text")
    request = conversation(call_id)
    if DIALECTS[dialect].anchored:  # a whole-message call had no text around it
        request["messages"][1]["content"] = request["messages"][1]["content"][1:]
    body = translate_request(request, profile, "local")
    roles = [m["role"] for m in body["messages"]]
    assert "tool" not in roles
    assistant = next(m for m in body["messages"] if m["role"] == "assistant")
    assert "tool_calls" not in assistant
    if not DIALECTS[dialect].anchored:
        assert assistant["content"].startswith("I'll list them.\n")
    # What fcc writes back is exactly what its recogniser reads as that same call.
    rec = TextToolRecogniser([DIALECTS[dialect]], ToolSet(TOOLS))
    pieces = rec.feed(assistant["content"]) + rec.finish()
    calls = [value for kind, value in pieces if kind == "call"]
    assert [(c.name, c.arguments, c.dialect) for c in calls] == [("Bash", {"command": "ls -la"}, dialect)]
    user = body["messages"][-1]
    assert user["role"] == "user"
    assert DIALECTS[dialect].result.format(content="a.txt\nb.txt") in user["content"]
    assert "and now?" in user["content"]


def test_text_replay_leaves_native_calls_native() -> None:
    profile = CATALOG["llamacpp"].replace(text_tool_replay="text")
    body = translate_request(conversation("call_native_1"), profile, "local")
    assistant = next(m for m in body["messages"] if m["role"] == "assistant")
    assert assistant["tool_calls"][0]["id"] == "call_native_1"
    assert any(m["role"] == "tool" for m in body["messages"])
