"""Units of the recorder, the replay transport, the inspector and the content views.

No processes here: the e2e side is tests/e2e/test_record_replay.py,
test_recordings.py and test_mitmweb_view.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import yaml
from mitmproxy import contentviews as mitm_contentviews
from mitmproxy import http
from mitmproxy.test import tflow

from fcc.mitm import contentviews, runtime
from fcc.mitm import inspector as inspect
from fcc.record import recording, replay
from fcc.engine.records import Attempt, RequestRecord, Trace
from fcc.record.recording import Recorder, Scrubber, decode_body, decode_chunks, dump_document, load_document
from fcc.record.replay import Cassette, ReplayTransport, body_key
from tests.support.upstream_responses import (
    anthropic_text_stream,
    openai_reasoning_stream,
    openai_tool_call_stream,
)

FAKE_KEY = "sk-or-v1-" + "0123456789abcdef0123456789abcdef"


# ------------------------------------------------------------------ scrubbing
def test_credential_headers_are_masked_and_key_like_values_redacted() -> None:
    scrub = Scrubber(["my-provider-secret-value"])
    headers = scrub.headers(
        [
            ("Authorization", "Bearer abcdefgh12345678"),
            ("x-api-key", "anything"),
            ("Cookie", "session=1"),
            ("X-Note", "uses my-provider-secret-value and " + FAKE_KEY),
            ("X-Dup", "a"),
            ("x-dup", "b"),
        ]
    )
    assert headers["authorization"] == headers["x-api-key"] == headers["cookie"] == "[redacted]"
    assert headers["x-note"] == "uses [redacted] and [redacted]"
    assert headers["x-dup"] == "a, b"


def test_json_scrub_removes_metadata_user_id_and_keys_anywhere() -> None:
    body = {
        "metadata": {"user_id": '{"device_id":"abc","session_id":"s"}'},
        "messages": [{"role": "user", "content": [{"type": "text", "text": f"key {FAKE_KEY} here"}]}],
        "user_id": "kept: only metadata.user_id is personal",
    }
    out = Scrubber().json(body)
    assert out["metadata"]["user_id"] == "[redacted]"
    assert out["messages"][0]["content"][0]["text"] == "key [redacted] here"
    assert out["user_id"] == body["user_id"]


def test_short_secrets_are_not_used_verbatim() -> None:
    # ANTHROPIC_AUTH_TOKEN=dummy must not turn every "dummy" in a prompt into [redacted].
    assert Scrubber(["dummy"]).text("a dummy value") == "a dummy value"


def test_environment_secrets_include_key_variables() -> None:
    secrets = recording.environment_secrets({"OPENROUTER_API_KEY": "or-secret-1234", "MY_TOKEN": "tok-secret-99", "HOME": "/root"})
    assert {"or-secret-1234", "tok-secret-99"} <= secrets
    assert "/root" not in secrets


def test_secret_split_across_chunks_is_caught_on_the_joined_body() -> None:
    secret = "provider-secret-abcdef"
    parts = [(0.1, b"data: one " + secret[:9].encode()), (0.2, secret[9:].encode() + b" two\n\n")]
    chunks = Scrubber([secret]).chunks(parts)
    joined = b"".join(decode_body(c) for c in chunks)
    assert secret.encode() not in joined and b"[redacted]" in joined
    assert len(chunks) == 1 and chunks[0]["t"] == 0.2


# ---------------------------------------------------------------- file format
@pytest.mark.parametrize(
    "data",
    [
        b"event: ping\ndata: {}\n\n",
        b"trailing spaces   \nand\ttabs\r\nCRLF\r\n",
        "unicode \u00e9\u4e2d\U0001f600 and a lone \u2028 separator\n".encode(),
        b"no newline at all",
        b"\xe4\xb8",  # a UTF-8 sequence cut by the network: kept as base64
        b"",
    ],
)
def test_bodies_round_trip_through_yaml_byte_for_byte(data: bytes) -> None:
    doc = {"fcc_recording": 1, "chunks": [{"t": 0.5, **recording.encode_bytes(data)}]}
    loaded = yaml.safe_load(dump_document(doc))
    assert decode_chunks(loaded["chunks"]) == [(0.5, data)]


def test_multiline_text_is_written_as_a_literal_block() -> None:
    text = dump_document({"body": {"text": "event: a\ndata: {}\n\n"}})
    assert "text: |" in text


def _attempt(status: int | None, chunks: list[tuple[float, bytes]], error: str | None = None, body: dict | None = None) -> Attempt:
    attempt = Attempt(
        "vllm/m",
        "http://127.0.0.1:9/v1/chat/completions",
        {"content-type": "application/json", "authorization": "[masked]"},
        json.dumps(body or {"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode(),
    )
    attempt.status = status
    attempt.response_headers = {"content-type": "text/event-stream"} if status == 200 else {"content-type": "application/json"}
    for at, data in chunks:
        attempt.raw += data
        attempt.chunk_times.append((at, len(data)))
    attempt.error = error
    return attempt


def _client_flow(body: dict, response_body: bytes = b"event: message_stop\ndata: {}\n\n") -> http.HTTPFlow:
    flow = tflow.tflow(resp=True)
    flow.request.url = "http://127.0.0.1:8082/v1/messages?beta=true"
    flow.request.headers["authorization"] = "Bearer client-token-123456"
    flow.request.content = json.dumps(body).encode()
    flow.metadata["fcc_original_url"] = flow.request.url
    flow.response = http.Response.make(200, b"", {"content-type": "text/event-stream"})
    flow.response.raw_content = response_body
    return flow


def _exchange(body: dict, attempts: list[Attempt], message_id: str = "msg_0123") -> tuple[http.HTTPFlow, dict]:
    """A routed client flow and the addon's per-flow state for it, as `record` takes them."""
    flow = _client_flow(body)
    route = SimpleNamespace(tier="default", client_model="claude-x", targets=(), reasoning="")
    state = {
        "client_request": recording.snapshot_request(flow),
        "request": RequestRecord(body, route, True, {}, 1, "main", message_id),  # type: ignore[arg-type]
        "trace": Trace(attempts=attempts),
    }
    return flow, state


def test_recorder_writes_one_scrubbed_file_per_exchange(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "rec", environ={"OPENROUTER_API_KEY": FAKE_KEY})
    error = _attempt(429, [], "HTTP 429")
    error.raw += b'{"error":{"message":"slow"}}'
    ok = _attempt(200, [(0.01, b"data: {\"a\":1}\n\n"), (0.02, b"data: [DONE]\n\n")])
    body = {"model": "claude-x", "metadata": {"user_id": "device-123"}, "messages": [{"role": "user", "content": FAKE_KEY}]}
    flow, state = _exchange(body, [error, ok])
    path = recorder.record(flow, **state)
    assert path is not None and path.name == "0001-main-200.yaml"
    text = path.read_text()
    for secret in (FAKE_KEY, "client-token-123456", "device-123"):
        assert secret not in text
    doc = load_document(path)
    assert doc["message_id"] == "msg_0123" and doc["handled"] == "engine"
    assert doc["client_request"]["path"] == "/v1/messages?beta=true"
    assert [a["response"]["status"] for a in doc["attempts"]] == [429, 200]
    assert decode_chunks(doc["attempts"][1]["response"]["chunks"]) == [(0.01, b"data: {\"a\":1}\n\n"), (0.02, b"data: [DONE]\n\n")]
    assert decode_body(doc["attempts"][0]["response"]["chunks"][0]) == b'{"error":{"message":"slow"}}'
    assert decode_body(doc["client_response"]["body"]) == b"event: message_stop\ndata: {}\n\n"
    # Numbering continues after the files already there (a second process, the same directory).
    flow, state = _exchange(body, [ok])
    assert Recorder(tmp_path / "rec").record(flow, **state).name == "0002-main-200.yaml"


def test_routes_copy_is_scrubbed(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(f"providers:\n  x:\n    base_url: http://h/{FAKE_KEY}\n")
    recorder = Recorder(tmp_path / "rec")
    recorder.copy_routes(str(routes))
    assert FAKE_KEY not in (tmp_path / "rec" / "routes.yaml").read_text()


# --------------------------------------------------------------------- replay
def _write_exchange(directory: Path, number: int, attempts: list[Attempt], body: dict, message_id: str) -> None:
    flow, state = _exchange(body, attempts, message_id)
    Recorder(directory).record(flow, **state)


def test_body_key_ignores_volatile_fields_and_scrubbed_values() -> None:
    base = {"model": "m", "messages": [{"role": "user", "content": "hi " + FAKE_KEY}]}
    assert body_key(json.dumps(base).encode()) == body_key({**base, "user": "u-1", "metadata": {"user_id": "x"}})
    assert body_key(base) == body_key(Scrubber().json(base))
    assert body_key(base) != body_key({**base, "model": "other"})


def test_cassette_matches_by_key_then_by_order_then_misses(tmp_path: Path) -> None:
    first = _attempt(200, [(0.0, b"data: one\n\n")], body={"model": "m", "n": 1})
    second = _attempt(200, [(0.0, b"data: two\n\n")], body={"model": "m", "n": 2})
    _write_exchange(tmp_path, 1, [first], {"model": "a", "messages": []}, "msg_a")
    _write_exchange(tmp_path, 2, [second], {"model": "b", "messages": []}, "msg_b")
    cassette = Cassette(tmp_path)
    path = "/v1/chat/completions"
    assert cassette.match(path, json.dumps({"model": "m", "n": 2}).encode()).chunks == [(0.0, b"data: two\n\n")]
    assert cassette.match(path, b'{"unknown": true}').chunks == [(0.0, b"data: one\n\n")]  # order fallback
    assert cassette.match(path, b"{}") is None
    assert "no recorded upstream answer" in cassette.describe_miss(path, b"{}") and str(tmp_path) in cassette.describe_miss(path, b"{}")
    assert cassette.message_id_for(json.dumps({"model": "b", "messages": []}).encode()) == "msg_b"
    assert cassette.message_id_for(b"{}") == "msg_a"


def test_empty_or_foreign_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no recordings"):
        Cassette(tmp_path)
    (tmp_path / "0001-x.yaml").write_text("hello: world\n")
    with pytest.raises(ValueError, match="not an fcc recording"):
        Cassette(tmp_path)


def _replay(tmp_path: Path, attempts: list[Attempt], speed: str = "fast") -> httpx.AsyncClient:
    _write_exchange(tmp_path, 1, attempts, {"model": "a", "messages": []}, "msg_a")
    return httpx.AsyncClient(transport=ReplayTransport(Cassette(tmp_path), speed))


async def _fetch(client: httpx.AsyncClient) -> tuple[int, list[tuple[float, bytes]], BaseException | None]:
    started = time.monotonic()
    pieces: list[tuple[float, bytes]] = []
    async with client.stream("POST", "http://anything:1/v1/chat/completions", content=b"{}") as response:
        try:
            async for piece in response.aiter_raw():
                pieces.append((time.monotonic() - started, piece))
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            return response.status_code, pieces, exc
    return response.status_code, pieces, None


@pytest.mark.parametrize("speed", ["fast", "original"])
def test_replay_transport_streams_recorded_chunks_with_their_timing(tmp_path: Path, speed: str) -> None:
    chunks = [(0.0, b"data: a\n\n"), (0.3, b"data: b\n\n"), (0.6, b"data: [DONE]\n\n")]
    client = _replay(tmp_path, [_attempt(200, chunks)], speed)
    status, pieces, error = asyncio.run(_fetch(client))
    assert (status, error) == (200, None)
    assert [data for _, data in pieces] == [data for _, data in chunks]
    if speed == "original":
        assert pieces[-1][0] >= 0.55
    else:
        assert pieces[-1][0] < 0.3


def test_replay_reproduces_a_mid_stream_cut_and_a_refused_connection(tmp_path: Path) -> None:
    cut = _attempt(200, [(0.0, b"data: a\n\n")], "connection lost mid-stream: RemoteProtocolError: peer closed connection")
    refused = _attempt(None, [], "ConnectError: [Errno 111] Connection refused")
    client = _replay(tmp_path, [cut, refused])
    status, pieces, error = asyncio.run(_fetch(client))
    assert status == 200 and pieces[0][1] == b"data: a\n\n"
    assert isinstance(error, httpx.RemoteProtocolError) and str(error) == "peer closed connection"
    with pytest.raises(httpx.ConnectError, match=r"\[Errno 111\] Connection refused"):
        asyncio.run(_fetch(client))


def test_replay_miss_is_an_immediate_400_naming_the_recording(tmp_path: Path) -> None:
    client = _replay(tmp_path, [_attempt(200, [(0.0, b"data: a\n\n")])])
    asyncio.run(_fetch(client))
    started = time.monotonic()
    status, pieces, error = asyncio.run(_fetch(client))
    assert status == 400 and error is None and time.monotonic() - started < 1
    message = json.loads(b"".join(p for _, p in pieces))["error"]["message"]
    assert "fcc replay" in message and str(tmp_path) in message


def test_timeout_errors_replay_as_the_engines_own_timeouts() -> None:
    assert isinstance(replay.recorded_failure("upstream went silent for 120 s"), asyncio.TimeoutError)
    assert isinstance(replay.recorded_failure("no response within 30 s"), asyncio.TimeoutError)
    assert isinstance(replay.recorded_failure("something odd"), httpx.RemoteProtocolError)


# ------------------------------------------------------------------ inspector
def test_upstream_flows_are_linked_marked_and_serialisable() -> None:
    from mitmproxy.tools.web.app import flow_to_json

    error = _attempt(429, [], "vllm/m returned HTTP 429: slow")
    error.raw += b'{"error":"slow"}'
    refused = _attempt(None, [], "ConnectError: refused")
    ok = _attempt(200, [(0.01, b"data: {}\n\n")])
    client = _client_flow({"model": "m", "messages": []})
    flows = inspect.upstream_flows(client, Trace(attempts=[error, refused, ok]))
    assert [f.comment for f in flows] == [
        f"fcc upstream of {client.id}: attempt 1/3 vllm/m -> 429 (vllm/m returned HTTP 429: slow)",
        f"fcc upstream of {client.id}: attempt 2/3 vllm/m -> ConnectError: refused",
        f"fcc upstream of {client.id}: attempt 3/3 vllm/m -> 200",
    ]
    assert all(f.metadata["fcc_upstream_of"] == client.id and f.marked for f in flows)
    assert flows[2].response.raw_content == b"data: {}\n\n" and flows[1].response is None and flows[1].error
    for flow in flows:
        json.dumps(flow_to_json(flow))  # what mitmweb sends to the browser


def test_show_upstream_is_a_no_op_without_a_view() -> None:
    client = _client_flow({"model": "m", "messages": []})
    assert inspect.show_upstream(client, Trace(attempts=[_attempt(200, [])])) == []  # no master here, like mitmdump
    assert "fcc_upstream_flows" not in client.metadata


def test_request_cost_uses_the_serving_profile_price() -> None:
    priced = SimpleNamespace(slug="p/m", profile=SimpleNamespace(price_per_mtok=(2.0, 10.0)))
    free = SimpleNamespace(slug="f/m", profile=SimpleNamespace(price_per_mtok=None))
    route = SimpleNamespace(targets=(free, priced))
    assert runtime.request_cost(route, "p/m", 1_000_000, 100_000) == pytest.approx(3.0)  # type: ignore[arg-type]
    assert runtime.request_cost(route, "f/m", 10, 10) is None  # type: ignore[arg-type]


# --------------------------------------------------------------- content views
def _thinking_tool_stream() -> bytes:
    events = [
        ("message_start", {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
                                                                "content": [], "stop_reason": None, "stop_sequence": None,
                                                                "usage": {"input_tokens": 5, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let me see."}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {}}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"command":'}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '"echo hi"}'}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None}, "usage": {"output_tokens": 9}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    return b"".join(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events)


def test_anthropic_sse_view_shows_the_message_then_the_raw_events() -> None:
    lines = list(contentviews.render("Anthropic SSE", _thinking_tool_stream()))
    text = "\n".join(lines)
    assert lines[0] == "message msg_1  model claude-x"
    assert "stop_reason: tool_use" in text and "usage: in=5 out=9" in text
    assert "[0] thinking (signature 3 chars)" in text and "    Let me see." in text
    assert "[1] tool_use Bash  id=toolu_1" in text and '"command": "echo hi"' in text
    assert text.index("--- 11 raw events ---") > text.index("tool_use Bash")


def test_anthropic_sse_view_shows_an_error_event() -> None:
    body = anthropic_text_stream("partial").body.rsplit(b"event: content_block_stop", 1)[0]
    body += b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"gone"}}\n\n'
    assert "error: overloaded_error: gone" in contentviews.render("Anthropic SSE", body)


def test_openai_sse_view_adds_up_reasoning_text_and_tool_calls() -> None:
    text = "\n".join(contentviews.render("OpenAI chat SSE", openai_reasoning_stream("hmm, think", "the answer").body))
    assert "finish_reason stop" in text and "[0] thinking" in text and "    hmm, think" in text and "    the answer" in text
    tool = "\n".join(contentviews.render("OpenAI chat SSE", openai_tool_call_stream("Bash", {"command": "ls"}, argument_pieces=4).body))
    assert "tool_use Bash  id=call_fake0001" in tool and '"command": "ls"' in tool and "stop_reason: tool_use" in tool


def test_anthropic_request_view_is_one_line_per_block_with_tools_collapsed() -> None:
    body = {
        "model": "claude-x", "max_tokens": 100, "stream": True,
        "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": "x" * 1000},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "ls"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "a.txt"}]}]},
            {"role": "system", "content": []},
        ],
        "tools": [{"name": "Bash", "input_schema": {}}, {"name": "Read", "input_schema": {}}],
        "metadata": {"user_id": "u"},
    }
    lines = list(contentviews.render("Anthropic request", json.dumps(body).encode()))
    text = "\n".join(lines)
    assert "  [0] text [cache]: You are terse." in text
    assert "... (1000 chars)" in text and max(len(line) for line in lines) < 400
    assert 'tool_use Bash t1: {"command": "ls"}' in text and "tool_result t1: a.txt" in text
    assert "  [3] system (empty)" in text and "tools (2): Bash, Read" in text and "other fields: metadata" in text


def _auto_view(message, flow) -> tuple[str, str]:
    """(name, text) of the view mitmproxy picks by itself, through the installed mitmproxy's own API."""
    if hasattr(mitm_contentviews, "prettify_message"):  # mitmproxy >= 12 (reads ctx.options)
        from mitmproxy.test import taddons

        with taddons.context():
            result = mitm_contentviews.prettify_message(message, flow)
        return str(result.view_name), result.text
    description, lines, error = mitm_contentviews.get_message_content_view("Auto", message, flow)
    assert error is None
    return description, "\n".join("".join(text for _, text in line) for line in lines)


def _registered(name: str) -> bool:
    registry = getattr(mitm_contentviews, "registry", None)
    return name.lower() in registry if registry is not None else mitm_contentviews.get(name) is not None


def test_views_are_registered_and_chosen_by_auto() -> None:
    contentviews.register()
    try:
        client = _client_flow({"model": "m", "messages": []}, response_body=_thinking_tool_stream())
        name, text = _auto_view(client.response, client)
        assert name == "Anthropic SSE" and text.startswith("message msg_1  model claude-x\n")
        client.request.headers["content-type"] = "application/json"
        assert _auto_view(client.request, client)[0] == "Anthropic request"
        upstream = inspect.upstream_flows(client, Trace(attempts=[_attempt(200, [(0.0, openai_reasoning_stream("a", "b").body)])]))[0]
        assert _auto_view(upstream.response, upstream)[0] == "OpenAI chat SSE"
        assert _auto_view(upstream.request, upstream)[0] == "JSON"  # OpenAI request: plain JSON
        contentviews.register()  # a script reload registers again without "Duplicate view"
        assert _registered("Anthropic SSE")
    finally:
        contentviews.unregister()
    assert not _registered("Anthropic SSE")


def test_mitmproxy_12_adapter_speaks_prettify_and_render_priority(monkeypatch: pytest.MonkeyPatch) -> None:
    class Contentview:  # the shape of mitmproxy 12's protocol class
        pass

    monkeypatch.setattr(mitm_contentviews, "Contentview", Contentview, raising=False)
    views = {v.name: v for v in contentviews._make_views()}
    metadata = SimpleNamespace(content_type="text/event-stream", flow=None, http_message=None)
    sse = views["Anthropic SSE"]
    assert isinstance(sse, Contentview) and sse.syntax_highlight == "none"
    assert sse.render_priority(_thinking_tool_stream(), metadata) == 2.0
    assert sse.prettify(_thinking_tool_stream(), metadata).startswith("message msg_1  model claude-x\n")
    assert views["Anthropic request"].render_priority(b"{}", metadata) == 0.0


def test_show_upstream_adds_linked_flows_to_mitmwebs_view_and_keeps_it_bounded() -> None:
    from mitmproxy.addons.view import View
    from mitmproxy.test import taddons

    view = View()
    with taddons.context(view) as tctx:
        tctx.options.add_option("fcc_max_flows", str, "4", "")
        for _round in range(2):
            client = _client_flow({"model": "m", "messages": []})
            trace = Trace(attempts=[_attempt(429, []), _attempt(200, [(0.0, b"data: {}\n\n")])])
            client.request.timestamp_start = client.timestamp_created = time.time()  # tflow's are from 2000
            view.add([client])
            added = inspect.show_upstream(client, trace)
            assert client.metadata["fcc_upstream_flows"] == [f.id for f in added] and len(added) == 2
            assert inspect.show_upstream(client, trace) == []  # once per flow
        assert len(view) == 4  # fcc_max_flows: the oldest client flow and its upstream side were dropped
        assert view.get_by_id(client.id) is not None and all(view.get_by_id(i) for i in client.metadata["fcc_upstream_flows"])
