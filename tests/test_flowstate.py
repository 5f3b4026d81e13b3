"""The addon's per-flow state: bounded, dropped when the flow ends, never in flow.metadata."""

from __future__ import annotations

from fcc.engine.records import Attempt, Trace
from fcc.mitm.flowstate import FlowStates


def test_state_is_opened_once_and_dropped_on_close() -> None:
    states = FlowStates()
    state = states.open("a")
    assert states.open("a") is state and states.get("a") is state and not state.routed
    assert states.close("a") is state
    assert states.get("a") is None and states.close("a") is None and len(states) == 0


def test_the_oldest_state_goes_when_the_bound_is_reached() -> None:
    states = FlowStates(limit=3)
    for flow_id in "abcd":
        states.open(flow_id)
    assert len(states) == 3 and states.get("a") is None and states.get("d") is not None


def test_the_first_outcome_stands_and_usage_skips_nones() -> None:
    trace = Trace()
    trace.begin_attempt(Attempt("p/m"))
    trace.finish("error 529 overloaded_error")
    trace.finish("client gone: disconnected")
    trace.add_usage({"input_tokens": 3, "output_tokens": None})
    trace.answered(529)
    assert trace.outcome == "error 529 overloaded_error" and trace.usage == {"input_tokens": 3}
    assert trace.status == 529 and trace.first_byte_ms is not None and len(trace.attempts) == 1
