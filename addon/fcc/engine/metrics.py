"""Prometheus metrics (`metrics: {listen: 127.0.0.1:9464}` in routes.yaml, or FCC_METRICS_LISTEN).

Off unless configured: a proxy should not open a port nobody asked for. When on, it binds
where it is told; a bare port binds loopback. Labels carry user names, never tokens.

    fcc_requests_total{route,provider,model,user,status}   client requests answered
    fcc_errors_total{type,user}                             client-visible errors by Anthropic error type
    fcc_upstream_attempts_total{provider,model,outcome}     upstream tries (HTTP status, or `error`)
    fcc_first_byte_seconds / fcc_request_seconds{provider,model}   latency histograms
    fcc_tokens_total{direction,provider,model,user}         direction = in | out
    fcc_cost_usd_total{provider,model,user}                 in the catalog's prices
    fcc_queue_depth{provider}, fcc_active_requests{provider}, fcc_cooldown_seconds{provider},
    fcc_model_cooldown_seconds{model}, fcc_shared_state_up, fcc_replicas
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from typing import Any

from fcc.engine import admission, shared_state
from fcc.engine.records import Trace

log = logging.getLogger("fcc")

try:
    import prometheus_client as prom
    from prometheus_client.core import GaugeMetricFamily
except ImportError:  # the `team` extra is not installed
    prom = None  # type: ignore[assignment]

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300)


class _GateCollector:
    """Queue depth and cooldowns, read from admission's gates when scraped."""

    def collect(self) -> Any:
        queue = GaugeMetricFamily("fcc_queue_depth", "Requests waiting for admission", labels=["provider"])
        active = GaugeMetricFamily("fcc_active_requests", "Requests admitted and in flight", labels=["provider"])
        cooling = GaugeMetricFamily("fcc_cooldown_seconds", "Seconds left of a provider's cooldown", labels=["provider"])
        models = GaugeMetricFamily("fcc_model_cooldown_seconds", "Seconds left of a model's learned cooldown", labels=["model"])
        per_provider: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0.0])
        now = time.monotonic()
        for gate in admission.gates():
            figures = per_provider[gate.key]
            figures[0] += gate.waiting
            figures[1] += gate.active
            figures[2] = max(figures[2], gate.cooldown_until - now, 0.0)
        for provider, (waiting, running, left) in sorted(per_provider.items()):
            queue.add_metric([provider], waiting)
            active.add_metric([provider], running)
            cooling.add_metric([provider], left)
        for slug in sorted(admission.MODELS._seen):
            models.add_metric([slug], admission.MODELS.cooling_for(slug))
        state = shared_state.STATE
        up = GaugeMetricFamily("fcc_shared_state_up", "1 when the shared state (Redis) answers; 0 when fcc runs on local state")
        up.add_metric([], 1.0 if getattr(state, "up", False) else 0.0)
        replicas = GaugeMetricFamily("fcc_replicas", "fcc replicas alive (heartbeats in the shared state)")
        replicas.add_metric([], float(getattr(state, "replicas", 1)))
        yield from (queue, active, cooling, models, up, replicas)


class Metrics:
    def __init__(self) -> None:
        self.registry = prom.CollectorRegistry()
        r = self.registry
        self.requests = prom.Counter("fcc_requests", "Client requests answered", ["route", "provider", "model", "user", "status"], registry=r)
        self.errors = prom.Counter("fcc_errors", "Client-visible errors by type", ["type", "user"], registry=r)
        self.attempts = prom.Counter("fcc_upstream_attempts", "Upstream attempts", ["provider", "model", "outcome"], registry=r)
        self.first_byte = prom.Histogram("fcc_first_byte_seconds", "Time to the first byte fcc sent the client",
                                         ["provider", "model"], buckets=LATENCY_BUCKETS, registry=r)
        self.total = prom.Histogram("fcc_request_seconds", "Time to the end of the answer",
                                    ["provider", "model"], buckets=LATENCY_BUCKETS, registry=r)
        self.tokens = prom.Counter("fcc_tokens", "Tokens", ["direction", "provider", "model", "user"], registry=r)
        self.cost = prom.Counter("fcc_cost_usd", "Cost in the catalog's prices (USD)", ["provider", "model", "user"], registry=r)
        r.register(_GateCollector())


METRICS: Metrics | None = None
_SERVER: tuple[Any, Any, str] | None = None


def configure(listen: str | None) -> None:
    """Start (or move, or stop) the endpoint; raises ValueError when it cannot be served."""
    global METRICS, _SERVER
    if _SERVER is not None and _SERVER[2] == listen:
        return
    if _SERVER is not None:
        _SERVER[0].shutdown()
        _SERVER[0].server_close()
        _SERVER = None
    if not listen:
        return
    if prom is None:
        raise ValueError("metrics.listen needs prometheus-client: pip install 'fcc[team]'")
    host, _, port = listen.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if METRICS is None:
        METRICS = Metrics()
    try:
        server, thread = prom.start_http_server(int(port), addr=host, registry=METRICS.registry)
    except OSError as exc:
        raise ValueError(f"metrics.listen {listen}: cannot listen ({exc.strerror or exc})") from None
    _SERVER = (server, thread, listen)
    log.info("fcc: Prometheus metrics on http://%s:%s/metrics", host, server.server_port)


def port() -> int | None:
    return _SERVER[0].server_port if _SERVER is not None else None


def observe(
    tier: str, trace: Trace, user: str, served: str, tokens_in: int, tokens_out: int, cost: float | None, total_s: float
) -> None:
    """One routed request, at its end."""
    m = METRICS
    if m is None:
        return
    provider, _, model = served.partition("/")
    status = str(trace.status or 0)
    m.requests.labels(tier, provider, model, user, status).inc()
    if trace.status != 200 or trace.outcome.startswith("error"):
        m.errors.labels(_error_type(trace.outcome, trace.status), user).inc()
    for attempt in trace.attempts:
        a_provider, _, a_model = attempt.target.partition("/")
        m.attempts.labels(a_provider, a_model, str(attempt.status) if attempt.status else "error").inc()
    if trace.first_byte_ms is not None:
        m.first_byte.labels(provider, model).observe(trace.first_byte_ms / 1000)
    m.total.labels(provider, model).observe(total_s)
    if tokens_in:
        m.tokens.labels("in", provider, model, user).inc(tokens_in)
    if tokens_out:
        m.tokens.labels("out", provider, model, user).inc(tokens_out)
    if cost:
        m.cost.labels(provider, model, user).inc(cost)


def refused(status: int, error_type: str, user: str) -> None:
    """A request fcc answered itself with an error (403 token/access, 429 user limit, 400)."""
    m = METRICS
    if m is None:
        return
    m.requests.labels("-", "-", "-", user, str(status)).inc()
    m.errors.labels(error_type, user).inc()


def _error_type(outcome: str, status: int | None) -> str:
    parts = outcome.split()
    if len(parts) >= 3 and parts[0] == "error":
        return parts[2]
    if outcome.startswith("client gone"):
        return "client_gone"
    return f"status_{status}"
