"""mitmweb: the upstream side of every routed exchange, as linked flows.

mitmproxy only ever sees the client's flow (the Anthropic request, and the
answer fcc streamed back). The engine talks to the provider itself, so each
upstream attempt is added to mitmweb's flow list as a synthetic HTTPFlow: the
translated request (credentials already masked by the engine) and the
provider's raw answer, marked and commented

    fcc upstream of <client flow id>: attempt 2/3 vllm/qwen3 -> 429

and linked both ways through flow.metadata (`fcc_upstream_flows` on the
client flow, `fcc_upstream_of` on each upstream flow). The filter
`~comment fcc` shows both sides, `~comment "fcc upstream"` only the provider side
(`~c` is the status-code filter).

Only mitmweb has a `view` addon; under mitmdump `show_upstream` returns at once.
"""

from __future__ import annotations

import logging
import time
import urllib.parse

from mitmproxy import connection, ctx, http
from mitmproxy import flow as mflow
from mitmproxy.proxy.mode_specs import ProxyMode

from fcc.mitm.runtime import bound_view

log = logging.getLogger("fcc")

UPSTREAM_MARKER = ":outbox_tray:"


def _view():
    try:
        return ctx.master.addons.get("view")
    except Exception:
        return None


def show_upstream(client_flow: http.HTTPFlow) -> list[http.HTTPFlow]:
    """Add one flow per upstream attempt of a routed client flow (mitmweb only)."""
    plan = client_flow.metadata.get("fcc")
    if plan is None or client_flow.metadata.get("fcc_upstream_flows") is not None:
        return []
    view = _view()
    if view is None:
        return []
    try:
        original = client_flow.metadata.get("fcc_original_url")
        if original and client_flow.request.url != original:
            # Show (and let mitmweb replay) what the client sent, not the engine's one-time URL.
            client_flow.request.url = original
        if not plan.attempts:
            return []
        flows = upstream_flows(client_flow, plan)
        client_flow.metadata["fcc_upstream_flows"] = [f.id for f in flows]
        view.add(flows)
        bound_view()
        return flows
    except Exception:  # the inspector is a convenience; never fail a request over it
        log.debug("fcc: could not add the upstream flows", exc_info=True)
        return []


def upstream_flows(client_flow: http.HTTPFlow, plan) -> list[http.HTTPFlow]:
    total = len(plan.attempts)
    now_wall, now_mono = time.time(), time.monotonic()
    flows = []
    for number, attempt in enumerate(plan.attempts, 1):
        started = now_wall - (now_mono - attempt.started)
        flows.append(_attempt_flow(client_flow, attempt, number, total, started))
    return flows


def _attempt_flow(client_flow: http.HTTPFlow, attempt, number: int, total: int, started: float) -> http.HTTPFlow:
    parts = urllib.parse.urlsplit(attempt.url)
    host = parts.hostname or "upstream"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    client = connection.Client(
        peername=("127.0.0.1", 0),
        sockname=("127.0.0.1", 0),
        timestamp_start=started,
        proxy_mode=ProxyMode.parse("regular"),
    )
    server = connection.Server(address=(host, port), timestamp_start=started)
    flow = http.HTTPFlow(client, server)
    flow.request = http.Request.make("POST", attempt.url, bytes(attempt.request_body), dict(attempt.request_headers))
    flow.request.timestamp_start = flow.request.timestamp_end = started
    flow.timestamp_created = started
    outcome: str
    if attempt.status is not None:
        first = attempt.chunk_times[0][0] if attempt.chunk_times else 0.0
        last = attempt.chunk_times[-1][0] if attempt.chunk_times else first
        response = http.Response.make(attempt.status, b"", dict(attempt.response_headers))
        if not any(name.lower() == "content-length" for name in attempt.response_headers):
            response.headers.pop("content-length", None)  # make() adds one; the provider sent none
        response.raw_content = bytes(attempt.raw)  # raw: the headers describe the bytes as they came
        response.timestamp_start = started + first
        response.timestamp_end = started + last
        flow.response = response
        server.peername = (host, port)
        outcome = str(attempt.status)
    else:
        outcome = "no answer"
    if attempt.error:
        flow.error = mflow.Error(attempt.error, started)
        if attempt.status is not None:
            outcome += f" ({attempt.error})"
        else:
            outcome = attempt.error
    flow.marked = UPSTREAM_MARKER
    flow.comment = f"fcc upstream of {client_flow.id}: attempt {number}/{total} {attempt.target} -> {outcome}"
    flow.metadata["fcc_upstream_of"] = client_flow.id
    flow.metadata["fcc_attempt"] = {"number": number, "of": total, "target": attempt.target}
    flow.live = False
    return flow
