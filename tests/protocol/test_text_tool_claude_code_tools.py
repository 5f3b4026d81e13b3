"""Recovery against the tools the real Claude Code CLI declares (its captured requests), not toy schemas."""

from __future__ import annotations

import json

import pytest

from tests.support.captures import message_requests
from tests.support.text_tool_streams import chunkings, final_message, shape, sse_stream, tokens

EDIT_ARGS = {
    "file_path": "/repo/src/app.py",
    "old_string": "def main():\n    print(\"hi\")\n",
    "new_string": "def main() -> None:\n    print(\"hi <there>\")\n",
}


@pytest.fixture(scope="module")
def claude_code_tools() -> list[dict]:
    requests = message_requests("baseline_authtoken")
    tools = max((r.body.get("tools") or [] for r in requests), key=len)
    assert {"Bash", "Edit", "Read", "Write"} <= {t.get("name") for t in tools}
    return tools


def _qwen(name: str, args: dict) -> str:
    params = "".join(f"<parameter={k}>\n{v if isinstance(v, str) else json.dumps(v)}\n</parameter>\n" for k, v in args.items())
    return f"<tool_call>\n<function={name}>\n{params}</function>\n</tool_call>"


@pytest.mark.parametrize("form", ["hermes", "qwen3_coder"])
def test_an_edit_with_multiline_code_is_recovered_exactly(claude_code_tools: list[dict], form: str) -> None:
    if form == "hermes":
        content = "Fixing the signature.\n<tool_call>\n" + json.dumps({"name": "Edit", "arguments": EDIT_ARGS}) + "\n</tool_call>"
    else:
        content = "Fixing the signature.\n" + _qwen("Edit", EDIT_ARGS)
    for label, pieces in chunkings(sse_stream(tokens(content))).items():
        message = final_message(pieces, tools=claude_code_tools)
        assert shape(message) == [("text", "Fixing the signature.\n"), ("tool_use", "Edit", EDIT_ARGS)], label


def test_typed_parameters_follow_the_real_schemas(claude_code_tools: list[dict]) -> None:
    read = {"file_path": "/repo/README.md", "offset": 10, "limit": 40}
    bash = {"command": "pytest -q", "timeout": 120000, "run_in_background": False}
    content = _qwen("Read", read) + "\n" + _qwen("Bash", bash)
    message = final_message([sse_stream(tokens(content))], tools=claude_code_tools)
    assert shape(message) == [("tool_use", "Read", read), ("tool_use", "Bash", bash)]


@pytest.mark.parametrize("content", [
    _qwen("Edit", {"file_path": "/a", "old_string": "x"}),  # new_string is required
    _qwen("Read", {"file_path": "/a", "limit": "forty"}),  # limit is an integer
    "<tool_call>\n" + json.dumps({"name": "WebSearch", "arguments": {"query": "x"}}) + "\n</tool_call>",  # not declared
])
def test_calls_the_real_schemas_reject_stay_text(claude_code_tools: list[dict], content: str) -> None:
    message = final_message([sse_stream(tokens(content))], tools=claude_code_tools)
    assert shape(message) == [("text", content)]
