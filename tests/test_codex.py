"""fcc.codex: Codex requests before the engine (refusals shaped the way Codex reads them)."""

from __future__ import annotations


def test_a_refusal_before_the_engine_reaches_a_streaming_codex_as_response_failed() -> None:
    import json

    from fcc import codex
    from fcc.core.errors import make_error

    status, headers, body = codex.failure_answer(make_error(429, "alice used her quota", retry_after=30), "gpt-5.5", True)
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[6:]) for line in body.decode().splitlines() if line.startswith("data: ")]
    assert [e["type"] for e in events] == ["response.created", "response.in_progress", "response.failed"]
    assert events[-1]["response"]["error"] == {"code": "rate_limit_exceeded",
                                               "message": "alice used her quota. Please try again in 30s."}
    status, headers, body = codex.failure_answer(make_error(403, "not allowed"), "gpt-5.5", True)
    assert status == 400 and json.loads(body)["error"]["message"] == "not allowed"
    status, headers, _ = codex.failure_answer(make_error(429, "slow", retry_after=5), "gpt-5.5", False)
    assert status == 429 and headers["retry-after"] == "5"
