"""Anthropic events -> Responses SSE for Codex: one test per event rule (../shared/research/codex-client.md)."""

from __future__ import annotations

import json

import pytest

from fcc.core.dialects.client_writers import ResponsesClientWriter, ResponsesContext
from fcc.core.dialects.responses_request import thinking_block
from fcc.core.dialects.responses_stream import ResponsesWriter, response_from_message, responses_usage
from fcc.core.dialects.responses_tools import ToolInfo, ToolMap
from fcc.core.errors import make_error
from fcc.core.events import BlockEmitter, MessageAccumulator
from fcc.core.sse import SSEDecoder


def decode(chunks: list[bytes]) -> list[dict]:
    decoder = SSEDecoder()
    events = []
    for chunk in chunks:
        for event in decoder.feed(chunk):
            data = json.loads(event.data)
            assert event.event == data["type"], "the event: line names the data's type"
            events.append(data)
    return events


def types(events: list[dict]) -> list[str]:
    return [e["type"] for e in events]


def run(build, tool_map: ToolMap | None = None, usage: dict | None = None, stop: str = "end_turn") -> list[dict]:
    emitter = BlockEmitter("gpt-5.5", input_tokens=10)
    out: list[dict] = emitter.start_message()
    build(emitter, out)
    emitter.stop(stop, usage or {"input_tokens": 10, "output_tokens": 5}, out)
    writer = ResponsesWriter("gpt-5.5", tool_map)
    return decode(writer.feed(out))


def assert_sequence_numbers(events: list[dict]) -> None:
    assert [e["sequence_number"] for e in events] == list(range(len(events)))


def test_text_message_events_in_order_with_sequence_numbers() -> None:
    events = run(lambda e, out: (e.text("Hel", out), e.text("lo", out)))
    assert types(events) == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.completed",
    ]
    assert_sequence_numbers(events)
    created = events[0]["response"]
    assert created["status"] == "in_progress" and created["output"] == [] and created["id"].startswith("resp_")
    done = events[8]
    assert done["output_index"] == 0
    assert done["item"]["type"] == "message" and done["item"]["status"] == "completed" and done["item"]["role"] == "assistant"
    assert done["item"]["content"] == [{"type": "output_text", "annotations": [], "logprobs": [], "text": "Hello"}]
    assert [e["delta"] for e in events if e["type"] == "response.output_text.delta"] == ["Hel", "lo"]
    assert events[6]["text"] == "Hello"
    completed = events[-1]["response"]
    assert completed["status"] == "completed" and completed["id"] == created["id"]
    assert completed["output"] == [done["item"]]
    assert completed["usage"]["total_tokens"] == 15


def test_usage_counts_cached_tokens_inside_input_tokens() -> None:
    usage = responses_usage({"input_tokens": 100, "output_tokens": 20, "cache_read_input_tokens": 30, "cache_creation_input_tokens": 5})
    assert usage == {"input_tokens": 135, "input_tokens_details": {"cached_tokens": 30}, "output_tokens": 20,
                     "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 155}


def test_thinking_becomes_a_reasoning_item_whose_encrypted_content_round_trips() -> None:
    def build(e, out):
        e.thinking("I should ", out)
        e.thinking("run echo.", out)
        e.close_block(out, signature="sig-from-provider")
        e.text("ok", out)

    events = run(build)
    assert types(events)[2:9] == [
        "response.output_item.added", "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta", "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done", "response.reasoning_summary_part.done", "response.output_item.done",
    ]
    assert all(e["summary_index"] == 0 for e in events if "reasoning_summary" in e["type"])
    item = events[8]["item"]
    assert item["type"] == "reasoning" and item["id"].startswith("rs_")
    assert item["summary"] == [{"type": "summary_text", "text": "I should run echo."}]
    # Codex echoes the item back in the next request: the block comes back exactly.
    assert thinking_block(item) == {"type": "thinking", "thinking": "I should run echo.", "signature": "sig-from-provider"}
    message = [e for e in events if e["type"] == "response.output_item.done"][1]
    assert message["output_index"] == 1


def test_redacted_thinking_round_trips() -> None:
    events = run(lambda e, out: (e.redacted_thinking("opaque", out), e.text("x", out)))
    [item] = [e["item"] for e in events if e["type"] == "response.output_item.done" and e["item"]["type"] == "reasoning"]
    assert thinking_block(item) == {"type": "redacted_thinking", "data": "opaque"}


def test_function_call_item() -> None:
    events = run(lambda e, out: e.tool_use("call_1", "exec_command", '{"cmd":"echo T"}', out), stop="tool_use")
    assert types(events)[2:6] == ["response.output_item.added", "response.function_call_arguments.delta",
                                  "response.function_call_arguments.done", "response.output_item.done"]
    added, delta, args_done, done = events[2:6]
    assert added["item"]["status"] == "in_progress" and added["item"]["arguments"] == ""
    assert delta["delta"] == '{"cmd":"echo T"}' and args_done["arguments"] == '{"cmd":"echo T"}'
    assert delta["item_id"] == done["item"]["id"] and done["item"]["id"].startswith("fc_")
    assert done["item"] == {"id": done["item"]["id"], "type": "function_call", "status": "completed", "call_id": "call_1",
                            "name": "exec_command", "arguments": '{"cmd":"echo T"}'}
    assert events[-1]["type"] == "response.completed"


def test_custom_tool_call_item_unwraps_the_string_argument() -> None:
    tools = ToolMap()
    tools.add(ToolInfo("custom", "apply_patch"))
    patch = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch\n"
    events = run(lambda e, out: e.tool_use("call_p", "apply_patch", json.dumps({"input": patch}), out), tools, stop="tool_use")
    assert types(events)[2:6] == ["response.output_item.added", "response.custom_tool_call_input.delta",
                                  "response.custom_tool_call_input.done", "response.output_item.done"]
    assert events[3]["delta"] == patch and events[4]["input"] == patch
    item = events[5]["item"]
    assert (item["type"], item["name"], item["call_id"], item["input"], item["status"]) == (
        "custom_tool_call", "apply_patch", "call_p", patch, "completed")


def test_custom_tool_called_with_other_json_still_hands_codex_the_text() -> None:
    tools = ToolMap()
    tools.add(ToolInfo("custom", "exec"))
    events = run(lambda e, out: e.tool_use("c", "exec", json.dumps({"code": "text(1)"}), out), tools, stop="tool_use")
    [item] = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert item["input"] == "text(1)"  # the one string it gave, under whatever name


def test_namespaced_function_goes_back_with_its_namespace() -> None:
    tools = ToolMap()
    upstream = tools.add(ToolInfo("function", "spawn_agent", "multi_agent_v1"))
    events = run(lambda e, out: e.tool_use("c", upstream, "{}", out), tools, stop="tool_use")
    [item] = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert item["name"] == "spawn_agent" and item["namespace"] == "multi_agent_v1"


def test_local_shell_call_item() -> None:
    tools = ToolMap()
    tools.add(ToolInfo("local_shell", "local_shell"))
    events = run(lambda e, out: e.tool_use("c", "local_shell", '{"command":["ls"]}', out), tools, stop="tool_use")
    [item] = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert item["type"] == "local_shell_call" and item["action"] == {"type": "exec", "command": ["ls"]}


def test_max_tokens_ends_as_response_incomplete() -> None:
    events = run(lambda e, out: e.text("cut", out), stop="max_tokens")
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert events[-1]["response"]["usage"]["total_tokens"] == 15


@pytest.mark.parametrize(("error_type", "message", "code"), [
    ("overloaded_error", "busy", "server_error"),
    ("api_error", "boom", "server_error"),
    ("rate_limit_error", "slow down", "rate_limit_exceeded"),
    ("invalid_request_error", "prompt is too long: 300000 tokens", "context_length_exceeded"),
    ("billing_error", "no credit", "insufficient_quota"),
])
def test_errors_become_response_failed_with_code_and_message(error_type, message, code) -> None:
    emitter = BlockEmitter("m")
    out = emitter.start_message()
    emitter.text("partial", out)
    emitter.error(error_type, message, out)
    events = decode(ResponsesWriter("m").feed(out))
    assert events[-1]["type"] == "response.failed"
    response = events[-1]["response"]
    assert response["status"] == "failed" and response["error"] == {"code": code, "message": message}
    assert "response.output_item.done" not in types(events), "a half-made item is not handed to Codex"
    assert_sequence_numbers(events)


def test_a_stream_without_a_terminal_event_fails_instead_of_hanging() -> None:
    writer = ResponsesWriter("m")
    emitter = BlockEmitter("m")
    out = emitter.start_message()
    emitter.text("x", out)
    events = decode(writer.feed(out) + writer.finish())
    assert events[-1]["type"] == "response.failed"
    assert writer.finish() == []


def test_ping_is_a_small_in_progress_event_and_nothing_follows_the_end() -> None:
    """Codex's idle timer counts events, so a keepalive must be one (an SSE comment is not)."""
    writer = ResponsesWriter("m")
    assert writer.feed([{"type": "ping"}]) == []  # nothing before the response began
    emitter = BlockEmitter("m")
    out = emitter.start_message() + [{"type": "ping"}]
    emitter.text("x", out)
    emitter.stop("end_turn", {}, out)
    events = decode(writer.feed(out))
    assert types(events)[:3] == ["response.created", "response.in_progress", "response.in_progress"]
    assert set(events[2]["response"]) == {"id", "object", "created_at", "status", "model"}
    assert_sequence_numbers(events)
    assert writer.feed([{"type": "ping"}]) == []
    assert types(events)[-1] == "response.completed"


def test_non_stream_response_equals_the_streamed_final_response() -> None:
    tools = ToolMap()
    tools.add(ToolInfo("custom", "apply_patch"))
    emitter = BlockEmitter("gpt-5.5", input_tokens=10)
    out = emitter.start_message()
    emitter.thinking("hmm", out)
    emitter.close_block(out, signature="s1")
    emitter.text("hi", out)
    emitter.tool_use("c1", "exec_command", '{"cmd":"ls"}', out)
    emitter.tool_use("c2", "apply_patch", '{"input":"*** Begin Patch"}', out)
    emitter.stop("tool_use", {"input_tokens": 10, "output_tokens": 7}, out)
    streamed = decode(ResponsesWriter("gpt-5.5", tools).feed(out))[-1]["response"]
    accumulator = MessageAccumulator()
    accumulator.add(out)
    whole = response_from_message(accumulator.message or {}, tools)

    def shape(response):
        return [{k: v for k, v in item.items() if k != "id"} for item in response["output"]], response["usage"], response["status"]

    assert shape(whole) == shape(streamed)
    assert [i["type"] for i in whole["output"]] == ["reasoning", "message", "function_call", "custom_tool_call"]


# ------------------------------------------------------- client writer ---


def client() -> ResponsesClientWriter:
    return ResponsesClientWriter("gpt-5.5", ResponsesContext())


def test_final_transient_failures_reach_a_streaming_client_as_response_failed() -> None:
    events = decode(client().failure_stream(make_error(529, "vllm/x: no response within 90 s")) or [])
    # On its own the failure is a whole stream; the engine writes created/in_progress first anyway.
    assert types(events) == ["response.created", "response.in_progress", "response.failed"]
    assert_sequence_numbers(events)
    assert events[-1]["response"]["error"] == {"code": "server_error", "message": "vllm/x: no response within 90 s"}


def test_rate_limit_message_tells_codex_when_to_retry() -> None:
    events = decode(client().failure_stream(make_error(429, "groq is rate-limited", retry_after=12)) or [])
    error = events[-1]["response"]["error"]
    assert error["code"] == "rate_limit_exceeded" and error["message"].endswith("Please try again in 12s.")


def test_context_overflow_is_streamed_so_codex_compacts() -> None:
    events = decode(client().failure_stream(make_error(400, "maximum context length is 8192 tokens")) or [])
    assert events[-1]["response"]["error"]["code"] == "context_length_exceeded"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
def test_errors_that_cannot_succeed_are_http_400_with_the_openai_body(status) -> None:
    writer = client()
    error = make_error(status, "bad thing")
    if status != 413:
        assert writer.failure_stream(error) is None
    code, headers, body = writer.error_answer(error)
    assert code == 400 and headers["content-type"] == "application/json"
    parsed = json.loads(body)
    assert parsed["error"]["message"] == "bad thing" and parsed["error"]["type"] == "invalid_request_error"
    assert set(parsed["error"]) == {"message", "type", "param", "code"}


def test_non_stream_429_keeps_status_and_retry_after() -> None:
    code, headers, body = client().error_answer(make_error(429, "slow", retry_after=3))
    assert code == 429 and headers["retry-after"] == "3"
    assert json.loads(body)["error"]["code"] == "rate_limit_exceeded"
