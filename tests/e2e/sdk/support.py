"""The rig for the SDK-driven e2e tests: one real mitmdump + fcc, one scripted
upstream per provider, and an official `anthropic` SDK client whose transport
keeps the raw bytes (and their arrival times) of every answer.

Provider layout of the shared process (see conftest.py):

    claude-sonnet-*  -> vllm/test-model          (built-in vllm, VLLM_BASE_URL)
    claude-opus-*    -> native/native-model      (custom anthropic_messages, keyless)
    claude-haiku-*   -> fbprimary/primary-model, fallback fbsecondary/backup-model (route caps 200 / 100)
    keyed/<m>        -> custom openai_chat with api_key_env FAKE_KEY
    rl/, flaky/, slow/, dead/   failure providers (429, 500, hang, refused port)
    deepseek/, openrouter/, mistral/, ollama/, openai/   built-ins, *_BASE_URL + keys
    anything else    -> passes through to the reverse target (its own upstream)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx

from fcc.core.catalog import CATALOG
from fcc.config import env_base_url_name
from tests.protocol.test_stream_rules import RawEvent, check_grammar, read_raw_events
from tests.support.procs import MitmdumpProcess
from tests.support.upstream import RecordedRequest, ScriptedUpstream
from tests.support.upstream_responses import openai_text_stream

CLIENT_KEY = "dummy"  # what the SDK sends as x-api-key; must never reach a non-Anthropic upstream
CLIENT_BEARER = "client-bearer-e2e-0f3c9a"  # an ANTHROPIC_AUTH_TOKEN-style client credential
PROVIDER_SECRET = "fcc-e2e-provider-secret-5b9e1c7a"  # FAKE_KEY, the custom provider's key
CAPTURE_KEYS = {  # built-in providers' key variables, set for the capture replays
    "DEEPSEEK_API_KEY": "e2e-deepseek-key-3141",
    "OPENROUTER_API_KEY": "e2e-openrouter-key-2718",
    "MISTRAL_API_KEY": "e2e-mistral-key-1618",
    "OPENAI_API_KEY": "e2e-openai-key-1414",
}
BILLING_TEXT = "x-anthropic-billing-header: cc_version=2.1.330.e2e; cc_entrypoint=cli; cch=00000;"
SYSTEM_TEXT = "You are a terse assistant."
SYSTEM = [{"type": "text", "text": BILLING_TEXT}, {"type": "text", "text": SYSTEM_TEXT}]
PROMPT = "Say hello."
SONNET = "claude-sonnet-4-5"
OPUS = "claude-opus-4-5"
HAIKU = "claude-haiku-4-5"
UNROUTED = "claude-e2e-unrouted"  # no tier word, and the process has no default route
CLIENT_TIMEOUT = 30.0  # every SDK call is bounded


def base_request(**overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "model": SONNET,
        "max_tokens": 256,
        "system": SYSTEM,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    request.update(overrides)
    return request


class E2EUpstream(ScriptedUpstream):
    """ScriptedUpstream plus `since(mark)`: the requests a test made, after a count taken at its start."""

    def since(self, mark: int) -> list[RecordedRequest]:
        return self.requests[mark:]


def hermetic_env() -> dict[str, str | None]:
    """Nothing from the developer's shell may route, key or configure this fcc."""
    env: dict[str, str | None] = {
        name: None
        for name in ("MODEL", "MODEL_OPUS", "MODEL_SONNET", "MODEL_HAIKU", "MODEL_FALLBACKS",
                     "FCC_CONFIG", "FCC_REASONING", "FCC_AUTH_TOKEN", "FAKE_KEY")
    }
    for pid, profile in CATALOG.items():
        env[env_base_url_name(pid)] = None
        if profile.api_key_env:
            env[profile.api_key_env] = None
    return env


# --------------------------------------------------------------- the wire ---


@dataclass
class Wire:
    """One HTTP exchange as the SDK's transport saw it: raw body bytes with arrival times."""

    request: httpx.Request
    sent_at: float
    status: int = 0
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    chunks: list[tuple[float, bytes]] = field(default_factory=list)

    @property
    def body(self) -> bytes:
        return b"".join(piece for _, piece in self.chunks)

    def events(self) -> list[RawEvent]:
        """The SSE answer read strictly (every event exactly `event:` + `data:`), grammar checked."""
        events = read_raw_events(self.body)
        check_grammar(events)
        return events


class _Tee(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, sink: list[tuple[float, bytes]]) -> None:
        self._inner = inner
        self._sink = sink

    def __iter__(self) -> Iterator[bytes]:
        for piece in self._inner:
            self._sink.append((time.monotonic(), piece))
            yield piece

    def close(self) -> None:
        self._inner.close()


class RecordingTransport(httpx.BaseTransport):
    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.wires: list[Wire] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        wire = Wire(request, time.monotonic())
        self.wires.append(wire)
        response = self._inner.handle_request(request)
        wire.status = response.status_code
        wire.headers = response.headers
        assert isinstance(response.stream, httpx.SyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_Tee(response.stream, wire.chunks),
            extensions=response.extensions,
            request=request,
        )

    def close(self) -> None:
        self._inner.close()


# ------------------------------------------------------------- the client ---


@dataclass
class Streamed:
    """What a streaming SDK call ended with."""

    message: Any | None  # anthropic.types.Message
    error: anthropic.APIStatusError | None
    snapshot: Any | None  # the message accumulated before the error, if any
    wire: Wire
    event_times: list[tuple[float, Any]]  # (arrival, SDK event) for every event the SDK yielded

    def ok(self) -> Any:
        assert self.error is None, f"the SDK raised {self.error!r}; body: {self.wire.body[-600:]!r}"
        assert self.message is not None
        return self.message

    def failed(self) -> anthropic.APIStatusError:
        assert self.error is not None, f"expected an error, got {self.message!r}"
        return self.error

    def names(self) -> list[str]:
        return [event.name for event in self.wire.events()]


class Client:
    def __init__(self, base_url: str, **auth: Any) -> None:
        self.transport = RecordingTransport()
        self.http = httpx.Client(transport=self.transport, trust_env=False)
        self.sdk = anthropic.Anthropic(
            base_url=base_url,
            api_key=auth.get("api_key", CLIENT_KEY),
            auth_token=auth.get("auth_token"),
            max_retries=0,
            timeout=httpx.Timeout(CLIENT_TIMEOUT, connect=5.0),
            http_client=self.http,
        )

    @property
    def last(self) -> Wire:
        return self.transport.wires[-1]

    def stream(self, **overrides: Any) -> Streamed:
        times: list[tuple[float, Any]] = []
        try:
            with self.sdk.messages.stream(**base_request(**overrides)) as stream:
                try:
                    for event in stream:
                        times.append((time.monotonic(), event))
                except anthropic.APIStatusError as error:
                    try:
                        snapshot = stream.current_message_snapshot
                    except AssertionError:
                        snapshot = None
                    return Streamed(None, error, snapshot, self.last, times)
                return Streamed(stream.get_final_message(), None, None, self.last, times)
        except anthropic.APIStatusError as error:  # an HTTP error status: raised before any event
            return Streamed(None, error, None, self.last, times)

    def create(self, **overrides: Any) -> Any:
        """Non-streaming: the Message, or raises the SDK's APIStatusError subclass."""
        return self.sdk.messages.create(**base_request(**overrides), stream=False)

    def create_error(self, **overrides: Any) -> anthropic.APIStatusError:
        try:
            message = self.create(**overrides)
        except anthropic.APIStatusError as error:
            return error
        raise AssertionError(f"expected an error status, got a message: {message!r}")

    def close(self) -> None:
        self.http.close()


@dataclass
class Fcc:
    proc: MitmdumpProcess
    upstreams: dict[str, E2EUpstream]  # by provider id
    passthrough: E2EUpstream  # the reverse target
    clients: list[Client] = field(default_factory=list)

    def client(self, **auth: Any) -> Client:
        client = Client(self.proc.base_url, **auth)
        self.clients.append(client)
        return client

    def all_upstreams(self) -> list[E2EUpstream]:
        return [*self.upstreams.values(), self.passthrough]

    def log_line(self, slug: str, timeout: float = 3.0) -> str:
        """fcc's one log line for the latest request that `slug` served or failed."""
        match = self.proc.wait_for_output(rf"-> {slug} status=", timeout)
        del match
        return [line for line in self.proc.output().splitlines() if f"-> {slug} status=" in line][-1]


# ---------------------------------------------------------- assertions ---


def text_of(message: Any) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


def assert_text_message(message: Any, text: str, model: str, *, input_tokens: int = 11, output_tokens: int = 7) -> None:
    """The whole message, as the client sees it, for a one-text-block answer."""
    assert message.type == "message" and message.role == "assistant"
    assert message.id.startswith("msg_")
    assert message.model == model
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == text
    assert message.stop_reason == "end_turn"
    assert message.stop_sequence is None
    assert (message.usage.input_tokens, message.usage.output_tokens) == (input_tokens, output_tokens)


def assert_clean_stream(result: Streamed) -> list[str]:
    """A 200 SSE answer that ends in message_stop, read strictly; returns the event names."""
    result.ok()
    assert result.wire.status == 200
    assert result.wire.headers["content-type"].startswith("text/event-stream")
    names = result.names()
    assert names[0] == "message_start" and names[-1] == "message_stop"
    assert "error" not in names
    return names


def assert_error_body(wire: Wire, status: int, error_type: str) -> str:
    """An Anthropic JSON error (never HTML, never a traceback); returns its message."""
    import json

    assert wire.status == status, (wire.status, wire.body[:500])
    assert wire.headers["content-type"].startswith("application/json"), wire.headers
    body = json.loads(wire.body)
    assert body["type"] == "error"
    assert set(body["error"]) >= {"type", "message"}
    assert body["error"]["type"] == error_type, body
    message = body["error"]["message"]
    assert isinstance(message, str) and message
    assert "Traceback" not in message and "<html" not in message.lower()
    return message


def assert_still_serves(fcc: Fcc, client: Client | None = None) -> None:
    """The proxy answers the next request normally (sonnet -> vllm)."""
    client = client or fcc.client()
    upstream = fcc.upstreams["vllm"]
    upstream.script(openai_text_stream("Still serving."))
    result = client.stream(model=SONNET)
    assert_clean_stream(result)
    assert text_of(result.ok()) == "Still serving."
    assert fcc.proc.is_running()


def assert_credentials_not_forwarded(request: RecordedRequest, provider_key: str | None) -> None:
    """A non-Anthropic upstream gets the provider's key (if any) and never the client's."""
    for name, value in request.headers:
        assert CLIENT_KEY not in value and CLIENT_BEARER not in value, f"client credential forwarded in {name}"
    assert request.header("x-api-key") is None
    if provider_key is None:
        assert request.header("authorization") is None
    else:
        assert request.header("authorization") == f"Bearer {provider_key}"
