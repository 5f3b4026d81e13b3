"""Issue 3's proof, failure paths: what the official SDK sees when the upstream
(or the client) misbehaves, through a real mitmdump + fcc.

Rules (addon/fcc/engine/exchange.py, ../shared/research/claude-code-client.md section 5):
before the first content block a failed attempt is retried or moved to a
fallback invisibly; after it, a failure is one final `event: error`. Final
errors are Anthropic JSON: upstream 429 -> 429 rate_limit_error + retry-after;
transient or unreachable -> 529 overloaded_error naming provider/model/cause;
upstream 401/403 -> 403 permission_error (never 401, which the client retries
for three minutes); a bad client body -> 400 invalid_request_error. After
every failure the proxy serves the next request.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import anthropic
import httpx
import pytest

from fcc.engine.policy import MAX_SENDS
from tests.e2e.sdk.support import (
    HAIKU,
    PROVIDER_SECRET,
    SONNET,
    Fcc,
    assert_clean_stream,
    assert_error_body,
    assert_still_serves,
    assert_text_message,
    text_of,
)
from tests.support.upstream_responses import (
    CutMidStream,
    openai_error,
    openai_in_stream_error_stream,
    openai_text_stream,
    openai_tool_call_stream,
)

pytestmark = pytest.mark.e2e

ANSWER = "Recovered and answering."
HAPPY_NAMES = ["message_start", "content_block_start", *["content_block_delta"] * 3, "content_block_stop",
               "message_delta", "message_stop"]


# ------------------------------------------------------- retried invisibly ---


def test_429_once_is_retried_after_retry_after_and_the_client_sees_one_clean_stream(fcc: Fcc) -> None:
    upstream = fcc.upstreams["rl"]
    mark = len(upstream.requests)
    upstream.script(openai_error(429, "Rate limit reached", code="rate_limit_exceeded", retry_after=1),
                    openai_text_stream(ANSWER))
    client = fcc.client()

    result = client.stream(model="rl/once-model")

    assert assert_clean_stream(result) == HAPPY_NAMES
    assert_text_message(result.ok(), ANSWER, "rl/once-model")
    assert len(client.transport.wires) == 1
    first, second = upstream.since(mark)
    assert second.received_at - first.received_at >= 0.95, "retry-after: 1 was not honoured"
    assert second.json_body == first.json_body


@pytest.mark.parametrize(
    ("case", "first"),
    [
        ("cut before any content", CutMidStream(openai_text_stream("never seen"), after_chunks=1)),
        ("in-stream error before any content", openai_in_stream_error_stream("")),
    ],
)
def test_failure_before_content_is_retried_invisibly(fcc: Fcc, case: str, first: object) -> None:
    upstream = fcc.upstreams["vllm"]
    mark = len(upstream.requests)
    upstream.script(first, openai_text_stream(ANSWER))  # type: ignore[arg-type]
    client = fcc.client()

    result = client.stream(model=SONNET)

    assert assert_clean_stream(result) == HAPPY_NAMES, case
    assert_text_message(result.ok(), ANSWER, SONNET)
    assert len(upstream.since(mark)) == 2
    assert len(client.transport.wires) == 1


def test_rate_limited_primary_falls_back_and_the_answer_comes_from_the_fallback(fcc: Fcc) -> None:
    primary, fallback = fcc.upstreams["fbprimary"], fcc.upstreams["fbsecondary"]
    primary_mark, fallback_mark = len(primary.requests), len(fallback.requests)
    started = time.monotonic()

    result = fcc.client().stream(model=HAIKU)

    assert assert_clean_stream(result)[0] == "message_start"
    message = result.ok()
    assert message.model == HAIKU
    assert text_of(message) == "Answer from the fallback."
    assert message.stop_reason == "end_turn"
    assert result.names() == ["message_start", "content_block_start", *["content_block_delta"] * 4,
                              "content_block_stop", "message_delta", "message_stop"]
    primary_requests = primary.since(primary_mark)
    [fallback_request] = fallback.since(fallback_mark)
    assert 1 <= len(primary_requests) <= 2
    assert {r.json_body["model"] for r in primary_requests} == {"primary-model"}
    assert fallback_request.json_body["model"] == "backup-model"
    # Quirks per route: the client asked for 256; each target got its own route's cap.
    assert {r.json_body["max_tokens"] for r in primary_requests} == {200}
    assert fallback_request.json_body["max_tokens"] == 100
    assert time.monotonic() - started < 8.0
    assert_still_serves(fcc)


def test_a_route_cap_stays_with_its_route(fcc: Fcc) -> None:
    """The same provider/model asked for directly keeps its provider's profile: no cap of 100."""
    fallback = fcc.upstreams["fbsecondary"]
    mark = len(fallback.requests)

    result = fcc.client().stream(model="fbsecondary/backup-model")

    assert text_of(result.ok()) == "Answer from the fallback."
    [request] = fallback.since(mark)
    assert request.json_body["max_tokens"] == 256


# ------------------------------------------------------------- final errors ---


def test_429_always_ends_in_429_rate_limit_error_with_retry_after(fcc: Fcc) -> None:
    upstream = fcc.upstreams["rl"]
    mark = len(upstream.requests)
    client = fcc.client()

    error = client.create_error(model="rl/always-model")

    assert isinstance(error, anthropic.RateLimitError)
    assert error.status_code == 429 and error.type == "rate_limit_error"
    message = assert_error_body(client.last, 429, "rate_limit_error")
    assert "rl/always-model" in message and "Rate limit reached" in message
    assert client.last.headers["retry-after"] == "1"
    assert 2 <= len(upstream.since(mark)) <= MAX_SENDS
    assert_still_serves(fcc)


def test_500_always_ends_in_529_overloaded_naming_the_provider(fcc: Fcc) -> None:
    """fcc already retried: 529 lets the client stop after 3 tries instead of retrying a 500 for 3 minutes."""
    upstream = fcc.upstreams["flaky"]
    mark = len(upstream.requests)
    client = fcc.client()

    error = client.create_error(model="flaky/f-model")

    assert isinstance(error, anthropic.OverloadedError) and error.status_code == 529
    message = assert_error_body(client.last, 529, "overloaded_error")
    assert "flaky/f-model" in message and "HTTP 500" in message
    assert 2 <= len(upstream.since(mark)) <= MAX_SENDS
    assert_still_serves(fcc)


def test_refused_connection_ends_in_529_naming_the_provider_and_not_reachable(fcc: Fcc) -> None:
    client = fcc.client()
    started = time.monotonic()

    error = client.create_error(model="dead/d-model")

    assert isinstance(error, anthropic.OverloadedError) and error.status_code == 529
    message = assert_error_body(client.last, 529, "overloaded_error")
    assert "dead/d-model" in message and "not reachable" in message
    assert time.monotonic() - started < 15.0
    assert_still_serves(fcc)


def test_hanging_upstream_ends_in_a_clean_http_error_within_bounded_time(fcc: Fcc) -> None:
    """first_byte_timeout: 2 (routes.yaml). Decided before the 20 s header deadline, so a JSON
    client and a streaming client both get an HTTP 529 (the streaming one used to get
    message_start at 4 s and then an error event, which Claude Code redoes without streaming)."""
    json_client, stream_client = fcc.client(), fcc.client()
    with ThreadPoolExecutor(2) as pool:
        started = time.monotonic()
        json_future = pool.submit(json_client.create_error, model="slow/hang-model")
        stream_future = pool.submit(stream_client.stream, model="slow/hang-model")
        error = json_future.result(timeout=40)
        json_done = time.monotonic() - started
        streamed = stream_future.result(timeout=40)
        stream_done = time.monotonic() - started

    assert json_done < 10.0 and stream_done < 10.0, (json_done, stream_done)
    for client, failure in ((json_client, error), (stream_client, streamed.failed())):
        assert isinstance(failure, anthropic.OverloadedError) and failure.status_code == 529
        message = assert_error_body(client.last, 529, "overloaded_error")
        assert "slow/hang-model" in message and "no response within 2 s" in message
    assert stream_client.last.headers["content-type"].startswith("application/json"), "an HTTP error, not an event stream"
    assert_still_serves(fcc)


def test_cut_after_text_is_continued_and_the_client_sees_one_clean_message(fcc: Fcc) -> None:
    """vLLM continues a prefilled assistant turn (`continue_final_message`): fcc asks it to
    continue from what the client already has and splices the rest into the same message."""
    upstream = fcc.upstreams["vllm"]
    mark = len(upstream.requests)
    upstream.script(
        CutMidStream(openai_text_stream(["The quick ", "brown fox ", "jumps over ", "the lazy dog."]), after_chunks=3),
        openai_text_stream(["jumps over ", "the lazy dog."]),
    )
    client = fcc.client()

    result = client.stream(model=SONNET)

    names = assert_clean_stream(result)
    assert names.count("message_start") == 1 and names.count("content_block_start") == 1, names
    message = result.ok()
    assert text_of(message) == "The quick brown fox jumps over the lazy dog."
    assert message.stop_reason == "end_turn"
    first, second = upstream.since(mark)
    assert first.json_body["messages"][-1]["role"] == "user"
    prefill = second.json_body["messages"][-1]
    assert prefill["role"] == "assistant" and prefill["content"] == "The quick brown fox "
    assert second.json_body["continue_final_message"] is True and second.json_body["add_generation_prompt"] is False
    fcc.proc.wait_for_output(r"-> vllm/test-model status=200 .*\[continued on vllm/test-model after 20 chars\]", 3.0)
    assert_still_serves(fcc)


def test_cut_inside_tool_arguments_ends_in_an_error_and_no_tool_runs(fcc: Fcc) -> None:
    upstream = fcc.upstreams["vllm"]
    mark = len(upstream.requests)
    tool = openai_tool_call_stream("Bash", {"command": "echo hi", "description": "say hi"}, text_before="Let me run it. ", argument_pieces=4)
    # role, 5 text pieces, the call's start, then 2 of its 4 argument pieces: cut inside the arguments.
    upstream.script(CutMidStream(tool, after_chunks=9))

    result = fcc.client().stream(model=SONNET)

    error = result.failed()
    assert error.type == "api_error"
    names = result.names()
    assert names[-1] == "error" and "message_stop" not in names
    assert not any(block.type == "tool_use" for block in (result.snapshot.content if result.snapshot else []))
    assert b"tool_use" not in result.wire.body, "a half tool call reached the client"
    assert len(upstream.since(mark)) == 1, "a tool call is never continued or redone behind the client's back"
    assert_still_serves(fcc)


def test_in_stream_error_after_content_then_the_clients_non_streaming_retry_works(fcc: Fcc) -> None:
    """Claude Code answers a mid-stream `event: error` by resending the request with stream:false."""
    upstream = fcc.upstreams["vllm"]
    upstream.script(openai_in_stream_error_stream("Partial answer"), openai_text_stream(ANSWER))
    client = fcc.client()

    result = client.stream(model=SONNET)
    message = client.create(model=SONNET)

    error = result.failed()
    assert error.type == "api_error"
    assert "The server had an error while processing your request" in error.body["error"]["message"]
    assert "message_stop" not in result.names() and result.names()[-1] == "error"
    assert text_of(result.snapshot) == "Partial answer"
    assert_text_message(message, ANSWER, SONNET)
    assert client.last.headers["content-type"] == "application/json"


def test_upstream_401_becomes_403_permission_error_never_401(fcc: Fcc) -> None:
    upstream = fcc.upstreams["keyed"]
    mark = len(upstream.requests)
    # OpenAI echoes the offending key in its message; it must not reach the client or the log.
    upstream.script(openai_error(401, f"Incorrect API key provided: {PROVIDER_SECRET}.", code="invalid_api_key"))
    client = fcc.client()

    result = client.stream(model="keyed/keyed-model")

    error = result.failed()
    assert isinstance(error, anthropic.PermissionDeniedError)
    assert error.status_code == 403 and error.status_code != 401
    message = assert_error_body(result.wire, 403, "permission_error")
    assert "keyed/keyed-model" in message and "returned HTTP 401" in message
    assert PROVIDER_SECRET not in message
    assert len(upstream.since(mark)) == 1, "a bad key is not retried"
    fcc.log_line("keyed/keyed-model")
    assert PROVIDER_SECRET not in fcc.proc.output()
    assert_still_serves(fcc)


# ----------------------------------------------------------- client errors ---


def test_malformed_client_json_is_400_invalid_request_error(fcc: Fcc) -> None:
    counts = {pid: len(u.requests) for pid, u in fcc.upstreams.items()}
    with httpx.Client(trust_env=False, timeout=10) as http:
        response = http.post(fcc.proc.base_url + "/v1/messages?beta=true", content=b'{"model": "claude-sonnet-4-5", "messages": [',
                             headers={"content-type": "application/json", "x-api-key": "dummy"})

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert "not valid JSON" in body["error"]["message"]
    assert {pid: len(u.requests) for pid, u in fcc.upstreams.items()} == counts
    assert_still_serves(fcc)


def test_missing_messages_is_400_invalid_request_error(fcc: Fcc) -> None:
    client = fcc.client()

    empty = client.create_error(messages=[])
    with httpx.Client(trust_env=False, timeout=10) as http:
        absent = http.post(fcc.proc.base_url + "/v1/messages", json={"model": SONNET, "max_tokens": 5},
                           headers={"x-api-key": "dummy"})

    assert isinstance(empty, anthropic.BadRequestError) and empty.type == "invalid_request_error"
    assert "messages" in assert_error_body(client.last, 400, "invalid_request_error")
    assert absent.status_code == 400
    assert absent.json()["error"]["type"] == "invalid_request_error" and "messages" in absent.json()["error"]["message"]
    assert_still_serves(fcc)
