"""mitmweb views of Responses traffic: a real Codex request and fcc's Responses stream, as text."""

from __future__ import annotations

import json

from fcc.core.dialects.responses_stream import ResponsesWriter
from fcc.core.events import BlockEmitter
from fcc.mitm import contentviews
from fcc.mitm.views_responses import responses_request_priority, responses_sse_priority
from tests.protocol.test_responses_captures import capture


def fcc_stream(error: bool = False) -> bytes:
    emitter = BlockEmitter("gpt-5.5")
    out = emitter.start_message()
    emitter.thinking("plan it", out)
    emitter.close_block(out, signature="s")
    emitter.text("Running it.", out)
    emitter.tool_use("call_9", "exec_command", '{"cmd":"echo T"}', out)
    if error:
        emitter.error("rate_limit_error", "slow down", out)
    else:
        emitter.stop("tool_use", {"input_tokens": 12, "output_tokens": 4}, out)
    return b"".join(ResponsesWriter("gpt-5.5").feed(out))


def test_the_stream_view_shows_status_usage_and_every_item() -> None:
    text = "\n".join(contentviews.render("Responses SSE", fcc_stream()))
    assert "model gpt-5.5  status completed" in text
    assert "input_tokens=12" in text and "total_tokens=16" in text
    assert "[0] reasoning [encrypted_content]: plan it" in text
    assert "[1] message assistant: Running it." in text
    assert '[2] function_call exec_command call_9: {"cmd":"echo T"}' in text
    assert "raw events" in text


def test_the_stream_view_shows_a_failure() -> None:
    text = "\n".join(contentviews.render("Responses SSE", fcc_stream(error=True)))
    assert "status failed" in text and "error: rate_limit_exceeded: slow down" in text


def test_the_request_view_lists_items_and_tools_of_a_real_codex_request() -> None:
    body = json.dumps(capture("codex-0.171.0-default-model-responses-lite-code-mode.json")).encode()
    text = "\n".join(contentviews.render("Responses request", body))
    assert 'model: "gpt-6.2-sol"' in text
    assert "additional_tools: functions.exec (custom), functions.wait" in text
    assert "custom_tool_call exec call_73ba55cb9d" in text
    assert "custom_tool_call_output call_73ba55cb9d: Script completed" in text
    assert "message developer:" in text and "other fields:" in text


def test_priorities_pick_responses_traffic_only() -> None:
    from mitmproxy.test import tflow

    flow = tflow.tflow()
    flow.request.path = "/v1/responses"
    assert responses_request_priority(b"{}", "application/json", flow, flow.request) == 2.0
    flow.request.path = "/v1/messages"
    assert responses_request_priority(b"{}", "application/json", flow, flow.request) == 0.0
    assert responses_sse_priority(fcc_stream(), "text/event-stream") == 2.0
    anthropic = b'event: message_start\ndata: {"type":"message_start","message":{}}\n\n'
    assert responses_sse_priority(anthropic, "text/event-stream") == 0.0
    assert contentviews.anthropic_sse_priority(fcc_stream(), "text/event-stream") == 0.0
    assert contentviews.openai_sse_priority(fcc_stream(), "text/event-stream") == 0.0
