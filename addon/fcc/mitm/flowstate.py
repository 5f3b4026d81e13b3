"""Per-flow live state, owned by the addon and keyed by flow id.

mitmproxy serialises `flow.metadata` into flow files (`mitmdump -w`, mitmweb's
save), so it only ever holds plain, credential-free data. The engine's live
objects (the request record with the client's headers, the trace with raw
upstream bytes) live here instead, as mitmproxy's own addons keep theirs, and
are dropped when the flow ends (response or error). The store is bounded so a
flow that never ends cannot grow it without limit.

One store per process (a module global): a reload of the entry script brings a
new addon object, and flows already in flight must still find their state.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from fcc.engine.records import RequestRecord, Trace

LIMIT = 4096  # flows in flight at once; far above what one proxy serves


@dataclass
class FlowState:
    client_request: dict | None = None  # the request as it arrived, for record mode (credentials included)
    record: RequestRecord | None = None  # set when the flow is routed to the engine
    trace: Trace | None = None
    # The client's body and framing headers, kept while the sidecar leg carries none (see addon._redirect).
    held_body: tuple[bytes | None, list[tuple[str, str]]] | None = None

    @property
    def routed(self) -> bool:
        return self.record is not None and self.trace is not None


class FlowStates:
    def __init__(self, limit: int = LIMIT) -> None:
        self._limit = limit
        self._states: OrderedDict[str, FlowState] = OrderedDict()

    def open(self, flow_id: str) -> FlowState:
        state = self._states.get(flow_id)
        if state is None:
            state = self._states[flow_id] = FlowState()
            while len(self._states) > self._limit:
                self._states.popitem(last=False)  # the oldest: a flow that never ended
        return state

    def get(self, flow_id: str) -> FlowState | None:
        return self._states.get(flow_id)

    def close(self, flow_id: str) -> FlowState | None:
        return self._states.pop(flow_id, None)

    def __len__(self) -> int:
        return len(self._states)


STATES = FlowStates()
