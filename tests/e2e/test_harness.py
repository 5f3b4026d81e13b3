"""Self-tests of the e2e harness: the scripted upstream, the mitmdump runner.

Each test proves one behaviour other e2e tests rely on, against a real socket.
Also the wire-sample loader. Pure builder checks live in test_harness_builders.py.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.procs import MitmdumpProcess, MitmdumpStartupError, run_mitmdump
from tests.support.upstream import ScriptedUpstream, refused_port
from tests.support.upstream_responses import (
    CutMidStream,
    Hang,
    JsonResponse,
    RawResponse,
    Refuse,
    SlowFirstByte,
    StallMidStream,
    Stream,
    anthropic_error,
    big_text_stream,
    openai_error,
    openai_in_stream_error_stream,
    openai_text_stream,
)
from tests.support.error_bodies import ProviderErrorBody
from tests.support.wire_samples import (
    MISSING_SHARED_REASON,
    WireSample,
    get_sample,
    load_samples,
    provider_error_bodies,
    require_shared,
    sample_params,
    sse_events,
)

pytestmark = pytest.mark.e2e


def client(timeout: float = 5.0) -> httpx.Client:
    # trust_env=False: a proxy configured on the test machine must not intercept loopback traffic.
    return httpx.Client(trust_env=False, timeout=timeout)


def post_and_collect(url: str, timeout: float = 5.0) -> tuple[httpx.Response, list[tuple[float, bytes]]]:
    """POST, read the raw body as it arrives; each piece with its arrival time."""
    received: list[tuple[float, bytes]] = []
    with client(timeout) as http, http.stream("POST", url, json={"model": "m", "stream": True}) as response:
        for piece in response.iter_raw():
            received.append((time.monotonic(), piece))
    return response, received


def joined(received: list[tuple[float, bytes]]) -> bytes:
    return b"".join(piece for _, piece in received)


# ------------------------------------------------------------- streaming ---


def test_text_stream_arrives_chunk_by_chunk_with_scripted_delays(scripted_upstream: ScriptedUpstream) -> None:
    stream = openai_text_stream("one two three four", delay=0.05)
    scripted_upstream.script(stream)

    response, received = post_and_collect(scripted_upstream.url("/v1/chat/completions"))

    exchange = scripted_upstream.exchanges[0]
    assert response.headers["transfer-encoding"] == "chunked"
    assert joined(received) == stream.body
    assert stream.body.endswith(b"data: [DONE]\n\n")
    assert len(exchange.chunk_sent_at) == len(stream.chunks) == 8
    # Streaming, not buffering: the client held the first event before the server sent the last.
    assert received[0][0] < exchange.chunk_sent_at[-1]
    assert exchange.chunk_sent_at[-1] - exchange.chunk_sent_at[0] >= 0.05 * 7 * 0.9
    texts = [json.loads(p)["choices"][0]["delta"].get("content") for _, p in sse_events(stream.body)[1:5]]
    assert "".join(texts) == "one two three four"


def test_records_method_path_headers_and_json_body(scripted_upstream: ScriptedUpstream) -> None:
    before = time.monotonic()
    with client() as http:
        http.post(scripted_upstream.url("/v1/chat/completions?x=1"), json={"model": "deepseek-chat", "messages": []}, headers={"Authorization": "Bearer k"})

    [request] = scripted_upstream.wait_for_requests(1)
    assert (request.method, request.path) == ("POST", "/v1/chat/completions?x=1")
    assert request.header("authorization") == "Bearer k"
    assert request.json_body == {"model": "deepseek-chat", "messages": []}
    assert request.received_at >= before
    assert scripted_upstream.errors == []


def test_chunked_request_body_is_recorded(scripted_upstream: ScriptedUpstream) -> None:
    with client() as http:
        http.post(scripted_upstream.url("/v1/messages"), content=iter([b'{"model":', b' "x"}']))
    [request] = scripted_upstream.requests
    assert request.header("transfer-encoding") == "chunked"
    assert request.json_body == {"model": "x"}


def test_queue_is_consumed_in_order_then_default_repeats_on_one_connection(scripted_upstream: ScriptedUpstream) -> None:
    scripted_upstream.script(openai_error(429, "slow down", retry_after=2), openai_error(500, "boom", error_type="server_error"))
    with client() as http:
        statuses = [http.post(scripted_upstream.url("/v1/chat/completions"), json={}).status_code for _ in range(4)]
    assert statuses == [429, 500, 200, 200]
    assert scripted_upstream.pending_script_count == 0
    assert scripted_upstream.connection_count == 1  # keep-alive across length and chunked framing
    scripted_upstream.script(Hang())
    scripted_upstream.clear_script()
    assert scripted_upstream.pending_script_count == 0


@pytest.mark.parametrize(
    "response, reason",
    [
        (openai_error(401, "bad key", error_type="authentication_error"), "Unauthorized"),
        (openai_error(429, "rate limited", code="rate_limit_exceeded", retry_after=7), "Too Many Requests"),
        (openai_error(500, "boom", error_type="server_error"), "Internal Server Error"),
        (openai_error(503, "unavailable", retry_after=1.5), "Service Unavailable"),
        (anthropic_error(529, "overloaded_error", "Overloaded", retry_after=3), "Overloaded"),
    ],
)
def test_json_error_responses_carry_status_body_and_retry_after(scripted_upstream: ScriptedUpstream, response: JsonResponse, reason: str) -> None:
    scripted_upstream.script(response)
    with client() as http:
        answer = http.post(scripted_upstream.url("/anything"), json={})
    assert answer.status_code == response.status
    assert answer.reason_phrase == reason
    assert answer.json() == response.body
    assert answer.headers["content-length"] == str(len(answer.content))
    assert answer.headers.get("retry-after") == response.headers.get("retry-after")


def test_raw_response_is_written_verbatim(scripted_upstream: ScriptedUpstream) -> None:
    scripted_upstream.script(RawResponse(b"HTTP/1.1 418 Teapot\r\ncontent-length: 2\r\n\r\nok"))
    with client() as http:
        answer = http.get(scripted_upstream.url("/"))
    assert (answer.status_code, answer.reason_phrase, answer.content) == (418, "Teapot", b"ok")


# ---------------------------------------------------------------- faults ---


def test_cut_mid_stream_chunked_is_a_protocol_error_after_the_first_chunks(scripted_upstream: ScriptedUpstream) -> None:
    stream = openai_text_stream("a b c d")
    scripted_upstream.script(CutMidStream(stream, after_chunks=2))
    received: list[bytes] = []
    with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
        with client() as http, http.stream("POST", scripted_upstream.url("/v1/chat/completions"), json={}) as response:
            for piece in response.iter_raw():
                received.append(piece)
    assert b"".join(received) == b"".join(stream.chunks[:2])


def test_cut_mid_stream_close_framing_is_a_clean_but_short_body(scripted_upstream: ScriptedUpstream) -> None:
    stream = openai_text_stream("a b c d", framing="close")
    scripted_upstream.script(CutMidStream(stream, after_chunks=3))
    response, received = post_and_collect(scripted_upstream.url("/v1/chat/completions"))
    assert "content-length" not in response.headers and "transfer-encoding" not in response.headers
    assert joined(received) == b"".join(stream.chunks[:3])
    assert b"[DONE]" not in joined(received)


def test_cut_mid_stream_length_framing_is_a_protocol_error(scripted_upstream: ScriptedUpstream) -> None:
    scripted_upstream.script(CutMidStream(openai_text_stream("a b c", framing="length"), after_chunks=1))
    with pytest.raises(httpx.RemoteProtocolError), client() as http:
        http.post(scripted_upstream.url("/"), json={})


def test_refused_port_gives_connect_error() -> None:
    with pytest.raises(httpx.ConnectError), client(1.0) as http:
        http.get(f"http://127.0.0.1:{refused_port()}/")


def test_refuse_closes_without_answering(scripted_upstream: ScriptedUpstream) -> None:
    scripted_upstream.script(Refuse(), Refuse(reset=True))
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"), client() as http:
        http.post(scripted_upstream.url("/"), json={"n": 1})
    with pytest.raises(httpx.ReadError), client() as http:
        http.post(scripted_upstream.url("/"), json={"n": 2})
    assert [r.json_body for r in scripted_upstream.requests] == [{"n": 1}, {"n": 2}]


def test_hang_gives_read_timeout_and_notices_the_client_leaving(scripted_upstream: ScriptedUpstream) -> None:
    scripted_upstream.script(Hang())
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout), client(0.3) as http:
        http.post(scripted_upstream.url("/"), json={})
    assert time.monotonic() - started < 3.0  # far below any default client timeout
    scripted_upstream.wait_until(lambda: scripted_upstream.exchanges[0].client_closed_at is not None, 2.0, "client close")


def test_slow_first_byte_delays_the_whole_answer(scripted_upstream: ScriptedUpstream) -> None:
    scripted_upstream.script(SlowFirstByte(0.6, openai_text_stream("late")), SlowFirstByte(0.2, openai_error(503, "later")))
    with pytest.raises(httpx.ReadTimeout), client(0.15) as http:
        http.post(scripted_upstream.url("/"), json={})
    started = time.monotonic()
    with client(2.0) as http:
        answer = http.post(scripted_upstream.url("/"), json={})
    assert answer.status_code == 503
    assert time.monotonic() - started >= 0.2


def test_stall_forever_after_two_chunks_times_out_the_reader(scripted_upstream: ScriptedUpstream) -> None:
    stream = openai_text_stream("a b c")
    scripted_upstream.script(StallMidStream(stream, after_chunks=2))
    received: list[bytes] = []
    with pytest.raises(httpx.ReadTimeout):
        with client(0.3) as http, http.stream("POST", scripted_upstream.url("/"), json={}) as response:
            for piece in response.iter_raw():
                received.append(piece)
    assert b"".join(received) == b"".join(stream.chunks[:2])


def test_finite_stall_resumes_and_completes(scripted_upstream: ScriptedUpstream) -> None:
    stream = openai_text_stream("a b c")
    scripted_upstream.script(StallMidStream(stream, after_chunks=2, seconds=0.3))
    _, received = post_and_collect(scripted_upstream.url("/"))
    sent = scripted_upstream.exchanges[0].chunk_sent_at
    assert joined(received) == stream.body
    assert sent[2] - sent[1] >= 0.29


def test_stop_ends_hanging_connections_promptly_without_leaking_threads() -> None:
    upstream = ScriptedUpstream(default=Hang()).start()
    outcome: list[BaseException] = []

    def hung_client() -> None:
        try:
            with client(10.0) as http:
                http.post(upstream.url("/"), json={})
        except httpx.HTTPError as error:
            outcome.append(error)

    caller = threading.Thread(target=hung_client)
    caller.start()
    upstream.wait_for_requests(1)
    started = time.monotonic()
    upstream.stop()
    assert time.monotonic() - started < 2.0  # the client's 10 s timeout never comes into play
    caller.join(3.0)
    assert not caller.is_alive() and isinstance(outcome[0], httpx.TransportError)
    assert not isinstance(outcome[0], httpx.TimeoutException)
    assert not upstream.running  # its own thread only: other modules may hold upstreams open


# -------------------------------------------------------------- builders ---


def test_in_stream_error_stream_ends_with_an_error_frame_and_no_done(scripted_upstream: ScriptedUpstream) -> None:
    scripted_upstream.script(openai_in_stream_error_stream("partial"))
    _, received = post_and_collect(scripted_upstream.url("/"))
    payloads = [data for _, data in sse_events(joined(received))]
    assert json.loads(payloads[-1])["error"]["type"] == "server_error"
    assert "[DONE]" not in payloads


def test_big_body_streams_ten_megabytes_in_many_chunks(scripted_upstream: ScriptedUpstream) -> None:
    stream = big_text_stream()
    scripted_upstream.script(stream)
    _, received = post_and_collect(scripted_upstream.url("/"), timeout=20.0)
    exchange = scripted_upstream.exchanges[0]
    assert sum(len(piece) for _, piece in received) == len(stream.body) > 10 * 1024 * 1024
    assert len(received) > 100
    assert received[0][0] < exchange.chunk_sent_at[-1]


# --------------------------------------------------------------- mitmdump ---


def test_plain_mitmdump_reverse_proxies_to_the_scripted_upstream(
    scripted_upstream: ScriptedUpstream, mitmdump_factory: Callable[..., MitmdumpProcess]
) -> None:
    proxy = mitmdump_factory(script=None, mode=f"reverse:{scripted_upstream.base_url}", args=["--set", "connection_strategy=lazy"])
    stream = openai_text_stream("through the proxy")
    scripted_upstream.script(stream)

    with client() as http:
        answer = http.post(f"{proxy.base_url}/v1/chat/completions", json={"model": "m", "stream": True})

    assert answer.status_code == 200 and answer.content == stream.body
    [request] = scripted_upstream.requests
    assert (request.path, request.json_body) == ("/v1/chat/completions", {"model": "m", "stream": True})
    proxy.wait_for_output(rf"listening at 127\.0\.0\.1:{proxy.port}")
    # Isolation: the CA went into the per-test confdir, nothing into a real or fake ~/.mitmproxy.
    assert (proxy.confdir / "mitmproxy-ca.pem").is_file()
    assert not (proxy.home / ".mitmproxy").exists()


def test_mitmdump_that_exits_early_reports_its_output() -> None:
    started = time.monotonic()
    with pytest.raises(MitmdumpStartupError, match="Invalid proxy mode"):
        with run_mitmdump(script=None, mode="no-such-mode"):
            pass
    assert time.monotonic() - started < 10.0


def test_run_mitmdump_stops_the_process_on_exit(scripted_upstream: ScriptedUpstream) -> None:
    with run_mitmdump(script=None, mode=f"reverse:{scripted_upstream.base_url}") as proxy:
        assert proxy.is_running()
    assert proxy.returncode is not None


# ----------------------------------------------------------- wire samples ---


def test_loader_finds_every_sample_file() -> None:
    shared = require_shared()
    files_on_disk = {path.name for path in (shared / "wire-samples").glob("*.txt")}
    assert files_on_disk and {sample.file for sample in load_samples()} == files_on_disk


def test_complete_openai_chat_streams_end_with_done_or_say_why_not() -> None:
    require_shared()
    streams = [s for s in load_samples() if s.dialect == "openai_chat" and s.is_stream and s.complete]
    assert len(streams) >= 8
    for sample in streams:
        assert sample.body.endswith(b"data: [DONE]\n\n") or sample.no_done_reason, sample.id
    assert get_sample("anthropic-and-openai-midstream-error.txt", "B").no_done_reason


@pytest.mark.parametrize("sample", sample_params(lambda s: s.is_stream and s.complete))
def test_complete_streams_parse_and_anthropic_events_are_named(sample: WireSample) -> None:
    events = sse_events(sample.body)
    assert events and all(data == "[DONE]" or _is_json(data) for _, data in events)
    if sample.dialect in ("anthropic", "responses"):
        assert all(name for name, _ in events)


def test_verbatim_sections_are_byte_exact() -> None:
    require_shared()
    for sample in load_samples():
        if sample.is_stream and not sample.normalisations:
            assert sample.body == sample.raw_text.encode(), sample.id
    # Anthropic's trailing-space padding inside data lines is real wire content.
    assert b'"signature":""}       }' in get_sample("anthropic-native-thinking-signature-tool-use-stream.txt", "main").body


def test_stripped_mistral_fixtures_get_their_sse_framing_back() -> None:
    require_shared()
    for label, chunk_lines in (("main", 2), ("second", 3)):
        sample = get_sample("mistral-tool-call-stream.txt", label)
        assert "data:" not in sample.raw_text and sample.complete
        assert sample.body.startswith(b"data: {") and sample.body.endswith(b"}\n\ndata: [DONE]\n\n")
        assert sample.data_payloads()[-1] == "[DONE]" and len(sample.json_frames()) == chunk_lines


def test_fragments_are_never_complete_streams() -> None:
    require_shared()
    fragments = {(s.file.split("-")[0], s.label): s for s in load_samples() if not s.complete}
    for key in [("gemini", "A"), ("gemini", "B"), ("gemini", "C"), ("inline", "B"), ("inline", "C"), ("inline", "D"), ("ollama", "B"), ("ollama", "C"), ("openrouter", "A"), ("openrouter", "B")]:
        assert key in fragments, key
    assert not fragments[("gemini", "B")].parseable and not fragments[("gemini", "C")].parseable
    # Quoted single chunks are still usable as one decoder input.
    assert fragments[("gemini", "A")].json_frames()[0]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"] == "read"
    assert fragments[("inline", "B")].json_frames()[2]["choices"][0]["delta"]["content"] == "</think>"


def test_recorded_stream_replays_byte_exact_through_the_upstream(scripted_upstream: ScriptedUpstream) -> None:
    require_shared()
    sample = get_sample("deepseek-chat-tool-call-stream.txt", "main")
    scripted_upstream.script(Stream.from_body(sample.body))
    _, received = post_and_collect(scripted_upstream.url("/chat/completions"))
    assert joined(received) == sample.body
    assert len(scripted_upstream.exchanges[0].chunk_sent_at) == len(sample.data_payloads())


def test_provider_error_bodies_are_split_with_status_and_provider() -> None:
    require_shared()
    bodies: dict[str, ProviderErrorBody] = {body.id: body for body in provider_error_bodies()}
    assert {"groq-429-A", "groq-413-B", "anthropic-429-D", "nvidia_nim-400-E", "mistral-400-F1", "mistral-400-F2",
            "deepseek-400-G", "cerebras-400-H", "groq-400-I", "moonshot-400-J1", "moonshot-400-J2"} == set(bodies)  # fmt: skip
    assert bodies["groq-429-A"].json()["error"]["code"] == "rate_limit_exceeded"
    assert bodies["groq-429-A"].documented_headers["retry-after"] == "2"
    assert bodies["mistral-400-F1"].json()["object"] == "error"
    assert not bodies["anthropic-429-D"].complete and not bodies["anthropic-429-D"].is_json
    assert bodies["groq-400-I"].body.startswith(b"'messages.1'")  # the client's "Groq API error 400: " is gone
    assert all(body.is_json for body in bodies.values() if body.body.startswith(b"{") and body.complete)


def test_missing_shared_skips_locally_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FCC_SHARED_DIR", str(tmp_path / "absent"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="wire samples are not shipped"):
        require_shared()
    [param] = sample_params()
    assert param.marks[0].kwargs["reason"] == MISSING_SHARED_REASON
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="wire samples are not shipped"):
        require_shared()
    [param] = sample_params()
    assert not param.marks  # runs under CI...
    with pytest.raises(pytest.fail.Exception, match="wire samples are not shipped"):
        _ = param.values[0].body  # ...and fails on first use


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
