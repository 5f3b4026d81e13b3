"""One test per rule of the OpenAI chat stream -> Anthropic SSE translation.

The first half of this module is the harness the other stream tests import
(`test_stream_wire_samples`, `test_malformed`): feed bytes to the translator,
read the produced bytes back *strictly* (every event exactly
`event: X` + `data: {"type": "X", ...}`), check the event grammar the SDK
accumulators rely on (protocol-notes A.3/A.4), and parse the bytes with the
official `anthropic` SDK's own SSE decoder and `accumulate_event`.

Each rule test builds the smallest upstream stream that exercises its rule
and asserts on something that changes if the rule breaks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, get_args

import anthropic
import httpx
import pytest
from anthropic.lib.streaming import MessageStream
from anthropic.types import RawMessageStreamEvent, StopReason
from anthropic.types.shared.error_type import ErrorType

from fcc.core.profiles import Profile
from fcc.core.events import AnthropicSSETranslator
from fcc.core.dialects.openai_chat_stream import OpenAIChatReader
from fcc.core.tools import decode_state

# --------------------------------------------------------------------------- harness

CLIENT_MODEL = "claude-opus-5-5"
FIXED_MESSAGE_ID = "msg_0123456789abcdef01234567"

Chunking = Callable[[bytes], list[bytes]]


def whole_body(body: bytes) -> list[bytes]:
    return [body]


def per_line(body: bytes) -> list[bytes]:
    return body.splitlines(keepends=True)


def every_n_bytes(size: int) -> Chunking:
    def split(body: bytes) -> list[bytes]:
        return [body[start : start + size] for start in range(0, len(body), size)]

    return split


CHUNKINGS: dict[str, Chunking] = {
    "whole": whole_body,
    "per-line": per_line,
    "1-byte": every_n_bytes(1),
    "7-bytes": every_n_bytes(7),
    "64-bytes": every_n_bytes(64),
}


def translate(pieces: Iterable[bytes], profile: Profile | None = None, input_tokens: int = 0) -> bytes:
    """Run upstream pieces through the core exactly as the engine does; return the produced bytes."""
    reader = OpenAIChatReader(CLIENT_MODEL, profile, message_id=FIXED_MESSAGE_ID, input_tokens=input_tokens)
    translator = AnthropicSSETranslator(reader)
    produced: list[bytes] = []
    for piece in pieces:
        produced.extend(translator.feed(piece))
    produced.extend(translator.finish())
    for item in produced:
        assert isinstance(item, bytes) and item, f"the core produced an empty or non-bytes item: {item!r}"
    return b"".join(produced)


@dataclass(frozen=True)
class RawEvent:
    name: str
    data: dict[str, Any]

    @property
    def index(self) -> int | None:
        return self.data.get("index")


KNOWN_EVENT_NAMES = frozenset(
    {
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "ping",
        "error",
    }
)
DELTAS_ALLOWED_IN_BLOCK: dict[str, frozenset[str]] = {
    "text": frozenset({"text_delta", "citations_delta"}),
    "thinking": frozenset({"thinking_delta", "signature_delta"}),
    "tool_use": frozenset({"input_json_delta"}),
    "redacted_thinking": frozenset(),
}
STOP_REASONS: frozenset[str] = frozenset(get_args(StopReason))
ERROR_TYPES: frozenset[str] = frozenset(get_args(ErrorType))


def read_raw_events(body: bytes) -> list[RawEvent]:
    """Strict reader: every event is exactly one `event:` line and one `data:` line whose type matches."""
    assert body.endswith(b"\n\n"), f"stream does not end with a complete event: {body[-80:]!r}"
    events: list[RawEvent] = []
    for frame in body[:-2].split(b"\n\n"):
        lines = frame.split(b"\n")
        assert len(lines) == 2, f"an event must be exactly `event:` + `data:`, got {frame[:200]!r}"
        event_line, data_line = lines
        assert event_line.startswith(b"event: "), f"missing `event:` line: {frame[:200]!r}"
        assert data_line.startswith(b"data: "), f"missing `data:` line: {frame[:200]!r}"
        name = event_line[len(b"event: ") :].decode()
        data = json.loads(data_line[len(b"data: ") :])
        assert isinstance(data, dict), f"data is not an object: {data!r}"
        assert data.get("type") == name, f"event name {name!r} != data.type {data.get('type')!r}"
        events.append(RawEvent(name, data))
    return events


USAGE_COUNTERS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


def check_usage(usage: dict[str, Any], required: tuple[str, ...]) -> None:
    """Required counters present; every counter present is a non-negative JSON integer (not a bool or float)."""
    assert all(counter in usage for counter in required), usage
    for counter in USAGE_COUNTERS:
        if usage.get(counter) is not None:
            value = usage[counter]
            assert type(value) is int and value >= 0, f"usage.{counter} = {value!r}"


def check_grammar(events: Sequence[RawEvent]) -> None:
    """The event grammar both SDK accumulators rely on (protocol-notes A.3, A.4, F.1)."""
    assert events, "no events at all"
    assert events[0].name == "message_start", f"first event is {events[0].name}"
    started_blocks = 0
    open_index: int | None = None
    open_type: str | None = None
    open_signature = ""
    open_json: list[str] = []
    message_deltas = 0
    tool_blocks_started = 0
    terminal: str | None = None
    for position, event in enumerate(events):
        assert event.name in KNOWN_EVENT_NAMES, f"unknown event {event.name} (clients drop it)"
        assert terminal is None, f"{event.name} after the terminal {terminal}"
        data = event.data
        if event.name == "message_start":
            assert position == 0, "a second message_start"
            message = data["message"]
            assert message["type"] == "message" and message["role"] == "assistant"
            assert message["content"] == [] and message["stop_reason"] is None
            assert isinstance(message["id"], str) and message["id"]
            check_usage(message["usage"], required=("input_tokens", "output_tokens"))
        elif event.name == "content_block_start":
            assert open_index is None, f"block {data['index']} started while block {open_index} is open"
            assert data["index"] == started_blocks, f"block index {data['index']}, expected {started_blocks}"
            block = data["content_block"]
            assert block["type"] in DELTAS_ALLOWED_IN_BLOCK, f"unexpected block type {block['type']}"
            if block["type"] == "text":
                assert block["text"] == ""
            elif block["type"] == "thinking":
                assert block["thinking"] == "" and block["signature"] == ""
            elif block["type"] == "tool_use":
                assert block["input"] == {}, "tool_use input must start as {}"
                assert isinstance(block["id"], str) and block["id"]
                assert isinstance(block["name"], str) and block["name"]
            elif block["type"] == "redacted_thinking":
                assert isinstance(block["data"], str) and block["data"]
            tool_blocks_started += block["type"] == "tool_use"
            open_index, open_type = started_blocks, block["type"]
            open_signature, open_json = "", []
            started_blocks += 1
        elif event.name == "content_block_delta":
            assert data["index"] == open_index, f"delta for block {data['index']} while {open_index} is open"
            assert open_type is not None
            delta = data["delta"]
            assert delta["type"] in DELTAS_ALLOWED_IN_BLOCK[open_type], f"{delta['type']} inside a {open_type} block"
            if delta["type"] == "input_json_delta":
                open_json.append(delta["partial_json"])
            elif delta["type"] == "signature_delta":
                open_signature = delta["signature"]
        elif event.name == "content_block_stop":
            assert data["index"] == open_index, f"stop for block {data['index']} while {open_index} is open"
            if open_type == "thinking":
                assert open_signature, "a thinking block closed without a signature (the client must echo one)"
            if open_type == "tool_use":
                arguments = json.loads("".join(open_json) or "{}")
                assert isinstance(arguments, dict), f"tool input is not a JSON object: {arguments!r}"
            open_index = open_type = None
        elif event.name == "message_delta":
            assert open_index is None, "message_delta while a block is open"
            message_deltas += 1
            assert message_deltas == 1, "more than one message_delta"
            assert data["delta"]["stop_reason"] in STOP_REASONS
            if data["delta"]["stop_reason"] == "tool_use":
                assert tool_blocks_started, "stop_reason tool_use without any tool_use block (the client waits for none)"
            check_usage(data["usage"], required=("output_tokens",))
        elif event.name == "message_stop":
            assert message_deltas == 1, "message_stop without message_delta"
            terminal = "message_stop"
        elif event.name == "error":
            assert data["error"]["type"] in ERROR_TYPES, f"unknown error type {data['error']['type']}"
            assert isinstance(data["error"]["message"], str) and data["error"]["message"]
            terminal = "error"
    assert terminal is not None, f"stream ends without message_stop or error (last: {events[-1].name})"


_SDK_CLIENT: anthropic.Anthropic | None = None


def sdk_client() -> anthropic.Anthropic:
    global _SDK_CLIENT
    if _SDK_CLIENT is None:
        _SDK_CLIENT = anthropic.Anthropic(api_key="sk-ant-test-not-a-key", base_url="http://fcc.test")
    return _SDK_CLIENT


@dataclass
class SDKOutcome:
    """What the official SDK made of the bytes: the final message, or the error it raised."""

    message: Any | None
    error: anthropic.APIStatusError | None
    snapshot: Any | None  # the accumulated message so far when an error was raised


def parse_with_sdk(body: bytes) -> SDKOutcome:
    response = httpx.Response(
        200,
        headers={"content-type": "text/event-stream; charset=utf-8"},
        content=body,
        request=httpx.Request("POST", "http://fcc.test/v1/messages"),
    )
    raw_stream = anthropic.Stream(cast_to=RawMessageStreamEvent, response=response, client=sdk_client())
    stream = MessageStream(raw_stream, output_format=anthropic.NOT_GIVEN)
    try:
        return SDKOutcome(stream.get_final_message(), None, None)
    except anthropic.APIStatusError as error:
        try:
            snapshot = stream.current_message_snapshot
        except AssertionError:
            snapshot = None
        return SDKOutcome(None, error, snapshot)


@dataclass
class Replay:
    body: bytes
    events: list[RawEvent]
    outcome: SDKOutcome

    @property
    def message(self) -> Any:
        assert self.outcome.error is None, f"the SDK raised: {self.outcome.error!r}"
        assert self.outcome.message is not None
        return self.outcome.message

    @property
    def error(self) -> anthropic.APIStatusError:
        assert self.outcome.error is not None, f"expected an error; got {self.outcome.message!r}"
        return self.outcome.error

    def names(self) -> list[str]:
        return [event.name for event in self.events]

    def deltas(self, delta_type: str) -> list[str]:
        field = {"text_delta": "text", "thinking_delta": "thinking", "input_json_delta": "partial_json"}[delta_type]
        return [
            event.data["delta"][field]
            for event in self.events
            if event.name == "content_block_delta" and event.data["delta"]["type"] == delta_type
        ]

    def stop_reason(self) -> str:
        return self.message.stop_reason


def replay_pieces(pieces: Iterable[bytes], profile: Profile | None = None, input_tokens: int = 0) -> Replay:
    """Translate, check the raw bytes strictly, check the grammar, and parse with the SDK."""
    body = translate(pieces, profile, input_tokens)
    events = read_raw_events(body)
    check_grammar(events)
    outcome = parse_with_sdk(body)
    ended_in_error = events[-1].name == "error"
    assert (outcome.error is not None) == ended_in_error, "the SDK and the raw events disagree about an error"
    if ended_in_error:
        assert outcome.error is not None
        assert outcome.error.type == events[-1].data["error"]["type"]
    return Replay(body, events, outcome)


def replay(body: bytes, profile: Profile | None = None, input_tokens: int = 0) -> Replay:
    return replay_pieces([body], profile, input_tokens)


def block_summary(message: Any) -> list[tuple[Any, ...]]:
    """The final content as plain tuples, for exact comparisons."""
    summary: list[tuple[Any, ...]] = []
    for block in message.content:
        if block.type == "text":
            summary.append(("text", block.text))
        elif block.type == "thinking":
            summary.append(("thinking", block.thinking))
        elif block.type == "redacted_thinking":
            summary.append(("redacted_thinking",))
        elif block.type == "tool_use":
            summary.append(("tool_use", block.name, block.input))
        else:  # pragma: no cover - a new block type is itself a failure
            summary.append((block.type,))
    return summary


def usage_of(message: Any) -> tuple[int, int, int | None]:
    """(input_tokens, output_tokens, cache_read_input_tokens) as the SDK accumulated them."""
    usage = message.usage
    return usage.input_tokens, usage.output_tokens, usage.cache_read_input_tokens


# ---- building upstream streams


def chunk(delta: dict[str, Any] | None = None, finish_reason: str | None = None, **top_level: Any) -> dict[str, Any]:
    """One `chat.completion.chunk` with a single choice."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "upstream-model",
        "choices": [{"index": 0, "delta": delta if delta is not None else {}, "finish_reason": finish_reason}],
        **top_level,
    }


def usage_chunk(prompt: int, completion: int, **extra: Any) -> dict[str, Any]:
    """OpenAI's trailing `choices: []` usage chunk (stream_options.include_usage)."""
    usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion, **extra}
    return {"id": "chatcmpl-test", "object": "chat.completion.chunk", "choices": [], "usage": usage}


def sse(*frames: dict[str, Any] | str, done: bool = True, newline: str = "\n", space: bool = True) -> bytes:
    """An OpenAI-style SSE body: one `data:` event per frame, then `data: [DONE]`."""
    prefix = "data: " if space else "data:"
    parts = [prefix + (frame if isinstance(frame, str) else json.dumps(frame)) + newline * 2 for frame in frames]
    if done:
        parts.append(prefix + "[DONE]" + newline * 2)
    return "".join(parts).encode()


def tool_fragment(
    index: int | None = None,
    call_id: str | None = None,
    name: str | None = None,
    arguments: Any = None,
    **extra: Any,
) -> dict[str, Any]:
    fragment: dict[str, Any] = dict(extra)
    if index is not None:
        fragment["index"] = index
    if call_id is not None:
        fragment["id"] = call_id
        fragment["type"] = "function"
    function: dict[str, Any] = {}
    if name is not None:
        function["name"] = name
    if arguments is not None:
        function["arguments"] = arguments
    fragment["function"] = function
    return fragment


def tools_delta(*fragments: dict[str, Any]) -> dict[str, Any]:
    return {"tool_calls": list(fragments)}


def tool_blocks(message: Any) -> list[Any]:
    return [block for block in message.content if block.type == "tool_use"]


# --------------------------------------------------------------------------- rules: framing of the output


def rich_stream() -> bytes:
    """Reasoning, text, then two fragmented tool calls, usage on a trailing chunk."""
    return sse(
        chunk({"role": "assistant", "content": None, "reasoning_content": "Let me think"}),
        chunk({"reasoning_content": " about it."}),
        chunk({"content": "I'll add"}),
        chunk({"content": " and multiply."}),
        chunk(tools_delta(tool_fragment(0, "call_a", "add", ""))),
        chunk(tools_delta(tool_fragment(0, arguments='{"a": 2,'))),
        chunk(tools_delta(tool_fragment(0, arguments=' "b": 3}'))),
        chunk(tools_delta(tool_fragment(1, "call_m", "multiply", '{"a": 2'))),
        chunk(tools_delta(tool_fragment(1, arguments=', "b": 3}'))),
        chunk({}, "tool_calls"),
        usage_chunk(100, 40),
    )


def test_every_event_has_an_event_line_matching_its_data_type() -> None:
    body = translate([rich_stream()])
    lines = body.decode().split("\n")
    data_lines = [i for i, line in enumerate(lines) if line.startswith("data:")]
    assert len(data_lines) >= 12
    for i in data_lines:
        previous = lines[i - 1]
        assert previous.startswith("event: "), f"data line {lines[i][:60]!r} has no event line before it"
        assert json.loads(lines[i][len("data: ") :])["type"] == previous[len("event: ") :]
    assert sum(line.startswith("event: ") for line in lines) == len(data_lines)


def test_error_event_also_has_its_event_line() -> None:
    body = translate([sse(chunk({"content": "Hi"}), {"error": {"message": "boom", "type": "server_error"}}, done=False)])
    assert body.endswith(b"\n\n")
    last_event = body[:-2].split(b"\n\n")[-1].split(b"\n")
    assert last_event[0] == b"event: error"
    assert json.loads(last_event[1][len(b"data: ") :])["type"] == "error"


def test_blocks_are_numbered_in_start_order_with_one_open_at_a_time() -> None:
    result = replay(rich_stream())
    skeleton = [
        (event.name, event.index, event.data["delta"]["type"] if event.name == "content_block_delta" else None)
        for event in result.events
        if event.name.startswith("content_block")
    ]
    assert skeleton == [
        ("content_block_start", 0, None),
        ("content_block_delta", 0, "thinking_delta"),
        ("content_block_delta", 0, "thinking_delta"),
        ("content_block_delta", 0, "signature_delta"),
        ("content_block_stop", 0, None),
        ("content_block_start", 1, None),
        ("content_block_delta", 1, "text_delta"),
        ("content_block_delta", 1, "text_delta"),
        ("content_block_stop", 1, None),
        ("content_block_start", 2, None),
        ("content_block_delta", 2, "input_json_delta"),
        ("content_block_stop", 2, None),
        ("content_block_start", 3, None),
        ("content_block_delta", 3, "input_json_delta"),
        ("content_block_stop", 3, None),
    ]
    assert result.names()[0] == "message_start"
    assert result.names()[-2:] == ["message_delta", "message_stop"]
    assert block_summary(result.message) == [
        ("thinking", "Let me think about it."),
        ("text", "I'll add and multiply."),
        ("tool_use", "add", {"a": 2, "b": 3}),
        ("tool_use", "multiply", {"a": 2, "b": 3}),
    ]


def test_message_start_carries_client_model_and_required_usage() -> None:
    result = replay(sse(chunk({"content": "ok"}, "stop")), input_tokens=321)
    start = result.events[0].data["message"]
    assert start["model"] == CLIENT_MODEL
    assert start["id"] == FIXED_MESSAGE_ID
    assert start["usage"]["input_tokens"] == 321
    assert result.message.model == CLIENT_MODEL


# --------------------------------------------------------------------------- rules: text


def test_text_deltas_stream_through_in_order() -> None:
    result = replay(sse(chunk({"role": "assistant", "content": "Hel"}), chunk({"content": "lo"}), chunk({"content": " world"}, "stop")))
    assert result.deltas("text_delta") == ["Hel", "lo", " world"]
    assert block_summary(result.message) == [("text", "Hello world")]
    assert result.stop_reason() == "end_turn"


def test_text_is_streamed_before_the_upstream_finishes() -> None:
    reader = OpenAIChatReader(CLIENT_MODEL, None, message_id=FIXED_MESSAGE_ID)
    translator = AnthropicSSETranslator(reader)
    early = b"".join(translator.feed(sse(chunk({"content": "first words"}), done=False)))
    assert b'"text_delta","text":"first words"' in early


@pytest.mark.parametrize("empty_content", ["", None])
def test_empty_or_null_content_opens_no_block(empty_content: str | None) -> None:
    result = replay(
        sse(
            chunk({"role": "assistant", "content": empty_content}),
            chunk({"content": empty_content, "reasoning_content": "thinking only"}),
            chunk({"content": empty_content}, "stop"),
        )
    )
    assert block_summary(result.message) == [("thinking", "thinking only")]


# --------------------------------------------------------------------------- rules: tool calls


def test_tool_call_with_fragmented_arguments() -> None:
    result = replay(
        sse(
            chunk(tools_delta(tool_fragment(0, "call_1", "get_weather", ""))),
            chunk(tools_delta(tool_fragment(0, arguments='{"loc'))),
            chunk(tools_delta(tool_fragment(0, arguments='ation": "Tok'))),
            chunk(tools_delta(tool_fragment(0, arguments='yo"}'))),
            chunk({}, "tool_calls"),
        )
    )
    (tool,) = tool_blocks(result.message)
    assert (tool.id, tool.name, tool.input) == ("call_1", "get_weather", {"location": "Tokyo"})
    assert result.stop_reason() == "tool_use"


def test_tool_call_whole_in_one_chunk_with_finish_reason() -> None:
    result = replay(
        sse(chunk(tools_delta(tool_fragment(0, "call_w", "weather", '{"location": "San Francisco"}')), "tool_calls"))
    )
    (tool,) = tool_blocks(result.message)
    assert (tool.id, tool.name, tool.input) == ("call_w", "weather", {"location": "San Francisco"})
    assert result.stop_reason() == "tool_use"


def test_tool_calls_without_index_are_told_apart_by_id() -> None:
    result = replay(
        sse(
            chunk(tools_delta(tool_fragment(None, "call_one", "read", '{"path": "a.txt"}'))),
            chunk(tools_delta(tool_fragment(None, "call_two", "read", '{"path": "b.txt"}'))),
            chunk({}, "stop"),
        )
    )
    assert [(t.id, t.name, t.input) for t in tool_blocks(result.message)] == [
        ("call_one", "read", {"path": "a.txt"}),
        ("call_two", "read", {"path": "b.txt"}),
    ]


def test_two_index_less_calls_in_one_delta() -> None:
    result = replay(
        sse(
            chunk(
                tools_delta(
                    tool_fragment(None, "call_one", "read", '{"path": "a.txt"}'),
                    tool_fragment(None, "call_two", "write", '{"path": "b.txt"}'),
                )
            ),
            chunk({}, "tool_calls"),
        )
    )
    assert [(t.id, t.name) for t in tool_blocks(result.message)] == [("call_one", "read"), ("call_two", "write")]


def test_index_null_and_empty_id_gets_a_generated_id() -> None:
    """Older Gemini compat: `"index": null, "id": ""`, then an id-less, name-less continuation."""
    result = replay(
        sse(
            chunk({"tool_calls": [{"index": None, "id": "", "type": "function", "function": {"name": "bash", "arguments": '{"command":'}}]}),
            chunk({"tool_calls": [{"index": None, "id": "", "function": {"arguments": ' "echo hi"}'}}]}),
            chunk({}, "stop"),
        )
    )
    (tool,) = tool_blocks(result.message)
    assert tool.name == "bash" and tool.input == {"command": "echo hi"}
    assert tool.id.startswith("toolu_") and len(tool.id) > len("toolu_")


@pytest.mark.parametrize("with_index", [True, False], ids=["with-index", "without-index"])
def test_repeated_id_and_name_on_every_fragment_is_one_call(with_index: bool) -> None:
    index = 0 if with_index else None
    result = replay(
        sse(
            chunk(tools_delta(tool_fragment(index, "chatcmpl-tool-1", "edit", '{"file": "x.py",'))),
            chunk(tools_delta(tool_fragment(index, "chatcmpl-tool-1", "edit", ' "line": 3'))),
            chunk(tools_delta(tool_fragment(index, "chatcmpl-tool-1", "edit", "}"))),
            chunk({}, "tool_calls"),
        )
    )
    assert [(t.id, t.name, t.input) for t in tool_blocks(result.message)] == [
        ("chatcmpl-tool-1", "edit", {"file": "x.py", "line": 3})
    ]


def test_empty_name_continuation_keeps_the_name() -> None:
    result = replay(
        sse(
            chunk(tools_delta(tool_fragment(0, "chatcmpl-tool-9f", "webSearchTool", ""))),
            chunk({"tool_calls": [{"index": 0, "type": "function", "function": {"name": "", "arguments": '{"query": "Berlin"}'}}]}),
            chunk({}, "tool_calls"),
        )
    )
    (tool,) = tool_blocks(result.message)
    assert (tool.id, tool.name, tool.input) == ("chatcmpl-tool-9f", "webSearchTool", {"query": "Berlin"})


def test_parallel_calls_with_interleaved_fragments() -> None:
    result = replay(
        sse(
            chunk(tools_delta(tool_fragment(0, "call_a", "add", ""), tool_fragment(1, "call_m", "multiply", ""))),
            chunk(tools_delta(tool_fragment(0, arguments='{"a": 1,'))),
            chunk(tools_delta(tool_fragment(1, arguments='{"a": 5,'))),
            chunk(tools_delta(tool_fragment(0, arguments=' "b": 2}'))),
            chunk(tools_delta(tool_fragment(1, arguments=' "b": 6}'))),
            chunk({}, "tool_calls"),
        )
    )
    assert [(t.id, t.name, t.input) for t in tool_blocks(result.message)] == [
        ("call_a", "add", {"a": 1, "b": 2}),
        ("call_m", "multiply", {"a": 5, "b": 6}),
    ]


def test_index_reused_with_a_new_id_starts_a_new_call() -> None:
    result = replay(
        sse(
            chunk(tools_delta(tool_fragment(0, "call_first", "read", '{"path": '))),
            chunk(tools_delta(tool_fragment(0, arguments='"a"}'))),
            chunk(tools_delta(tool_fragment(0, "call_second", "read", '{"path": '))),
            chunk(tools_delta(tool_fragment(0, arguments='"b"}'))),
            chunk({}, "tool_calls"),
        )
    )
    assert [(t.id, t.input) for t in tool_blocks(result.message)] == [
        ("call_first", {"path": "a"}),
        ("call_second", {"path": "b"}),
    ]


def test_arguments_as_an_object_are_serialised() -> None:
    result = replay(sse(chunk(tools_delta(tool_fragment(0, "call_o", "run", {"cmd": "ls", "flags": ["-a"]})), "tool_calls")))
    (tool,) = tool_blocks(result.message)
    assert tool.input == {"cmd": "ls", "flags": ["-a"]}
    assert json.loads("".join(result.deltas("input_json_delta"))) == {"cmd": "ls", "flags": ["-a"]}


def test_aliased_tool_ids_are_mapped_back_to_the_client_ids() -> None:
    """Mistral sees 9-char aliases of Claude's ids; an alias coming back must become the client's id again."""
    reader = OpenAIChatReader(
        CLIENT_MODEL, None, message_id=FIXED_MESSAGE_ID, tool_id_decoder={"aB3dE5gH7": "toolu_01VpEm654HvfMoRcrE3Hgdc6"}
    )
    translator = AnthropicSSETranslator(reader)
    body = sse(
        chunk(tools_delta(tool_fragment(None, "aB3dE5gH7", "read", "{}"), tool_fragment(None, "gSIMJiOkT", "ls", "{}"))),
        chunk({}, "tool_calls"),
    )
    produced = b"".join(translator.feed(body) + translator.finish())
    check_grammar(read_raw_events(produced))
    message = parse_with_sdk(produced).message
    assert [t.id for t in tool_blocks(message)] == ["toolu_01VpEm654HvfMoRcrE3Hgdc6", "gSIMJiOkT"]


@pytest.mark.parametrize("empty_arguments", ["", "{}", None])
def test_tool_without_arguments_gets_an_empty_object(empty_arguments: str | None) -> None:
    result = replay(sse(chunk(tools_delta(tool_fragment(0, "call_e", "get_secret_word", empty_arguments)), "tool_calls")))
    (tool,) = tool_blocks(result.message)
    assert (tool.name, tool.input) == ("get_secret_word", {})


def test_text_before_a_tool_call_is_its_own_block_first() -> None:
    result = replay(
        sse(
            chunk({"content": "Checking."}),
            chunk(tools_delta(tool_fragment(0, "call_x", "ls", "{}"))),
            chunk({}, "tool_calls"),
        )
    )
    assert block_summary(result.message) == [("text", "Checking."), ("tool_use", "ls", {})]


def test_tool_input_is_delivered_as_one_complete_json_delta() -> None:
    """The Python SDK partial-parses every input_json_delta; fragments are buffered, never forwarded raw."""
    result = replay(
        sse(
            chunk(tools_delta(tool_fragment(0, "call_1", "w", '{"a'))),
            chunk(tools_delta(tool_fragment(0, arguments='": [1, 2'))),
            chunk(tools_delta(tool_fragment(0, arguments="]}"))),
            chunk({}, "tool_calls"),
        )
    )
    (partial_json,) = result.deltas("input_json_delta")
    assert json.loads(partial_json) == {"a": [1, 2]}


# --------------------------------------------------------------------------- rules: reasoning


def test_reasoning_content_becomes_a_thinking_block() -> None:
    result = replay(
        sse(
            chunk({"role": "assistant", "content": None, "reasoning_content": ""}),
            chunk({"content": None, "reasoning_content": "Step one."}),
            chunk({"content": None, "reasoning_content": " Step two."}),
            chunk({"content": "Answer", "reasoning_content": None}),
            chunk({"content": "", "reasoning_content": None}, "stop"),
        )
    )
    assert block_summary(result.message) == [("thinking", "Step one. Step two."), ("text", "Answer")]
    assert result.message.content[0].signature, "a thinking block needs a signature for the client to echo"


def test_reasoning_field_becomes_a_thinking_block() -> None:
    result = replay(sse(chunk({"reasoning": "vLLM style"}), chunk({"reasoning": " reasoning"}), chunk({"content": "Done"}, "stop")))
    assert block_summary(result.message) == [("thinking", "vLLM style reasoning"), ("text", "Done")]


def test_reasoning_details_become_thinking_whose_signature_carries_the_details() -> None:
    """OpenRouter: `reasoning_details` only (no `reasoning` string); the provider signature must survive."""
    detail = {"type": "reasoning.text", "format": "anthropic-claude-v1", "index": 0}
    result = replay(
        sse(
            chunk({"content": "", "reasoning_details": [{**detail, "text": "The user wants"}]}),
            chunk({"content": "", "reasoning_details": [{**detail, "text": " the weather."}]}),
            chunk({"content": "", "reasoning_details": [{**detail, "signature": "EqSIG=="}]}),
            chunk({"content": "It is sunny."}),
            chunk({"content": ""}, "stop"),
        )
    )
    assert block_summary(result.message) == [("thinking", "The user wants the weather."), ("text", "It is sunny.")]
    state = decode_state(result.message.content[0].signature)
    assert state is not None, "the thinking signature must encode the reasoning details"
    kind, details = state
    assert kind == "reasoning_details"
    assert details == [
        {
            "type": "reasoning.text",
            "format": "anthropic-claude-v1",
            "index": 0,
            "text": "The user wants the weather.",
            "signature": "EqSIG==",
        }
    ]


def test_reasoning_details_signature_survives_when_tool_calls_close_the_thinking() -> None:
    detail = {"type": "reasoning.text", "format": "anthropic-claude-v1", "index": 0}
    result = replay(
        sse(
            chunk({"reasoning": "Call it.", "reasoning_details": [{**detail, "text": "Call it."}]}),
            chunk({"reasoning_details": [{**detail, "signature": "SIG2"}]}),
            chunk(tools_delta(tool_fragment(0, "toolu_bdrk_1", "weather", '{"location": "Florence"}'))),
            chunk({}, "tool_calls"),
        )
    )
    assert block_summary(result.message) == [("thinking", "Call it."), ("tool_use", "weather", {"location": "Florence"})]
    state = decode_state(result.message.content[0].signature)
    assert state is not None and state[0] == "reasoning_details"
    assert [d.get("signature") for d in state[1]] == ["SIG2"]


def test_encrypted_only_reasoning_details_are_not_lost() -> None:
    """OpenRouter -> Gemini/OpenAI send `reasoning.encrypted` details with no text; they must go back next turn."""
    encrypted = {"type": "reasoning.encrypted", "data": "CiQBjz1rX...", "format": "google-gemini-v1", "id": "tool_0", "index": 0}
    result = replay(
        sse(
            chunk({"content": "", "reasoning_details": [encrypted]}),
            chunk(tools_delta(tool_fragment(0, "tool_0", "read", '{"path": "a"}'))),
            chunk({}, "tool_calls"),
        )
    )
    carried = []
    for block in result.message.content:
        value = getattr(block, "signature", None) or getattr(block, "data", None)
        state = decode_state(value)
        if state is not None:
            carried.append(state)
    assert any(kind == "reasoning_details" and encrypted in payload for kind, payload in carried), carried


def test_mistral_typed_content_parts() -> None:
    result = replay(
        sse(
            chunk({"role": "assistant", "content": [{"type": "thinking", "thinking": [{"type": "text", "text": "Hmm, "}]}]}),
            chunk({"content": [{"type": "thinking", "thinking": [{"type": "text", "text": "two plus two."}], "closed": True}]}),
            chunk({"content": [{"type": "text", "text": "Four."}]}),
            chunk({"content": " Really."}),
            chunk({"content": ""}, "stop"),
        )
    )
    assert block_summary(result.message) == [("thinking", "Hmm, two plus two."), ("text", "Four. Really.")]


def test_think_tags_split_across_chunks() -> None:
    result = replay(
        sse(
            chunk({"content": "<thi"}),
            chunk({"content": "nk>\nThe user wants PO"}),
            chunk({"content": "NG.\n</thi"}),
            chunk({"content": "nk>\n\nPONG"}),
            chunk({"content": ""}, "stop"),
        )
    )
    assert block_summary(result.message) == [("thinking", "\nThe user wants PONG.\n"), ("text", "PONG")]
    assert not any("<" in piece for piece in result.deltas("text_delta") + result.deltas("thinking_delta"))


def test_orphan_closing_think_tag_is_stripped() -> None:
    result = replay(sse(chunk({"content": "Reasoning without an opener"}), chunk({"content": "</think>The answer."}, "stop")))
    assert block_summary(result.message) == [("text", "Reasoning without an openerThe answer.")]


def test_think_tags_are_plain_text_when_the_profile_says_so() -> None:
    profile = Profile(id="plain", transport="openai_chat", base_url="http://localhost:1", api_key_env=None, local=True, think_tags=False)
    result = replay(sse(chunk({"content": "<think>x</think>y"}, "stop")), profile=profile)
    assert block_summary(result.message) == [("text", "<think>x</think>y")]


# --------------------------------------------------------------------------- rules: usage


def test_usage_on_the_finish_chunk() -> None:
    result = replay(sse(chunk({"content": "hi"}, "stop", usage={"prompt_tokens": 50, "completion_tokens": 7, "total_tokens": 57})))
    assert usage_of(result.message) == (50, 7, 0)


def test_usage_in_a_trailing_chunk_with_empty_choices() -> None:
    result = replay(sse(chunk({"content": "hi"}), chunk({}, "stop", usage=None), usage_chunk(210, 31)))
    assert usage_of(result.message) == (210, 31, 0)


def test_usage_seen_twice_takes_the_last_and_never_sums() -> None:
    result = replay(
        sse(
            chunk({"content": "hi"}, "stop", usage={"prompt_tokens": 90, "completion_tokens": 5, "total_tokens": 95}),
            usage_chunk(100, 6),
        )
    )
    assert usage_of(result.message) == (100, 6, 0)


def test_groq_x_groq_usage_is_read() -> None:
    x_groq = {"id": "req_01", "usage": {"prompt_tokens": 77, "completion_tokens": 9, "total_tokens": 86}}
    result = replay(sse(chunk({"content": "hi"}), chunk({}, "stop", x_groq=x_groq)))
    assert usage_of(result.message) == (77, 9, 0)


def test_groq_usage_in_x_groq_and_trailing_chunk_is_not_doubled() -> None:
    same_usage = {"prompt_tokens": 77, "completion_tokens": 9, "total_tokens": 86}
    result = replay(
        sse(
            chunk({"content": "hi"}),
            chunk({}, "stop", x_groq={"id": "req_01", "usage": same_usage}, usage=same_usage),
            {"id": "chatcmpl-test", "choices": [], "x_groq": {"id": "req_01", "usage": same_usage}, "usage": same_usage},
        )
    )
    assert usage_of(result.message) == (77, 9, 0)


def test_cached_tokens_are_subtracted_from_input() -> None:
    usage = {"prompt_tokens": 161, "completion_tokens": 25, "prompt_tokens_details": {"cached_tokens": 128}}
    result = replay(sse(chunk({"content": "hi"}, "stop", usage=usage)))
    assert usage_of(result.message) == (33, 25, 128)


def test_deepseek_cache_hit_tokens_are_subtracted_when_no_details() -> None:
    usage = {"prompt_tokens": 1000, "completion_tokens": 10, "prompt_cache_hit_tokens": 960, "prompt_cache_miss_tokens": 40}
    result = replay(sse(chunk({"content": "hi"}, "stop", usage=usage)))
    assert usage_of(result.message) == (40, 10, 960)


def test_without_usage_the_input_estimate_is_kept() -> None:
    result = replay(sse(chunk({"content": "a reply of some length"}, "stop")), input_tokens=4321)
    input_tokens, output_tokens, _ = usage_of(result.message)
    assert input_tokens == 4321
    assert output_tokens >= 1


# --------------------------------------------------------------------------- rules: stop reasons


@pytest.mark.parametrize(
    ("finish_reason", "stop_reason"),
    [("stop", "end_turn"), ("length", "max_tokens"), ("content_filter", "refusal")],
)
def test_finish_reason_maps_to_stop_reason(finish_reason: str, stop_reason: str) -> None:
    result = replay(sse(chunk({"content": "text"}), chunk({}, finish_reason)))
    assert result.stop_reason() == stop_reason


def test_tool_calls_finish_reason_maps_to_tool_use() -> None:
    result = replay(sse(chunk(tools_delta(tool_fragment(0, "c1", "ls", "{}"))), chunk({}, "tool_calls")))
    assert result.stop_reason() == "tool_use"


def test_tool_calls_with_finish_reason_stop_still_stop_for_tool_use() -> None:
    result = replay(sse(chunk(tools_delta(tool_fragment(None, "call_297140", "read", '{"path": "x"}'))), chunk({}, "stop")))
    assert result.stop_reason() == "tool_use"
    assert [t.name for t in tool_blocks(result.message)] == ["read"]


def test_length_with_a_truncated_tool_call_is_max_tokens() -> None:
    truncated = tool_fragment(0, "call_w", "Write", '{"path": "a.py", "content": "def f(')
    result = replay(sse(chunk(tools_delta(truncated)), chunk({}, "length")))
    assert result.stop_reason() == "max_tokens"


def test_tool_calls_finish_reason_without_any_call_is_end_turn() -> None:
    result = replay(sse(chunk({"content": "I will call a tool."}), chunk({}, "tool_calls")))
    assert result.stop_reason() == "end_turn"


def test_done_without_finish_reason_is_a_normal_end() -> None:
    result = replay(sse(chunk({"content": "short"})))
    assert result.stop_reason() == "end_turn"
    assert block_summary(result.message) == [("text", "short")]


@pytest.mark.parametrize("failed_finish_reason", ["abort", "ERROR", "TIMEOUT"])
def test_failure_finish_reasons_end_in_an_error(failed_finish_reason: str) -> None:
    result = replay(sse(chunk({"content": "partial ans"}), chunk({}, failed_finish_reason)))
    assert result.names()[-1] == "error"


# --------------------------------------------------------------------------- rules: input framing


def test_comment_lines_are_ignored() -> None:
    body = b": OPENROUTER PROCESSING\n\n: keep-alive\n\n" + sse(chunk({"content": "after comments"}), ": keep-alive", chunk({}, "stop"))
    body = body.replace(b"data: : keep-alive", b": keep-alive")
    result = replay(body)
    assert block_summary(result.message) == [("text", "after comments")]


def test_data_without_a_space() -> None:
    result = replay(sse(chunk({"content": "tight"}), chunk({}, "stop"), space=False))
    assert block_summary(result.message) == [("text", "tight")]
    assert result.stop_reason() == "end_turn"


@pytest.mark.parametrize("chunking", ["whole", "1-byte", "7-bytes"])
def test_crlf_line_endings(chunking: str) -> None:
    body = sse(chunk({"content": "windows"}), chunk({"content": " lines"}), chunk({}, "stop"), newline="\r\n")
    result = replay_pieces(CHUNKINGS[chunking](body))
    assert block_summary(result.message) == [("text", "windows lines")]


def test_missing_done_after_a_finish_reason_ends_normally() -> None:
    result = replay(sse(chunk({"content": "no sentinel"}), chunk({}, "stop", usage={"prompt_tokens": 3, "completion_tokens": 2}), done=False))
    assert result.stop_reason() == "end_turn"
    assert usage_of(result.message) == (3, 2, 0)


def test_missing_final_blank_line_is_tolerated() -> None:
    body = sse(chunk({"content": "tail"}), chunk({}, "stop"), done=False).rstrip(b"\n")
    result = replay(body)
    assert block_summary(result.message) == [("text", "tail")]
    assert result.stop_reason() == "end_turn"


# --------------------------------------------------------------------------- rules: failures inside the stream


def test_in_stream_error_frame_ends_in_an_error_event_without_message_stop() -> None:
    result = replay(
        sse(
            chunk({"content": "The question"}),
            {"error": {"message": "The server had an error while processing your request.", "type": "server_error"}},
            done=False,
        )
    )
    assert result.names()[-1] == "error"
    assert "message_stop" not in result.names() and "message_delta" not in result.names()
    assert result.error.type == "api_error"
    assert "The server had an error" in result.events[-1].data["error"]["message"]
    assert result.outcome.snapshot is not None
    assert [block.text for block in result.outcome.snapshot.content] == ["The question"]


@pytest.mark.parametrize(
    ("error", "expected_type"),
    [
        ({"code": 429, "message": "Rate limit exceeded", "metadata": {"error_type": "rate_limit_exceeded"}}, "rate_limit_error"),
        ({"code": 502, "message": "Provider unavailable"}, "overloaded_error"),
        ({"type": "overloaded_error", "message": "Overloaded"}, "overloaded_error"),
        ({"code": 500, "message": "Internal"}, "api_error"),
    ],
)
def test_in_stream_error_type_follows_the_upstream_code(error: dict[str, Any], expected_type: str) -> None:
    result = replay(sse(chunk({"content": "x"}), {"error": error, "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]}, done=False))
    assert result.error.type == expected_type


def test_in_stream_error_with_string_rate_limit_code_is_a_rate_limit() -> None:
    error = {"message": "Rate limit reached ... Please try again in 2s.", "type": "tokens", "code": "rate_limit_exceeded"}
    result = replay(sse(chunk({"content": "x"}), {"error": error}, done=False))
    assert result.error.type == "rate_limit_error"


def test_in_stream_context_overflow_says_prompt_is_too_long() -> None:
    error = {"message": "This model's maximum context length is 128000 tokens.", "type": "invalid_request_error", "code": "context_length_exceeded"}
    result = replay(sse({"error": error}, done=False))
    assert result.error.type == "invalid_request_error"
    assert "prompt is too long" in result.events[-1].data["error"]["message"]


def failing_finish_chunk() -> dict[str, Any]:
    """OpenRouter's failure chunk; `native_finish_reason` sits on the choice, as in both real captures."""
    failing = chunk({"content": "", "role": "assistant"}, "error")
    failing["choices"][0]["native_finish_reason"] = "MALFORMED_FUNCTION_CALL"
    return failing


@pytest.mark.parametrize("with_error_object", [True, False])
def test_finish_reason_error_ends_in_an_error_event(with_error_object: bool) -> None:
    failing = failing_finish_chunk()
    if with_error_object:
        failing["error"] = {"code": 502, "message": "Upstream died", "metadata": {"error_type": "provider_unavailable"}}
    result = replay(sse(chunk({"content": "partial"}), failing, done=False))
    assert result.names()[-1] == "error" and "message_stop" not in result.names()
    assert result.outcome.snapshot is not None
    assert [block.text for block in result.outcome.snapshot.content] == ["partial"]


def test_finish_reason_error_names_the_native_reason() -> None:
    result = replay(sse(chunk({"content": "partial"}), failing_finish_chunk(), done=False))
    assert "MALFORMED_FUNCTION_CALL" in result.events[-1].data["error"]["message"]


def test_stream_cut_without_finish_reason_or_done_ends_in_an_error() -> None:
    result = replay(sse(chunk({"content": "I was say"}), done=False))
    assert result.names()[-1] == "error"
    assert "message_stop" not in result.names()
    assert result.error.type == "api_error"


def test_stream_cut_mid_tool_call_emits_no_tool() -> None:
    result = replay(sse(chunk(tools_delta(tool_fragment(0, "c1", "write", '{"path": "a", "content": "hal'))), done=False))
    assert result.names()[-1] == "error"
    assert "content_block_start" not in result.names(), "a half tool call must never reach the client"


def test_nothing_after_the_error() -> None:
    reader = OpenAIChatReader(CLIENT_MODEL, None, message_id=FIXED_MESSAGE_ID)
    translator = AnthropicSSETranslator(reader)
    produced = translator.feed(sse({"error": {"message": "boom"}}, done=False))
    assert translator.feed(sse(chunk({"content": "late"}), chunk({}, "stop"))) == []
    assert translator.finish() == []
    assert read_raw_events(b"".join(produced))[-1].name == "error"


# --------------------------------------------------------------------------- rules: Gemini thought signatures


def test_gemini_thought_signature_becomes_redacted_thinking_keyed_by_tool_id() -> None:
    gemini_call = {
        "extra_content": {"google": {"thought_signature": "El4KXAER-signature"}},
        "function": {"arguments": '{"offset":1,"limit":100,"path":"/app/SKILL.md"}', "name": "read"},
        "id": "call_297140",
        "type": "function",
    }
    result = replay(
        sse(
            {"choices": [{"delta": {"role": "assistant", "tool_calls": [gemini_call]}, "index": 0}], "model": "gemini", "object": "chat.completion.chunk"},
            {"choices": [{"delta": {"role": "assistant"}, "finish_reason": "stop", "index": 0}], "usage": {"prompt_tokens": 281, "completion_tokens": 20}},
        )
    )
    assert [block.type for block in result.message.content] == ["redacted_thinking", "tool_use"]
    assert decode_state(result.message.content[0].data) == ("thought_signatures", {"call_297140": "El4KXAER-signature"})
    tool = result.message.content[1]
    assert (tool.id, tool.name, tool.input) == ("call_297140", "read", {"offset": 1, "limit": 100, "path": "/app/SKILL.md"})
    assert result.stop_reason() == "tool_use"


def test_gemini_signature_of_an_id_less_call_is_keyed_by_the_generated_id() -> None:
    call = {"extra_content": {"google": {"thought_signature": "SIG"}}, "function": {"arguments": "{}", "name": "ls"}}
    result = replay(sse(chunk({"tool_calls": [call]}), chunk({}, "stop")))
    redacted, tool = result.message.content
    assert decode_state(redacted.data) == ("thought_signatures", {tool.id: "SIG"})


# --------------------------------------------------------------------------- rules: tool argument repair


@pytest.mark.parametrize(
    ("fragments", "expected_input"),
    [
        (['{"path": "a.py",', ' "line": 3,}'], {"path": "a.py", "line": 3}),  # trailing comma
        (['{"command": "ls -', 'la"'], {"command": "ls -la"}),  # truncated object
        (['{"a": 1}', '{"a": 1}'], {"a": 1}),  # the whole object sent twice
    ],
    ids=["trailing-comma", "truncated", "duplicated"],
)
def test_cheaply_repairable_arguments_are_repaired(fragments: list[str], expected_input: dict[str, Any]) -> None:
    pieces = [chunk(tools_delta(tool_fragment(0, "call_r", "tool", fragments[0])))]
    pieces += [chunk(tools_delta(tool_fragment(0, arguments=fragment))) for fragment in fragments[1:]]
    result = replay(sse(*pieces, chunk({}, "tool_calls")))
    (partial_json,) = result.deltas("input_json_delta")
    assert json.loads(partial_json) == expected_input
    assert tool_blocks(result.message)[0].input == expected_input


@pytest.mark.parametrize("raw_arguments", ["not json at all", "[1, 2, 3]", '"a string"', "{{{:"])
def test_unrepairable_arguments_are_kept_raw_as_valid_json(raw_arguments: str) -> None:
    result = replay(sse(chunk(tools_delta(tool_fragment(0, "call_bad", "tool", raw_arguments)), "tool_calls")))
    (partial_json,) = result.deltas("input_json_delta")
    delivered = json.loads(partial_json)
    assert isinstance(delivered, dict) and set(delivered) == {"_raw_arguments"}
    assert raw_arguments.strip("[]\"") in delivered["_raw_arguments"]
    assert tool_blocks(result.message)[0].input == delivered
