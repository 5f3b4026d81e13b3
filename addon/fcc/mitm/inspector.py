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

The same flows go into a flow file written with `-w` (mitmproxy's save addon),
so a saved session keeps both sides. Under plain mitmdump (no view, no `-w`)
`show_upstream` returns at once.
"""

from __future__ import annotations

import logging
import time
import urllib.parse

from mitmproxy import connection, ctx, http
from mitmproxy import flow as mflow
from mitmproxy.proxy.mode_specs import ProxyMode

from fcc.engine.records import Attempt, Trace
from fcc.mitm.runtime import bound_view

log = logging.getLogger("fcc")

UPSTREAM_MARKER = ":outbox_tray:"


def _addon(name: str):
    try:
        return ctx.master.addons.get(name)
    except Exception:  # no running master (unit tests)
        return None


def show_upstream(client_flow: http.HTTPFlow, trace: Trace) -> list[http.HTTPFlow]:
    """One flow per upstream attempt of a routed client flow, for whoever keeps flows: mitmweb's
    (or mitmproxy's) flow list and a `-w` flow file. Under plain mitmdump nothing is built."""
    if client_flow.metadata.get("fcc_upstream_flows") is not None or not trace.attempts:
        return []
    view = _addon("view")
    save = _addon("save")
    saving = save is not None and getattr(save, "stream", None) is not None
    if view is None and not saving:
        return []
    try:
        flows = upstream_flows(client_flow, trace)
        client_flow.metadata["fcc_upstream_flows"] = [f.id for f in flows]
        if saving:
            # mitmproxy's save addon writes flows as their response hook runs; these never had one.
            # (It runs after fcc's hooks, so the client flow itself follows them into the file.)
            for flow in flows:
                save.save_flow(flow)
        if view is not None:
            view.add(flows)
            bound_view()
        return flows
    except Exception:  # the inspector is a convenience; never fail a request over it
        log.debug("fcc: could not add the upstream flows", exc_info=True)
        return []


def upstream_flows(client_flow: http.HTTPFlow, trace: Trace) -> list[http.HTTPFlow]:
    total = len(trace.attempts)
    now_wall, now_mono = time.time(), time.monotonic()
    flows = []
    for number, attempt in enumerate(trace.attempts, 1):
        started = now_wall - (now_mono - attempt.started)
        flows.append(_attempt_flow(client_flow, attempt, number, total, started))
    return flows


def _attempt_flow(client_flow: http.HTTPFlow, attempt: Attempt, number: int, total: int, started: float) -> http.HTTPFlow:
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
    request_headers = http.Headers()
    for name, value in attempt.request_headers.items():
        request_headers.add(name, value)
    flow.request = http.Request.make("POST", attempt.url, bytes(attempt.request_body), request_headers)
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
        if attempt.status is None or attempt.status == 200:
            # A transport failure (no answer, or a stream cut short), as mitmproxy reports its own.
            # An error status is the answer itself: its message goes in the comment only, so the
            # flow has one ending and mitmproxy's save addon writes it once.
            flow.error = mflow.Error(attempt.error, started)
        if attempt.status is not None:
            outcome += f" ({attempt.error})"
        else:
            outcome = attempt.error
    flow.marked = UPSTREAM_MARKER
    kind = "continuation" if getattr(attempt, "continuation", False) else "attempt"
    flow.comment = f"fcc upstream of {client_flow.id}: {kind} {number}/{total} {attempt.target} -> {outcome}"
    flow.metadata["fcc_upstream_of"] = client_flow.id
    flow.metadata["fcc_attempt"] = {"number": number, "of": total, "target": attempt.target, "url": attempt.url, "kind": kind}
    flow.live = False
    return flow
