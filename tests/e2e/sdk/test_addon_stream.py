"""Issue 3's proof, happy paths: the official `anthropic` SDK against a real
mitmdump + fcc, with scripted OpenAI-style upstreams.

Each test asserts the whole message the SDK accumulates, reads the raw SSE
bytes strictly, and checks what the upstream received (the translated request,
the credentials it carried).
"""

from __future__ import annotations

import json

import httpx
import pytest

from tests.e2e.sdk.support import (
    BILLING_TEXT,
    CLIENT_BEARER,
    CLIENT_KEY,
    HAIKU,
    OPUS,
    PROMPT,
    PROVIDER_SECRET,
    SONNET,
    SYSTEM_TEXT,
    UNROUTED,
    Fcc,
    assert_clean_stream,
    assert_credentials_not_forwarded,
    assert_still_serves,
    assert_text_message,
    text_of,
)
from tests.support.upstream_responses import anthropic_text_stream, openai_reasoning_stream, openai_text_stream

pytestmark = pytest.mark.e2e

ANSWER = "Hello there, friend."
# What vllm must receive for base_request(): billing block gone, model renamed, usage asked for.
TRANSLATED = {
    "model": "test-model",
    "messages": [{"role": "system", "content": SYSTEM_TEXT}, {"role": "user", "content": PROMPT}],
    "max_tokens": 256,
    "stream": True,
    "stream_options": {"include_usage": True},
}


def test_streaming_text_is_one_clean_message_and_the_upstream_gets_the_translated_request(fcc: Fcc) -> None:
    upstream = fcc.upstreams["vllm"]
    mark = len(upstream.requests)
    upstream.script(openai_text_stream(ANSWER))

    result = fcc.client().stream(model=SONNET)

    names = assert_clean_stream(result)
    assert_text_message(result.ok(), ANSWER, SONNET)
    assert names == ["message_start", "content_block_start", *["content_block_delta"] * 3, "content_block_stop",
                     "message_delta", "message_stop"]
    assert result.wire.events()[0].data["message"]["model"] == SONNET
    [request] = upstream.since(mark)
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.json_body == TRANSLATED
    assert BILLING_TEXT.encode() not in request.body
    assert request.header("accept-encoding") == "identity"
    assert_credentials_not_forwarded(request, provider_key=None)


def test_non_streaming_text_is_one_json_message(fcc: Fcc) -> None:
    upstream = fcc.upstreams["vllm"]
    mark = len(upstream.requests)
    upstream.script(openai_text_stream(ANSWER))
    client = fcc.client()

    message = client.create(model=SONNET)

    assert_text_message(message, ANSWER, SONNET)
    assert client.last.status == 200
    assert client.last.headers["content-type"] == "application/json"
    assert json.loads(client.last.body)["content"] == [{"type": "text", "text": ANSWER}]
    [request] = upstream.since(mark)
    assert request.json_body == TRANSLATED  # upstreams are always streamed


def test_reasoning_stream_becomes_a_thinking_block_before_the_text(fcc: Fcc) -> None:
    fcc.upstreams["vllm"].script(openai_reasoning_stream("The user greets me. I greet back.", "Hi!"))

    result = fcc.client().stream(model=SONNET)

    assert_clean_stream(result)
    message = result.ok()
    assert [block.type for block in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == "The user greets me. I greet back."
    assert isinstance(message.content[0].signature, str) and message.content[0].signature
    assert message.content[1].text == "Hi!"
    assert message.stop_reason == "end_turn"


def test_first_event_arrives_with_the_first_upstream_chunk_not_at_the_end(fcc: Fcc) -> None:
    upstream = fcc.upstreams["vllm"]
    mark = len(upstream.exchanges)
    words = ["alpha", " beta", " gamma", " delta", " epsilon"]
    upstream.script(openai_text_stream(words, delay=0.25))  # 9 chunks, 2 s in all

    result = fcc.client().stream(model=SONNET)

    assert_clean_stream(result)
    assert text_of(result.ok()) == "".join(words)
    [exchange] = upstream.exchanges[mark:]
    assert exchange.finished_at is not None
    first_event_at = result.wire.chunks[0][0]
    last_byte_at = result.wire.chunks[-1][0]
    assert last_byte_at - first_event_at > 1.5, "the answer arrived in one lump"
    # Each word reaches the client soon after the upstream sent it (chunk 0 is the role chunk).
    delta_times = [at for at, event in result.event_times if event.type == "content_block_delta"]
    assert len(delta_times) == len(words)
    # (0.5 s = two chunk intervals of slack for a loaded machine; buffering would cost 1.5 s and more.)
    for word_index, arrived in enumerate(delta_times):
        sent = exchange.chunk_sent_at[word_index + 1]
        assert arrived - sent < 0.5, f"word {word_index} arrived {arrived - sent:.3f}s after the upstream sent it"
    assert first_event_at < exchange.chunk_sent_at[1] + 0.5
    assert first_event_at < exchange.chunk_sent_at[-1] - 1.0, "the first event waited for the end of the upstream answer"


def test_provider_key_is_swapped_in_and_client_credentials_stay_home(fcc: Fcc) -> None:
    upstream = fcc.upstreams["keyed"]
    mark = len(upstream.requests)
    upstream.script(openai_text_stream(ANSWER), openai_text_stream(ANSWER))
    # Both client credential styles at once: x-api-key (api_key) and Authorization (auth_token).
    client = fcc.client(api_key=CLIENT_KEY, auth_token=CLIENT_BEARER)

    result = client.stream(model="keyed/keyed-model")
    message = client.create(model="keyed/keyed-model")

    assert_clean_stream(result)
    assert_text_message(result.ok(), ANSWER, "keyed/keyed-model")
    assert_text_message(message, ANSWER, "keyed/keyed-model")
    requests = upstream.since(mark)
    assert len(requests) == 2
    for request in requests:
        assert request.path == "/keyed/v1/chat/completions"
        assert request.json_body["model"] == "keyed-model"
        assert_credentials_not_forwarded(request, provider_key=PROVIDER_SECRET)
    fcc.log_line("keyed/keyed-model")
    assert PROVIDER_SECRET not in fcc.proc.output()


def test_unrouted_model_passes_through_to_the_reverse_target_untouched(fcc: Fcc) -> None:
    upstream = fcc.passthrough
    mark = len(upstream.requests)
    upstream.script(anthropic_text_stream("Straight from the reverse target.", model=UNROUTED, message_id="msg_passthrough"))
    client = fcc.client()

    result = client.stream(model=UNROUTED)

    assert_clean_stream(result)
    message = result.ok()
    assert message.id == "msg_passthrough" and message.model == UNROUTED
    assert text_of(message) == "Straight from the reverse target."
    [request] = upstream.since(mark)
    assert (request.method, request.path) == ("POST", "/v1/messages")
    assert request.body == client.last.request.content  # byte for byte, billing block included
    assert request.header("x-api-key") == CLIENT_KEY  # the reverse target is "Anthropic": its credentials go along
    for provider in fcc.upstreams.values():
        assert all(r.json_body is None or r.json_body.get("model") != UNROUTED for r in provider.requests)


def test_unrouted_raw_body_bytes_reach_the_reverse_target_unchanged(fcc: Fcc) -> None:
    """Odd but valid JSON formatting survives: fcc does not re-serialise a pass-through body."""
    upstream = fcc.passthrough
    mark = len(upstream.requests)
    upstream.script(anthropic_text_stream("ok", model=UNROUTED))
    body = (
        b'{ "model" : "claude-e2e-unrouted",\n  "max_tokens": 5, "stream": true,'
        b' "messages": [ {"role": "user", "content": "caf\\u00e9 \xc3\xa9"} ], "x-unknown": {"kept": [1, 2.50]} }'
    )
    with httpx.Client(trust_env=False, timeout=10) as http:
        response = http.post(fcc.proc.base_url + "/v1/messages?beta=true", content=body,
                             headers={"content-type": "application/json", "x-api-key": CLIENT_KEY})
    assert response.status_code == 200
    [request] = upstream.since(mark)
    assert request.path == "/v1/messages?beta=true"
    assert request.body == body


def test_count_tokens_is_answered_locally(fcc: Fcc) -> None:
    counts_before = {pid: len(u.requests) for pid, u in fcc.upstreams.items()}
    client = fcc.client()

    small = client.sdk.messages.count_tokens(model=SONNET, messages=[{"role": "user", "content": "hi"}])
    large = client.sdk.messages.count_tokens(
        model=SONNET, system=SYSTEM_TEXT, messages=[{"role": "user", "content": "hello world " * 400}]
    )

    assert client.last.status == 200
    assert set(json.loads(client.last.body)) == {"input_tokens"}
    assert isinstance(small.input_tokens, int) and small.input_tokens > 0
    assert large.input_tokens > small.input_tokens
    assert {pid: len(u.requests) for pid, u in fcc.upstreams.items()} == counts_before


def test_models_list_is_an_anthropic_page_of_the_routes(fcc: Fcc) -> None:
    client = fcc.client()

    page = client.sdk.models.list()

    ids = [model.id for model in page.data]
    # Ids Claude Code's gateway discovery keeps (it drops any without "claude" or "anthropic").
    assert ids[:3] == ["claude-opus", "claude-sonnet", "claude-haiku"]
    assert set(ids[3:]) >= {"anthropic/fbprimary/primary-model", "anthropic/fbsecondary/backup-model",
                            "anthropic/native/native-model", "anthropic/vllm/test-model"}
    body = json.loads(client.last.body)
    assert set(body) == {"data", "has_more", "first_id", "last_id"}
    assert body["has_more"] is False
    assert (body["first_id"], body["last_id"]) == (ids[0], ids[-1])
    for entry in body["data"]:
        assert entry["type"] == "model"
        assert {"type", "id", "display_name", "created_at"} <= set(entry) <= {
            "type", "id", "display_name", "created_at", "description", "max_input_tokens", "max_tokens"}


def test_tiers_route_by_model_name(fcc: Fcc) -> None:
    """opus -> the native upstream, haiku -> its own primary; each answers with the client's model name."""
    fcc.upstreams["native"].script(anthropic_text_stream("Native says hi.", model="native-model"))
    fcc.upstreams["fbprimary"].script(openai_text_stream("Primary says hi."))
    client = fcc.client()

    opus = client.stream(model=OPUS + "[1m]")
    haiku = client.stream(model=HAIKU)

    assert text_of(opus.ok()) == "Native says hi." and opus.ok().model == OPUS + "[1m]"
    assert text_of(haiku.ok()) == "Primary says hi." and haiku.ok().model == HAIKU
    assert fcc.upstreams["native"].requests[-1].json_body["model"] == "native-model"
    assert fcc.upstreams["fbprimary"].requests[-1].json_body["model"] == "primary-model"
    assert_still_serves(fcc, client)
