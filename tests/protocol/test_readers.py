"""The stream readers behind one interface, chosen by transport (fcc.core.dialects.readers)."""

from __future__ import annotations

import dataclasses

import pytest

from fcc.core.catalog import CATALOG
from fcc.core.dialects.base import StreamSetup
from fcc.core.dialects.readers import READERS, reader_for
from fcc.core.profiles import TRANSPORTS
from tests.support.upstream_responses import anthropic_text_stream, openai_text_stream, sse_data

RESPONSES_STREAM = b"".join([
    sse_data({"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}}),
    sse_data({"type": "response.output_text.delta", "item_id": "msg_1", "delta": "Hello"}),
    sse_data({"type": "response.output_item.done", "item": {"type": "message", "id": "msg_1", "content": []}}),
    sse_data({"type": "response.completed", "response": {"usage": {"input_tokens": 12, "output_tokens": 3}}}),
])
ANSWERS = {
    "openai_chat": b"".join(openai_text_stream("Hello").chunks),
    "anthropic_messages": b"".join(anthropic_text_stream("Hello", input_tokens=12).chunks),
    "openai_responses": RESPONSES_STREAM,
}


def profile_for(transport: str):
    profile = next(p for p in CATALOG.values() if p.transport == "openai_chat")
    return dataclasses.replace(profile, transport=transport, text_tool_calls=())


def setup(transport: str, message_started: bool) -> StreamSetup:
    return StreamSetup("claude-sonnet-4-5", "msg_fcc", 7, profile_for(transport), "upstream-model", {},
                       message_started=message_started)


def test_every_transport_has_a_reader() -> None:
    assert set(READERS) == set(TRANSPORTS) == set(ANSWERS)


def test_an_unknown_transport_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no stream reader for transport 'carrier-pigeon'"):
        reader_for(dataclasses.replace(setup("openai_chat", True), profile=profile_for("carrier-pigeon")))


@pytest.mark.parametrize("transport", sorted(ANSWERS))
@pytest.mark.parametrize("message_started", [True, False])
def test_each_reader_answers_the_same_questions(transport: str, message_started: bool) -> None:
    reader = reader_for(setup(transport, message_started))
    assert not reader.has_content and not reader.ended and reader.error is None and reader.usage == {}
    data = ANSWERS[transport]
    events = reader.feed(data[:11]) + reader.feed(data[11:]) + reader.finish()
    kinds = [e["type"] for e in events]
    # The engine sends message_start itself (early, as a keepalive): the reader must not send a second.
    assert (kinds[0] == "message_start") is (not message_started)
    assert kinds[-2:] == ["message_delta", "message_stop"] and "content_block_delta" in kinds
    assert reader.has_content and reader.ended and reader.error is None
    assert reader.usage == events[-2]["usage"] and reader.usage["output_tokens"] > 0
    assert not reader.needs_clock and not reader.holding and reader.flush_pending(1e9) == []


@pytest.mark.parametrize("transport", sorted(ANSWERS))
def test_a_failed_answer_reports_its_error_and_no_content(transport: str) -> None:
    reader = reader_for(setup(transport, True))
    events = reader.fail("overloaded_error", "upstream went silent")
    assert events[-1] == {"type": "error", "error": {"type": "overloaded_error", "message": "upstream went silent"}}
    assert reader.error == ("overloaded_error", "upstream went silent") and not reader.has_content and reader.ended


def test_text_tool_calls_make_the_chat_reader_need_the_clock() -> None:
    profile = dataclasses.replace(profile_for("openai_chat"), text_tool_calls=("hermes",))
    request = {"tools": [{"name": "Bash", "input_schema": {"type": "object"}}]}
    reader = reader_for(dataclasses.replace(setup("openai_chat", True), profile=profile, request=request))
    assert reader.needs_clock
