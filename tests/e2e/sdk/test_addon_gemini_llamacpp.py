"""Gemini (OpenAI-compatible) and llama.cpp streams through their OWN built-in profiles.

Both run in the session's mitmdump + fcc (conftest.py): GEMINI_BASE_URL and
LLAMACPP_BASE_URL point at scripted upstreams, GEMINI_API_KEY is a fake key.
The client is the official SDK; a follow-up request is built the way Claude
Code builds it (the assistant content exactly as received, then the user's
tool_result), so what each profile replays to its upstream is checked end to end.

Gemini has no complete stream capture, only fragments
(wire-samples/gemini-openai-compat-tool-call-fragments.txt). The stream here is
fragment (A) byte for byte -- the whole tool call in one chunk, no `index`, an
`extra_content.google.thought_signature` -- followed by the finish chunk the
file's notes describe (finish_reason "stop" although a tool was called, usage
on that chunk) and `data: [DONE]`.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from fcc.core.catalog import CATALOG
from fcc.core.tools import decode_state
from tests.e2e.sdk.conftest import GEMINI_KEY
from tests.e2e.sdk.support import (
    BILLING_TEXT,
    PROMPT,
    Client,
    Fcc,
    assert_clean_stream,
    assert_credentials_not_forwarded,
)
from tests.protocol.test_stream_rules import block_summary
from tests.protocol.test_stream_wire_samples import TRUTH
from tests.support.upstream import RecordedRequest
from tests.support.upstream_responses import SSE_DONE, Stream, openai_reasoning_stream, openai_text_stream, sse_data
from tests.support.wire_samples import get_sample

pytestmark = pytest.mark.e2e

SPLITS: dict[str, Any] = {"events": "events", "61-bytes": 61, "7-bytes": 7}
MODES = ["stream-events", "stream-61-bytes", "stream-7-bytes", "json"]

# A Claude Code-style tool: its input_schema carries the `$schema` key Gemini rejects.
READ_TOOL = {
    "name": "read",
    "description": "Read a file.",
    "input_schema": {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {
            "path": {"type": "string"},
            "offset": {"type": "integer"},
            "limit": {"type": "integer"},
        },
        "required": ["path"],
        "additionalProperties": False,
    },
}
TOOL_RESULT_TEXT = "# Stage design\n\nStep 1: sketch the stage."


def receive(client: Client, mode: str, **request: Any) -> tuple[Any, list[dict[str, Any]]]:
    """One SDK call: (the Message, its content as the client received it, for echoing back)."""
    if mode == "json":
        message = client.create(**request)
        assert client.last.headers["content-type"] == "application/json"
        return message, json.loads(client.last.body)["content"]
    result = client.stream(**request)
    assert_clean_stream(result)
    message = result.ok()
    return message, message.to_dict()["content"]


def stream_for(mode: str, body: bytes) -> Stream:
    split = "events" if mode == "json" else SPLITS[mode.removeprefix("stream-")]
    return Stream.from_body(body, split=split)


def only_request(fcc: Fcc, provider: str, mark: int) -> RecordedRequest:
    [request] = fcc.upstreams[provider].since(mark)
    return request


# ------------------------------------------------------------------ Gemini ---

GEMINI_MODEL = "gemini-3.8-flash"
GEMINI_SLUG = f"gemini/{GEMINI_MODEL}"
GEMINI_CHAT_PATH = "/v1beta/openai/chat/completions"
# The finish chunk as the notes describe it: "stop" (not "tool_calls"), role repeated, usage on the
# same chunk; prompt_tokens 281 as fragment (B) shows (its other counts are elided, these are made up).
GEMINI_USAGE = {"prompt_tokens": 281, "completion_tokens": 23, "total_tokens": 304}


def gemini_fragment() -> tuple[bytes, dict[str, Any]]:
    """Fragment (A): its bytes as the wire had them, and the tool call they hold."""
    sample = get_sample("gemini-openai-compat-tool-call-fragments.txt", "A")
    assert sample.parseable and not sample.complete
    [chunk] = sample.json_frames()
    [call] = chunk["choices"][0]["delta"]["tool_calls"]
    assert "index" not in call, "fragment (A) is the index-less shape"
    return sample.body, call


def gemini_stream_body() -> bytes:
    fragment, _ = gemini_fragment()
    finish = {
        "choices": [{"delta": {"role": "assistant"}, "finish_reason": "stop", "index": 0}],
        "model": GEMINI_MODEL,
        "object": "chat.completion.chunk",
        "usage": GEMINI_USAGE,
    }
    return fragment + sse_data(finish) + SSE_DONE


def check_gemini_message(message: Any) -> tuple[Any, Any]:
    """The right message for the Gemini stream; returns (tool_use, redacted_thinking)."""
    _, call = gemini_fragment()
    assert message.model == GEMINI_SLUG
    kinds = [block.type for block in message.content]
    assert sorted(kinds) == ["redacted_thinking", "tool_use"], kinds
    tool = next(block for block in message.content if block.type == "tool_use")
    redacted = next(block for block in message.content if block.type == "redacted_thinking")
    assert tool.name == call["function"]["name"] == "read"
    assert tool.input == json.loads(call["function"]["arguments"])
    assert tool.id
    assert message.stop_reason == "tool_use", "a tool was called, whatever Gemini's finish_reason says"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (281, 23)
    # The opaque block carries the signature for this tool id, for the next request.
    assert decode_state(redacted.data) == ("thought_signatures", {tool.id: call["extra_content"]["google"]["thought_signature"]})
    return tool, redacted


@pytest.mark.parametrize("mode", MODES)
def test_gemini_tool_call_stream_and_follow_up_echo_the_thought_signature(fcc: Fcc, mode: str) -> None:
    _, call = gemini_fragment()
    signature = call["extra_content"]["google"]["thought_signature"]
    upstream = fcc.upstreams["gemini"]
    client = fcc.client()
    tools = [READ_TOOL]
    tool_choice = {"type": "auto", "disable_parallel_tool_use": True}

    # Turn 1: the Gemini stream, read by the SDK.
    mark = len(upstream.requests)
    upstream.script(stream_for(mode, gemini_stream_body()))
    message, received = receive(client, mode, model=GEMINI_SLUG, tools=tools, tool_choice=tool_choice)
    tool, _ = check_gemini_message(message)
    first = only_request(fcc, "gemini", mark)
    assert first.path == GEMINI_CHAT_PATH
    assert first.json_body["model"] == GEMINI_MODEL
    assert first.json_body["messages"][-1] == {"role": "user", "content": PROMPT}
    assert BILLING_TEXT.encode() not in first.body
    assert_credentials_not_forwarded(first, provider_key=GEMINI_KEY)

    # Turn 2: what Claude Code sends next -- the assistant content verbatim, then the tool result.
    mark = len(upstream.requests)
    upstream.script(openai_text_stream("The stage design has one step.", model=GEMINI_MODEL))
    follow_up = [
        {"role": "user", "content": PROMPT},
        {"role": "assistant", "content": received},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool.id, "content": TOOL_RESULT_TEXT}]},
    ]
    answer, _ = receive(client, mode, model=GEMINI_SLUG, tools=tools, tool_choice=tool_choice, messages=follow_up)
    assert [block.type for block in answer.content] == ["text"]
    assert answer.content[0].text == "The stage design has one step."

    second = only_request(fcc, "gemini", mark)
    body = second.json_body
    assert second.path == GEMINI_CHAT_PATH
    assert_credentials_not_forwarded(second, provider_key=GEMINI_KEY)
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "user", "assistant", "tool"], roles
    assistant, tool_message = body["messages"][2], body["messages"][3]
    [replayed] = assistant["tool_calls"]
    assert replayed["extra_content"]["google"]["thought_signature"] == signature
    assert replayed["function"]["name"] == call["function"]["name"]
    assert json.loads(replayed["function"]["arguments"]) == json.loads(call["function"]["arguments"])
    assert tool_message["tool_call_id"] == replayed["id"]
    assert tool_message["content"] == TOOL_RESULT_TEXT
    # Gemini's strict validator: no `$schema` in tool parameters, no parallel_tool_calls at all.
    [function_tool] = body["tools"]
    parameters = function_tool["function"]["parameters"]
    assert "$schema" not in parameters
    assert b"$schema" not in second.body
    assert parameters["properties"] == READ_TOOL["input_schema"]["properties"]
    assert "parallel_tool_calls" not in body
    assert "parallel_tool_calls" not in first.json_body


# --------------------------------------------------------------- llama.cpp ---

LLAMACPP_MODEL = "qwen3-8b"
LLAMACPP_SLUG = f"llamacpp/{LLAMACPP_MODEL}"
LLAMACPP_CHAT_PATH = "/v1/chat/completions"
THINK_SAMPLE = "inline-think-tag-streams#A"
REASONING = "The user wants PONG, so I answer PONG."


def think_tag_body() -> bytes:
    file, label = THINK_SAMPLE.split("#")
    return get_sample(f"{file}.txt", label).body


def check_think_tag_message(message: Any) -> None:
    truth = TRUTH[THINK_SAMPLE]  # [thinking "\nThe user wants PONG.\n", text "PONG"], (14, 120)
    assert message.model == LLAMACPP_SLUG
    assert block_summary(message) == truth.content
    assert message.stop_reason == truth.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == truth.usage[:2]


@pytest.mark.parametrize("mode", MODES)
def test_llamacpp_inline_think_tags_split_across_chunks(fcc: Fcc, mode: str) -> None:
    mark = len(fcc.upstreams["llamacpp"].requests)
    fcc.upstreams["llamacpp"].script(stream_for(mode, think_tag_body()))

    message, _ = receive(fcc.client(), mode, model=LLAMACPP_SLUG)

    check_think_tag_message(message)
    request = only_request(fcc, "llamacpp", mark)
    assert request.path == LLAMACPP_CHAT_PATH
    assert request.json_body["model"] == LLAMACPP_MODEL
    assert_credentials_not_forwarded(request, provider_key=None)  # keyless local server


@pytest.mark.parametrize("mode", ["stream-events", "json"])
def test_llamacpp_reasoning_content_is_a_thinking_block(fcc: Fcc, mode: str) -> None:
    fcc.upstreams["llamacpp"].script(stream_for(mode, openai_reasoning_stream(REASONING, "PONG").body))

    message, _ = receive(fcc.client(), mode, model=LLAMACPP_SLUG)

    assert message.model == LLAMACPP_SLUG
    assert block_summary(message) == [("thinking", REASONING), ("text", "PONG")]
    assert message.stop_reason == "end_turn"


def assert_thinking_replayed(assistant: dict[str, Any], thinking: str, answer: str) -> None:
    """The assistant turn as the llamacpp profile's reasoning_replay says it goes back upstream."""
    replay = CATALOG["llamacpp"].reasoning_replay
    if replay in ("reasoning_content", "reasoning"):
        assert assistant[replay] == thinking
        assert assistant["content"] == answer
    elif replay == "think_tags":
        assert assistant["content"] == f"<think>\n{thinking}\n</think>\n\n{answer}"
    else:
        assert replay == "drop", replay
        assert assistant["content"] == answer
        assert not {"reasoning_content", "reasoning", "reasoning_details"} & set(assistant)
    if replay != "reasoning_content":
        assert "reasoning_content" not in assistant
    if replay != "reasoning":
        assert "reasoning" not in assistant


@pytest.mark.parametrize("source", ["think-tags", "reasoning_content"])
def test_llamacpp_follow_up_replays_thinking_and_downgrades_a_named_tool_choice(fcc: Fcc, source: str) -> None:
    upstream = fcc.upstreams["llamacpp"]
    client = fcc.client()
    if source == "think-tags":
        upstream.script(Stream.from_body(think_tag_body()))
    else:
        upstream.script(openai_reasoning_stream(REASONING, "PONG"))
    message, received = receive(client, "stream-events", model=LLAMACPP_SLUG)
    thinking = next(block.thinking for block in message.content if block.type == "thinking")

    mark = len(upstream.requests)
    upstream.script(openai_text_stream("Done."))
    follow_up = [
        {"role": "user", "content": PROMPT},
        {"role": "assistant", "content": received},
        {"role": "user", "content": "Now read the skill file."},
    ]
    answer, _ = receive(client, "stream-events", model=LLAMACPP_SLUG, messages=follow_up,
                        tools=[READ_TOOL], tool_choice={"type": "tool", "name": "read"})
    assert [block.type for block in answer.content] == ["text"]

    body = only_request(fcc, "llamacpp", mark).json_body
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
    assert_thinking_replayed(body["messages"][2], thinking, "PONG")
    assert body["tool_choice"] == "required", "llama.cpp turns a named choice into auto; fcc sends required"
    assert [tool["function"]["name"] for tool in body["tools"]] == ["read"]
