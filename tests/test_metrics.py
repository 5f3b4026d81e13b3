"""The Prometheus endpoint: served where configured, counts what finish_exchange reports, reads queue
depth and cooldowns from admission's gates when scraped, and never carries a token."""

from __future__ import annotations

import httpx
import pytest

pytest.importorskip("prometheus_client")

from fcc.engine import admission, metrics
from fcc.engine.records import Attempt, Trace


@pytest.fixture
def endpoint() -> str:
    metrics.configure("127.0.0.1:0")  # a free port: the config itself insists on a real one
    try:
        yield f"http://127.0.0.1:{metrics.port()}/metrics"
    finally:
        metrics.configure(None)


def sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def trace(status: int, outcome: str = "ok", attempts: tuple = (("nim/kimi", 429), ("nim/kimi", 200))) -> Trace:
    return Trace(status=status, outcome=outcome, first_byte_ms=250.0,
                 attempts=[Attempt(target=t, status=s) for t, s in attempts])


def test_requests_tokens_cost_latency_and_errors(endpoint: str) -> None:
    before = httpx.get(endpoint).text
    metrics.observe("sonnet", trace(200), "alice", "nim/kimi", 1200, 80, 0.0125, 1.5)
    metrics.observe("sonnet", trace(200), "alice", "nim/kimi", 800, 20, 0.0075, 0.5)
    metrics.observe("sonnet", trace(529, "error 529 overloaded_error", (("nim/kimi", 503),)), "bob", "nim/kimi", 0, 0, None, 3.0)
    metrics.refused(403, "permission_error", "-")
    text = httpx.get(endpoint).text

    def delta(name: str, **labels: str) -> float:
        return sample(text, name, **labels) - sample(before, name, **labels)

    assert delta("fcc_requests_total", route="sonnet", provider="nim", model="kimi", user="alice", status="200") == 2
    assert delta("fcc_requests_total", user="bob", status="529") == 1
    assert delta("fcc_tokens_total", direction="in", user="alice") == 2000
    assert delta("fcc_tokens_total", direction="out", user="alice") == 100
    assert delta("fcc_cost_usd_total", user="alice") == pytest.approx(0.02)
    assert delta("fcc_errors_total", type="overloaded_error", user="bob") == 1
    assert delta("fcc_errors_total", type="permission_error", user="-") == 1
    assert delta("fcc_upstream_attempts_total", provider="nim", model="kimi", outcome="429") == 2
    assert delta("fcc_upstream_attempts_total", provider="nim", model="kimi", outcome="503") == 1
    assert delta("fcc_first_byte_seconds_count", provider="nim", model="kimi") == 3
    assert delta("fcc_request_seconds_bucket", provider="nim", model="kimi", le="1.0") == 1


def test_queue_depth_and_cooldowns_come_from_the_gates(endpoint: str) -> None:
    gate = admission.gate_for("metrics_test_provider", 5, 2)
    gate.waiting, gate.active = 3, 2
    gate.cool_down(40)
    text = httpx.get(endpoint).text
    assert sample(text, "fcc_queue_depth", provider="metrics_test_provider") == 3
    assert sample(text, "fcc_active_requests", provider="metrics_test_provider") == 2
    assert 35 < sample(text, "fcc_cooldown_seconds", provider="metrics_test_provider") <= 40
    assert "fcc_shared_state_up 0.0" in text  # in-process state
    gate.waiting = gate.active = 0
    gate.cooldown_until = 0.0


def test_off_unless_configured_and_moves_when_reconfigured() -> None:
    metrics.configure(None)
    assert metrics.port() is None
    metrics.configure("127.0.0.1:0")
    first = metrics.port()
    try:
        assert httpx.get(f"http://127.0.0.1:{first}/metrics").status_code == 200
    finally:
        metrics.configure(None)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{first}/metrics")
