"""SSE framing: the incremental decoder (upstream side) and the encoder (client side)."""

from __future__ import annotations

import json

import pytest
from anthropic._streaming import SSEDecoder as SDKSSEDecoder

from fcc.core import sse
from fcc.core.sse import SSEDecoder, SSEEvent, encode_data, encode_event


def decode(*pieces: bytes, finish: bool = True) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    for piece in pieces:
        events.extend(decoder.feed(piece))
    if finish:
        events.extend(decoder.finish())
    return events


def data_of(events: list[SSEEvent]) -> list[str]:
    return [event.data for event in events]


# --------------------------------------------------------------------------- decoder


def test_one_event() -> None:
    assert decode(b"data: {}\n\n") == [SSEEvent(None, "{}")]


def test_an_event_is_yielded_as_soon_as_its_blank_line_arrives() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n") == []
    assert decoder.feed(b"\n") == [SSEEvent(None, "a")]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"], ids=["lf", "crlf"])
def test_line_endings(newline: bytes) -> None:
    body = b"data: one" + newline + newline + b"data: two" + newline + newline
    assert data_of(decode(body)) == ["one", "two"]


def test_crlf_split_between_cr_and_lf() -> None:
    assert data_of(decode(b"data: x\r", b"\n\r", b"\n")) == ["x"]


@pytest.mark.parametrize(
    ("line", "value"),
    [(b"data:tight", "tight"), (b"data: one space", "one space"), (b"data:  two spaces", " two spaces"), (b"data:", "")],
)
def test_only_one_leading_space_is_removed(line: bytes, value: str) -> None:
    assert data_of(decode(line + b"\n\n")) == [value]


@pytest.mark.parametrize("comment", [b": keep-alive", b": OPENROUTER PROCESSING", b":", b":no-space"])
def test_comment_lines_are_skipped(comment: bytes) -> None:
    assert data_of(decode(comment + b"\n\n" + b"data: after\n" + comment + b"\n\n")) == ["after"]


def test_multi_line_data_is_joined_with_newlines() -> None:
    assert data_of(decode(b"data: {\ndata: \"a\": 1\ndata: }\n\n")) == ['{\n"a": 1\n}']
    assert json.loads(decode(b"data: {\ndata: \"a\": 1\ndata: }\n\n")[0].data) == {"a": 1}


def test_event_name_is_kept() -> None:
    assert decode(b"event: error\ndata: {\"x\":1}\n\n") == [SSEEvent("error", '{"x":1}')]


def test_id_and_retry_fields_are_ignored() -> None:
    assert decode(b"id: 42\nretry: 1000\ndata: payload\n\n") == [SSEEvent(None, "payload")]


def test_unknown_fields_and_lines_without_colon_do_not_become_data() -> None:
    assert data_of(decode(b"foo: bar\nnonsense\ndata: real\n\n")) == ["real"]


def test_event_name_does_not_leak_into_the_next_event() -> None:
    events = decode(b"event: first\ndata: 1\n\ndata: 2\n\n")
    assert [(event.event, event.data) for event in events] == [("first", "1"), (None, "2")]


def test_finish_flushes_an_event_without_a_final_blank_line() -> None:
    assert data_of(decode(b"data: last\n")) == ["last"]
    assert data_of(decode(b"data: no newline at all")) == ["no newline at all"]


def test_finish_on_an_empty_decoder_yields_nothing() -> None:
    assert decode() == []
    assert decode(b"") == []
    assert decode(b"\n\n\n") == []


def test_every_split_of_a_body_gives_the_same_events() -> None:
    body = "data: {\"a\":\"é\"}\r\n\r\n: ping\n\nevent: x\ndata: 1\ndata: 2\n\ndata:[DONE]\n\n".encode()
    expected = decode(body)
    assert [(e.event, e.data) for e in expected] == [(None, '{"a":"é"}'), ("x", "1\n2"), (None, "[DONE]")]
    for cut in range(1, len(body)):
        assert decode(body[:cut], body[cut:]) == expected, cut
    assert decode(*[body[i : i + 1] for i in range(len(body))]) == expected


def test_multibyte_character_split_across_reads() -> None:
    encoded = "data: 好的 😊\n\n".encode()
    assert data_of(decode(encoded[:8], encoded[8:10], encoded[10:])) == ["好的 😊"]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    (event,) = decode(b"data: \xff\xfe bad\n\n")
    assert "\ufffd" in event.data and "bad" in event.data


def test_an_oversized_line_is_dropped_and_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sse, "MAX_LINE_BYTES", 1024)
    decoder = SSEDecoder()
    events = decoder.feed(b"data: " + b"x" * 2000)
    events += decoder.feed(b"tail of the monster\n\ndata: next\n\n")
    events += decoder.finish()
    assert decoder.oversized_lines == 1
    assert data_of(events) == ["next"]


def test_a_long_line_under_the_limit_is_kept() -> None:
    payload = "y" * 300_000
    encoded = f"data: {payload}\n\n".encode()
    events = decode(*[encoded[i : i + 4096] for i in range(0, len(encoded), 4096)])
    assert data_of(events) == [payload]


# --------------------------------------------------------------------------- encoder


def test_encode_event_has_the_event_line_and_compact_json() -> None:
    assert encode_event("ping", {"type": "ping"}) == b'event: ping\ndata: {"type":"ping"}\n\n'


def test_encode_event_keeps_unicode_as_utf8() -> None:
    encoded = encode_event("content_block_delta", {"type": "content_block_delta", "text": "é😊"})
    assert "é😊".encode() in encoded


@pytest.mark.parametrize("awkward", ["a\nb", "a\r\nb", "a\rb", "line\u2028sep\u2029para\x85nel", "\x00\x1f", "\n\n"])
def test_encoded_values_never_break_the_frame(awkward: str) -> None:
    """Newlines in values are JSON-escaped; both our decoder and the SDK's read one event back."""
    encoded = encode_event("content_block_delta", {"type": "content_block_delta", "text": awkward})
    assert encoded.count(b"\n") == 3
    (ours,) = decode(encoded)
    assert ours.event == "content_block_delta" and json.loads(ours.data)["text"] == awkward
    (theirs,) = list(SDKSSEDecoder().iter_bytes(iter([encoded])))
    assert theirs.event == "content_block_delta" and theirs.json()["text"] == awkward


def test_encode_data_for_openai_style_streams() -> None:
    assert encode_data({"a": 1}) == b'data: {"a":1}\n\n'
    assert encode_data("[DONE]") == b"data: [DONE]\n\n"


def test_round_trip_through_our_decoder() -> None:
    events = [("message_start", {"type": "message_start", "n": 1}), ("message_stop", {"type": "message_stop"})]
    encoded = b"".join(encode_event(name, data) for name, data in events)
    assert [(e.event, json.loads(e.data)) for e in decode(encoded)] == events
