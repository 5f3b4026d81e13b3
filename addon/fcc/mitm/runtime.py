"""Process-wide state that must outlive a reload of the entry script: the
sidecar, usage totals, and the one-line request log. Also the guard that keeps
mitmproxy's own HTML error pages away from Claude Code.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict

from mitmproxy import ctx
from mitmproxy import http as mhttp

from fcc.core.errors import make_error
from fcc.core.local_answers import estimate_parts
from fcc.engine import calibration, metrics, quota
from fcc.engine.records import RequestRecord, Trace
from fcc.engine.sidecar import Sidecar
from fcc.router import Route

try:  # private API (11.x): without it the error-page guard is skipped
    from mitmproxy.proxy.layers.http import _http1
except ImportError:  # pragma: no cover - another mitmproxy version
    _http1 = None  # type: ignore[assignment]

log = logging.getLogger("fcc")

_SIDECAR = None
USAGE: dict[str, dict[str, float]] = defaultdict(
    lambda: {"requests": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0, "priced": 0, "errors": 0}
)
# Per target: how many requests ended in each error type (HTTP or a final `event: error`).
ERRORS: dict[str, Counter[str]] = defaultdict(Counter)


async def sidecar(handler):
    """The engine's loopback server, started once per process."""
    global _SIDECAR
    if _SIDECAR is None:
        _SIDECAR = Sidecar(handler)
        await _SIDECAR.start()
        install_error_page_guard()
    else:
        _SIDECAR._handler = handler  # a reloaded script brings a new addon object
    return _SIDECAR


async def stop_sidecar() -> None:
    """At exit: the engine's loopback server stops listening."""
    global _SIDECAR
    if _SIDECAR is not None:
        await _SIDECAR.stop()
        _SIDECAR = None


def finish_exchange(record: RequestRecord, trace: Trace, flow) -> None:
    """One log line per routed request, usage totals, and a plain summary on the flow.

    The summary (and the comment) go into flow.metadata, so flow files keep them: plain
    JSON values only, no credentials (attempt errors are redacted by the engine).
    """
    route = record.route
    total_ms = trace.elapsed_ms()
    usage = dict(trace.usage)
    tokens_in = int(usage.get("input_tokens") or 0) + int(usage.get("cache_read_input_tokens") or 0)
    tokens_out = int(usage.get("output_tokens") or 0)
    served = trace.served_by or (trace.attempts[-1].target if trace.attempts else route.primary.slug)
    cost = request_cost(route, served, tokens_in, tokens_out)
    user = flow.metadata.get("fcc_user", "local")
    metrics.observe(route.tier, trace, user, served, tokens_in, tokens_out, cost, total_ms / 1000)
    if trace.error:
        # An answer that ended in an error is an error, also when it began as a 200 stream.
        USAGE[served]["errors"] += 1
        ERRORS[served][trace.error.split(":", 1)[0]] += 1
    elif trace.status == 200 and trace.served_by:
        reported = calibration.provider_input(usage)
        if reported != record.input_estimate:  # equal: the reader fell back to fcc's own estimate
            calibration.current().observe(served, estimate_parts(record.request), reported)
        quota.record_usage(user, served, tokens_in, tokens_out, cost)
        totals = USAGE[served]
        totals["requests"] += 1
        totals["input_tokens"] += tokens_in
        totals["output_tokens"] += tokens_out
        if cost is not None:
            totals["cost_usd"] += cost
            totals["priced"] = 1
    first = f"{trace.first_byte_ms:.0f}" if trace.first_byte_ms is not None else "-"
    error = trace.error
    status = f"{trace.status}" + (f" error={error.split(':', 1)[0]}" if error and trace.status == 200 else "")
    cause = f" ({error})" if error else (f" ({trace.outcome})" if trace.outcome not in ("", "ok") else "")
    log.info(
        "fcc: %s %s -> %s status=%s first_byte=%sms total=%.0fms tokens in=%d out=%d attempts=%d user=%s%s%s",
        record.request_class, route.tier, served, status, first, total_ms, tokens_in, tokens_out,
        len(trace.attempts), user, cause[:400], "".join(f" [{n}]" for n in trace.notes),
    )
    flow.metadata["fcc_summary"] = {
        "class": record.request_class,
        "message_id": record.message_id,
        "user": user,
        "route": route.describe(),
        "served_by": served,
        "status": trace.status,
        "outcome": trace.outcome,
        "first_byte_ms": trace.first_byte_ms,
        "total_ms": round(total_ms, 1),
        "usage": usage,
        "error": error,
        "notes": list(trace.notes),
        "tokens": {"in": tokens_in, "out": tokens_out},
        "cost_usd": None if cost is None else round(cost, 6),
        "attempts": [
            {"target": a.target, "url": a.url, "status": a.status, "error": a.error, "continuation": a.continuation}
            for a in trace.attempts
        ],
    }
    # Filterable in mitmweb (`~comment "fcc main"`, `~comment "out=0"`), and kept in -w flow files.
    price = f" ${cost:.4f}" if cost is not None else ""
    failed = f" error {error.split(':', 1)[0]}" if error else ""
    continued = " continued" if any(n.startswith("continued") for n in trace.notes) else ""
    flow.comment = f"{flow.comment} | {trace.status}{failed}{continued} in={tokens_in} out={tokens_out}{price}".lstrip(" |")
    bound_view()


def request_cost(route: Route, served: str, tokens_in: int, tokens_out: int) -> float | None:
    """USD for one request, when the serving profile has price_per_mtok (input, output)."""
    for target in route.targets:
        if target.slug == served and target.profile.price_per_mtok:
            price_in, price_out = target.profile.price_per_mtok
            return (tokens_in * price_in + tokens_out * price_out) / 1_000_000
    return None


def bound_view() -> None:
    """mitmweb keeps every flow forever; keep the newest N."""
    try:
        view = ctx.master.addons.get("view")
        if view is None:
            return
        limit = int(ctx.options.fcc_max_flows)
        excess = len(view) - limit
        if excess > 0:
            view.remove(list(view)[:excess])
    except Exception:  # the inspector is a convenience; never fail a request over it
        log.debug("fcc: could not bound the flow list", exc_info=True)


def report_usage() -> None:
    if not USAGE:
        return
    total = 0.0
    for slug, totals in sorted(USAGE.items()):
        cost = f" cost=${totals['cost_usd']:.4f}" if totals.get("priced") else ""
        total += totals.get("cost_usd", 0.0)
        errors = ""
        if totals.get("errors"):
            causes = ", ".join(f"{kind} x{count}" for kind, count in ERRORS[slug].most_common())
            errors = f" errors={int(totals['errors'])} ({causes})"
        log.info("fcc usage: %s requests=%d in=%d out=%d%s%s", slug, totals["requests"], totals["input_tokens"],
                 totals["output_tokens"], cost, errors)
    if any(t.get("priced") for t in USAGE.values()):
        log.info("fcc usage: total cost=$%.4f (priced providers only)", total)


def install_error_page_guard() -> None:
    """mitmproxy answers upstream failures of pass-through flows with an HTML page;
    Claude Code must only ever see Anthropic-shaped JSON (private API, 11.x)."""
    if _http1 is None:
        return
    if getattr(_http1.make_error_response, "_fcc", False):
        return

    def make_error_response(status_code: int, message: str = ""):
        error_type = "overloaded_error" if status_code >= 500 else "invalid_request_error"
        status = 529 if status_code in (502, 503) else status_code
        error = make_error(status, f"fcc: upstream error: {message}", error_type=error_type)
        resp = mhttp.Response.make(status, error.body_bytes(), {**error.response_headers(), "connection": "close"})
        return _http1.http1.assemble_response(resp)

    make_error_response._fcc = True  # type: ignore[attr-defined]
    _http1.make_error_response = make_error_response
