"""`fcc doctor` against a real tiny HTTP server on 127.0.0.1."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from fcc.core.catalog import CATALOG
from fcc.doctor import (
    Status,
    classify_exception,
    classify_response,
    doctor_main,
    probe_headers,
    probe_url,
)
from fcc.core.profiles import Profile

FAKE_KEY = "sk-Zq9XwT4vLp2RmK7yBn3Hc8Fd"
KEY_VARIABLE = "FCC_DOCTOR_TEST_KEY"


@dataclass
class FakeProvider:
    """What the fake upstream answers, and what it was asked."""

    status: int = 200
    body: str = '{"object":"list","data":[]}'
    delay: float = 0.0
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)


def _handler(provider: FakeProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            provider.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            if provider.delay:
                time.sleep(provider.delay)
            payload = provider.body.encode()
            try:
                self.send_response(provider.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the timeout test's client has already given up

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep pytest output clean

    return Handler


@pytest.fixture
def upstream() -> Iterator[tuple[FakeProvider, str]]:
    provider = FakeProvider()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(provider))
    server.daemon_threads = True
    # A short poll interval keeps shutdown (and so each test) fast.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield provider, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _closed_port_url() -> str:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens here any more


def _hosted(base_url: str, transport: str = "openai_chat", **changes: object) -> Profile:
    return Profile(id="fake", transport=transport, base_url=base_url, api_key_env=KEY_VARIABLE,  # type: ignore[arg-type]
                   reasoning_control="anthropic" if transport == "anthropic_messages" else "none",
                   notes="test double", **changes)  # type: ignore[arg-type]


def _run(argv: list[str], catalog: dict[str, Profile], environ: dict[str, str]) -> tuple[int, str]:
    out = io.StringIO()
    code = doctor_main(argv, catalog=catalog, environ=environ, out=out)
    return code, out.getvalue()


def _check_line(output: str, provider_id: str = "fake") -> str:
    check_section = output.split("Check:", 1)[1]
    return next(line for line in check_section.splitlines() if line.strip().startswith(provider_id))


# --- against the real server ------------------------------------------------------


def test_200_is_reachable_and_the_key_is_sent_but_never_printed(upstream: tuple[FakeProvider, str]) -> None:
    provider, url = upstream
    code, output = _run(["--check"], {"fake": _hosted(f"{url}/v1")}, {KEY_VARIABLE: FAKE_KEY})
    assert code == 0
    assert "reachable" in _check_line(output) and "HTTP 200" in _check_line(output)
    assert provider.requests[0][0] == "/v1/models"
    assert provider.requests[0][1]["authorization"] == f"Bearer {FAKE_KEY}"
    assert FAKE_KEY not in output


def test_401_is_auth_failed_and_an_echoed_key_is_not_printed(upstream: tuple[FakeProvider, str]) -> None:
    provider, url = upstream
    provider.status = 401
    provider.body = '{"error":{"message":"Incorrect API key provided: ' + FAKE_KEY + '"}}'
    code, output = _run(["--check"], {"fake": _hosted(f"{url}/v1")}, {KEY_VARIABLE: FAKE_KEY})
    assert code == 1
    assert "auth failed" in _check_line(output)
    assert FAKE_KEY not in output
    assert "1 not usable" in output


def test_gemini_style_400_for_a_bad_key_is_auth_failed(upstream: tuple[FakeProvider, str]) -> None:
    provider, url = upstream
    provider.status = 400
    provider.body = '[{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT"}}]'
    code, output = _run(["--check"], {"fake": _hosted(f"{url}/v1")}, {KEY_VARIABLE: FAKE_KEY})
    assert code == 1
    assert "auth failed" in _check_line(output)


def test_5xx_is_not_reachable(upstream: tuple[FakeProvider, str]) -> None:
    provider, url = upstream
    provider.status = 503
    code, output = _run(["--check"], {"fake": _hosted(f"{url}/v1")}, {KEY_VARIABLE: FAKE_KEY})
    assert code == 1
    assert "not reachable" in _check_line(output)


def test_closed_port_is_not_reachable() -> None:
    code, output = _run(["--check"], {"fake": _hosted(f"{_closed_port_url()}/v1")}, {KEY_VARIABLE: FAKE_KEY})
    assert code == 1
    assert "not reachable" in _check_line(output)
    assert "connection failed" in _check_line(output)


def test_a_slow_server_times_out_as_not_reachable(upstream: tuple[FakeProvider, str]) -> None:
    provider, url = upstream
    provider.delay = 1.5
    started = time.monotonic()
    code, output = _run(["--check", "--timeout", "0.3"], {"fake": _hosted(f"{url}/v1")}, {KEY_VARIABLE: FAKE_KEY})
    assert code == 1
    assert "timed out" in _check_line(output)
    assert time.monotonic() - started < 1.5  # the timeout, not the server, ended the wait


def test_anthropic_transport_probes_v1_models_with_anthropic_headers(upstream: tuple[FakeProvider, str]) -> None:
    provider, url = upstream
    profile = _hosted(url, transport="anthropic_messages", auth_style="x-api-key")
    code, _ = _run(["--check"], {"fake": profile}, {KEY_VARIABLE: FAKE_KEY})
    assert code == 0
    path, headers = provider.requests[0]
    assert path == "/v1/models"
    assert headers["x-api-key"] == FAKE_KEY
    assert headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in headers


def test_local_server_is_checked_only_when_named_and_without_auth(upstream: tuple[FakeProvider, str]) -> None:
    provider, url = upstream
    local = CATALOG["ollama"].replace(base_url=f"{url}/v1")
    code, output = _run(["--check"], {"ollama": local}, {})
    assert code == 1 and "Nothing to check" in output
    assert provider.requests == []
    code, output = _run(["--check", "--provider", "ollama"], {"ollama": local}, {})
    assert code == 0
    assert "reachable" in _check_line(output, "ollama")
    assert "authorization" not in provider.requests[0][1]


def test_base_url_variable_redirects_the_check(upstream: tuple[FakeProvider, str]) -> None:
    provider, url = upstream
    unreachable = CATALOG["ollama"].replace(base_url=f"{_closed_port_url()}/v1")
    environ = {"OLLAMA_BASE_URL": f"{url}/v1/"}
    code, output = _run(["--check", "--provider", "ollama"], {"ollama": unreachable}, environ)
    assert code == 0
    assert provider.requests[0][0] == "/v1/models"
    assert "base URL from OLLAMA_BASE_URL" in output


def test_selected_provider_without_key_reports_no_key_and_fails(upstream: tuple[FakeProvider, str]) -> None:
    provider, url = upstream
    code, output = _run(["--check", "--provider", "fake"], {"fake": _hosted(f"{url}/v1")}, {})
    assert code == 1
    assert "no key" in _check_line(output)
    assert provider.requests == []  # nothing is sent without a key


def test_exit_code_is_nonzero_when_any_checked_provider_is_unusable(upstream: tuple[FakeProvider, str]) -> None:
    _, url = upstream
    catalog = {"fake": _hosted(f"{url}/v1"), "dead": _hosted(f"{_closed_port_url()}/v1").replace(id="dead")}
    code, output = _run(["--check"], catalog, {KEY_VARIABLE: FAKE_KEY})
    assert code == 1
    assert "1 usable, 1 not usable" in output
    code, _ = _run(["--check", "--provider", "fake"], catalog, {KEY_VARIABLE: FAKE_KEY})
    assert code == 0


# --- listing ------------------------------------------------------------------------


def test_listing_shows_presence_but_never_the_key_value(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GROQ_API_KEY", FAKE_KEY)
    monkeypatch.delenv("CEREBRAS_API_KEY", raising=False)
    assert doctor_main([]) == 0
    output = capsys.readouterr().out
    # Not even a fragment (a masked "sk-Zq9X...Fd" style hint would still leak).
    assert not any(FAKE_KEY[i : i + 6] in output for i in range(len(FAKE_KEY) - 5))
    lines = {line.split()[0]: line for line in output.splitlines() if line.startswith("  ") and line.split()}
    assert lines["groq"].rstrip().endswith("yes")
    assert lines["cerebras"].rstrip().endswith("no")
    assert "not needed" in lines["ollama"]
    assert len([line for line in lines if line in CATALOG]) == len(CATALOG)


def test_unknown_provider_is_a_usage_error() -> None:
    code, output = _run(["--provider", "nope"], dict(CATALOG), {})
    assert code == 2
    assert "nope" in output and "groq" in output


def test_bad_arguments_are_a_usage_error_not_an_exit() -> None:
    assert doctor_main(["--no-such-flag"], catalog=dict(CATALOG), environ={}, out=io.StringIO()) == 2


# --- pure classification ------------------------------------------------------------


@pytest.mark.parametrize(
    ("status_code", "body", "transport", "expected"),
    [
        (200, "", "openai_chat", Status.REACHABLE),
        (429, "", "openai_chat", Status.REACHABLE),
        (401, "", "openai_chat", Status.AUTH_FAILED),
        (403, "", "anthropic_messages", Status.AUTH_FAILED),
        (402, "", "openai_chat", Status.AUTH_FAILED),
        (400, '{"error":{"details":[{"reason":"API_KEY_INVALID"}]}}', "openai_chat", Status.AUTH_FAILED),
        (400, '{"error":"bad request"}', "openai_chat", Status.UNEXPECTED),
        (404, "", "openai_chat", Status.UNEXPECTED),
        (404, "", "anthropic_messages", Status.REACHABLE),
        (500, "", "openai_chat", Status.NOT_REACHABLE),
        (504, "<html>", "openai_chat", Status.NOT_REACHABLE),
    ],
)
def test_classify_response(status_code: int, body: str, transport: str, expected: Status) -> None:
    status, detail = classify_response(status_code, body, transport)
    assert status is expected
    assert str(status_code) in detail


def test_classify_exception() -> None:
    request = httpx.Request("GET", "http://127.0.0.1:1/models")
    assert classify_exception(httpx.ConnectTimeout("slow", request=request)) == (Status.NOT_REACHABLE, "timed out")
    assert classify_exception(httpx.ConnectError("refused", request=request))[0] is Status.NOT_REACHABLE
    assert classify_exception(httpx.RemoteProtocolError("eof", request=request))[0] is Status.NOT_REACHABLE
    assert classify_exception(RuntimeError("boom"))[0] is Status.NOT_REACHABLE


def test_probe_url_and_headers_follow_the_profile() -> None:
    assert probe_url(CATALOG["groq"]) == "https://api.groq.com/openai/v1/models"
    assert probe_url(CATALOG["anthropic"]) == "https://api.anthropic.com/v1/models"
    assert probe_headers(CATALOG["anthropic"], "k")["x-api-key"] == "k"
    assert probe_headers(CATALOG["groq"], "k")["authorization"] == "Bearer k"
    assert "authorization" not in probe_headers(CATALOG["ollama"], None)
