"""fcc.core.continuation: what the client has, the continuation request, and the splice."""

from __future__ import annotations

from fcc.core.catalog import CATALOG
from fcc.core.continuation import Splice, Transcript, continuation_request
from fcc.core.dialects.openai_chat_stream import OpenAIChatReader
from fcc.core.events import MessageAccumulator, message_start_event
from fcc.config import Target
from fcc.engine.upstream import build_request

import json


def _text_block(index: int, *pieces: str, close: bool = False) -> list[dict]:
    events = [{"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}]
    events += [{"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": p}} for p in pieces]
    if close:
        events.append({"type": "content_block_stop", "index": index})
    return events


def _thinking(index: int) -> list[dict]:
    return [
        {"type": "content_block_start", "index": index, "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
        {"type": "content_block_delta", "index": index, "delta": {"type": "thinking_delta", "thinking": "hmm"}},
        {"type": "content_block_stop", "index": index},
    ]


def test_transcript_follows_text_and_knows_when_a_prefill_can_carry_on() -> None:
    transcript = Transcript()
    transcript.add(_thinking(0) + _text_block(1, "Hello ", "wor"))
    assert transcript.text == "Hello wor" and transcript.open == 1 and transcript.continuable()
    transcript.add([{"type": "content_block_stop", "index": 1}])
    assert transcript.open is None and transcript.continuable()
    transcript.add([{"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "t", "name": "Bash", "input": {}}}])
    assert not transcript.continuable()  # a tool call was sent: never continued


def test_a_cut_inside_thinking_is_not_continuable() -> None:
    transcript = Transcript()
    transcript.add(_text_block(0, "a", close=True) + _thinking(1))
    assert not transcript.continuable()


def test_the_continuation_request_ends_with_the_partial_turn_and_asks_for_no_thinking() -> None:
    request = {"model": "m", "max_tokens": 100, "thinking": {"type": "enabled", "budget_tokens": 50},
               "messages": [{"role": "user", "content": "hi"}]}
    body, dropped = continuation_request(request, "Hello wor")
    assert body["messages"][-1] == {"role": "assistant", "content": [{"type": "text", "text": "Hello wor"}]}
    assert "thinking" not in body and request["thinking"] and len(request["messages"]) == 1  # the original is untouched
    assert dropped == ""
    # Anthropic rejects a prefill ending in whitespace: the tail is cut and remembered.
    body, dropped = continuation_request(request, "Hello \n", strip_trailing_space=True)
    assert body["messages"][-1]["content"][0]["text"] == "Hello" and dropped == " \n"


def test_the_clients_own_prefill_is_extended() -> None:
    request = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "{"}]}
    body, _ = continuation_request(request, '{"a": 1')
    assert body["messages"][-1]["content"] == [{"type": "text", "text": "{"}, {"type": "text", "text": '{"a": 1'}]


def test_the_splice_merges_into_the_open_block_and_renumbers_the_rest() -> None:
    transcript = Transcript()
    transcript.add(_thinking(0) + _text_block(1, "The quick "))
    splice = Splice(transcript)
    continuation = _thinking(0) + _text_block(1, "brown fox.", close=True) + [
        {"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}},
        {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "{}"}},
        {"type": "content_block_stop", "index": 2},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 5}},
        {"type": "message_stop"},
    ]
    out = splice.feed(continuation)
    assert [e.get("index") for e in out if "index" in e] == [1, 1, 2, 2, 2]
    assert out[0] == {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "brown fox."}}
    assert splice.text == "brown fox."
    # The whole message, as the client's accumulator builds it, is one clean message.
    accumulator = MessageAccumulator()
    accumulator.add([message_start_event("msg_1", "claude", 1)] + _thinking(0) + _text_block(1, "The quick ") + out)
    message = accumulator.message
    assert message is not None and [b["type"] for b in message["content"]] == ["thinking", "text", "tool_use"]
    assert message["content"][1]["text"] == "The quick brown fox." and message["stop_reason"] == "tool_use"


def test_the_splice_after_a_closed_block_opens_a_new_one_and_drops_leading_space_when_asked() -> None:
    transcript = Transcript()
    transcript.add(_text_block(0, "Hello", close=True))
    out = Splice(transcript, dropped_space=" ").feed(_text_block(0, " world", close=True) + [{"type": "message_stop"}])
    assert out[0]["type"] == "content_block_start" and out[0]["index"] == 1
    assert out[1]["delta"]["text"] == "world"


def test_the_splice_closes_the_clients_open_block_before_the_end() -> None:
    transcript = Transcript()
    transcript.add(_text_block(0, "Hello"))
    out = Splice(transcript).feed([{"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {}}, {"type": "message_stop"}])
    assert [e["type"] for e in out] == ["content_block_stop", "message_delta", "message_stop"]


def test_openai_chat_continuation_carries_the_profiles_prefill_flag() -> None:
    request = {"model": "claude", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
    body, _ = continuation_request(request, "Hello wor")
    flags = {}
    for provider in ("vllm", "mistral", "kimi", "ollama"):
        profile = CATALOG[provider].replace(base_url="http://127.0.0.1:9/v1", api_key_env=None, auth_style="none", local=True)
        http, sent, _ = build_request(Target(profile, "m"), body, "none", {}, continuation=True)
        last = sent["messages"][-1]
        assert last["role"] == "assistant" and "Hello wor" in json.dumps(last["content"])
        flags[provider] = (sent.get("continue_final_message"), sent.get("add_generation_prompt"), last.get("prefix"), last.get("partial"))
    assert flags == {
        "vllm": (True, False, None, None),
        "mistral": (None, None, True, None),
        "kimi": (None, None, None, True),
        "ollama": (None, None, None, None),
    }
    # Without continuation, nothing is flagged.
    profile = CATALOG["vllm"].replace(base_url="http://127.0.0.1:9/v1")
    _, sent, _ = build_request(Target(profile, "m"), request, "none", {})
    assert "continue_final_message" not in sent


def test_a_pending_tool_call_is_known_to_the_reader() -> None:
    reader = OpenAIChatReader("claude", CATALOG["vllm"])
    reader.emitter.started = True
    chunk = {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "c1", "type": "function",
                                                               "function": {"name": "Bash", "arguments": "{\"comm"}}]}}]}
    reader.feed(f"data: {json.dumps(chunk)}\n\n".encode())
    assert reader.pending_tool_call
