"""Text tool calls through a running mitmdump + fcc (the llama.cpp profile: every dialect on).

The scripted llama.cpp server streams a model that writes its call as text (no
tool parser). The official SDK must get a real tool_use block, streaming and
not; the follow-up must replay it as a native tool call; and a possible marker
left hanging while the upstream stalls must reach the client once its time
bound passes, not when the upstream resumes.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.e2e.sdk.support import Client, Fcc, assert_clean_stream
from tests.support.text_tool_streams import BASH, sse_stream, tokens
from tests.support.upstream_responses import Stream

pytestmark = pytest.mark.e2e

SLUG = "llamacpp/qwen3-8b"
CALL_TEXT = ("I'll list the files.\n<tool_call>\n"
             '{"name": "Bash", "arguments": {"command": "ls -la", "description": "list"}}\n</tool_call>')


def _receive(client: Client, mode: str, **request):
    if mode == "json":
        message = client.create(**request)
        return message, json.loads(client.last.body)["content"]
    result = client.stream(**request)
    assert_clean_stream(result)
    message = result.ok()
    return message, message.to_dict()["content"]


@pytest.mark.parametrize("mode", ["stream", "json"])
def test_a_text_call_becomes_tool_use_and_is_replayed_natively(fcc: Fcc, mode: str) -> None:
    upstream = fcc.upstreams["llamacpp"]
    upstream.script(Stream.from_body(sse_stream(tokens(CALL_TEXT)), split=7))
    client = fcc.client()
    message, received = _receive(client, mode, model=SLUG, tools=[BASH])

    assert [block.type for block in message.content] == ["text", "tool_use"]
    assert message.content[0].text == "I'll list the files.\n"
    tool = message.content[1]
    assert (tool.name, tool.input) == ("Bash", {"command": "ls -la", "description": "list"})
    assert tool.id.startswith("toolu_txt_hermes_")
    assert message.stop_reason == "tool_use"

    mark = len(upstream.requests)
    upstream.script(Stream.from_body(sse_stream(tokens("Two files."))))
    follow_up = [
        {"role": "user", "content": "list the files"},
        {"role": "assistant", "content": received},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool.id, "content": "a.txt b.txt"}]},
    ]
    answer, _ = _receive(client, mode, model=SLUG, tools=[BASH], messages=follow_up)
    assert answer.content[0].text == "Two files."
    [request] = upstream.since(mark)
    messages = request.json_body["messages"]
    assistant = next(m for m in messages if m["role"] == "assistant")
    assert assistant["tool_calls"][0]["id"] == tool.id
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == tool.input
    assert "<tool_call>" not in (assistant.get("content") or "")
    assert next(m for m in messages if m["role"] == "tool") == {"role": "tool", "tool_call_id": tool.id,
                                                                 "content": "a.txt b.txt"}


def test_a_hanging_marker_prefix_is_released_while_the_upstream_stalls(fcc: Fcc) -> None:
    """`<tool_` then 6 s of upstream silence: the text must reach the client after ~2-3 s, not at 6 s."""
    body = sse_stream(["Hello ", "<tool_", " tags are fine."])
    events = re.findall(rb".*?\n\n", body, re.S)
    first, rest = b"".join(events[:2]), b"".join(events[2:])
    fcc.upstreams["llamacpp"].script(Stream((first, rest), delay=6.0))

    result = fcc.client().stream(model=SLUG, tools=[BASH])

    message = result.ok()
    assert [(b.type, b.text) for b in message.content] == [("text", "Hello <tool_ tags are fine.")]
    arrivals = result.wire.chunks
    held = next(at for at, piece in arrivals if b"<tool_" in piece)
    resumed = next(at for at, piece in arrivals if b"tags are fine" in piece)
    assert resumed - held >= 2.0, f"the held prefix arrived only {resumed - held:.1f} s before the upstream resumed"
