"""The real Claude Code CLI acts on tool calls a model wrote as text.

fcc sits between the CLI and a scripted local provider (vLLM profile) that
answers ONLY with text: first a Hermes-style call streamed the way Ollama's Go
encoder writes it (`\\u003ctool_call\\u003e` escapes on the wire), then a
Mistral v11 `[TOOL_CALLS]Bash[ARGS]{...}` call, then a final answer. The CLI
must run both Bash commands and finish the agent loop, and each follow-up
request must carry the command's output as the tool result, with the earlier
calls replayed as native `tool_calls` (not as raw text).
"""

from __future__ import annotations

import json
import secrets

import pytest

from tests.e2e.test_claude_code_cli import (  # noqa: F401 - the rig and its fixtures
    UPSTREAM_MODEL, Rig, _chat_bodies, _content_text, claude_bin, find_tool_result, rig,
)
from tests.support.text_tool_streams import sse_stream, tokens
from tests.support.upstream_responses import Stream, openai_text_stream

pytestmark = [pytest.mark.e2e, pytest.mark.cli]


def _text_call_stream(content: str, server: str) -> Stream:
    return Stream.from_body(sse_stream(tokens(content), server=server, model=UPSTREAM_MODEL), split="events")


def test_text_tool_calls_complete_bash_round_trips(rig: Rig) -> None:
    first, second = f"fccone{secrets.token_hex(6)}", f"fcctwo{secrets.token_hex(6)}"
    marker = f"FCCDONE{secrets.token_hex(6)}"
    hermes_args = {"command": f"echo {first}", "description": "print the first token"}
    mistral_args = {"command": f"echo {second}", "description": "print the second token"}
    rig.upstream.script(
        _text_call_stream(
            "I'll run the first command.\n<tool_call>\n" + json.dumps({"name": "Bash", "arguments": hermes_args})
            + "\n</tool_call>", server="ollama"),
        _text_call_stream("Now the second one.[TOOL_CALLS]Bash[ARGS]" + json.dumps(mistral_args), server="vllm"),
        openai_text_stream(f"Both commands ran. {marker}", model=UPSTREAM_MODEL),
    )

    run = rig.claude("run the command", "--output-format", "json", "--allowedTools", "Bash(echo *)")

    assert run.returncode == 0, f"claude exited {run.returncode}"
    result = json.loads(run.stdout)
    assert result["is_error"] is False, result
    assert marker in result["result"]
    bodies = _chat_bodies(rig.upstream)
    assert len(bodies) >= 3, f"the agent loop stopped after {len(bodies)} request(s)"

    outputs = []
    for token, args in ((first, hermes_args), (second, mistral_args)):
        calls = [call for body in bodies for m in body["messages"] if m.get("role") == "assistant"
                 for call in m.get("tool_calls") or [] if json.loads(call["function"]["arguments"]) == args]
        assert calls, f"the call running {args['command']!r} was not replayed as a native tool call"
        call = calls[0]
        assert call["function"]["name"] == "Bash" and call["id"].startswith("toolu_txt_")
        _body, assistant, tool_message = find_tool_result(bodies, call["id"])
        assert token in _content_text(tool_message["content"]), "the Bash output did not come back as the tool result"
        assert "tool_call>" not in _content_text(assistant.get("content")), "raw call text leaked into the history"
        assert "[TOOL_CALLS]" not in _content_text(assistant.get("content"))
        outputs.append(tool_message)
    assert rig.upstream.errors == []
