"""`POST /v1/responses` through the real mitmdump + fcc, read with httpx the way Codex reads it.

The shared process (conftest.py) has no `codex`/`default` route, so Codex's own model names
have nowhere to go: those requests, OpenAI's other paths and unknown paths must be answered by
fcc, never forwarded to the reverse target (Anthropic's place) with the client's credentials.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from fcc.core.tools import decode_state
import pytest

from tests.e2e.sdk.support import CAPTURE_KEYS, CLIENT_BEARER, UNROUTED, Fcc, assert_credentials_not_forwarded
from tests.protocol.test_responses_passthrough import SAMPLE, essentials, original_final
from tests.support.upstream_responses import Stream
from tests.support.wire_samples import load_samples
from tests.protocol.test_responses_stream import decode
from tests.support.upstream_responses import anthropic_text_stream, openai_text_stream, openai_tool_call_stream

pytestmark = pytest.mark.e2e

TIMEOUT = 60.0


def post(fcc: Fcc, path: str, body: Any, **headers: str) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with httpx.Client(timeout=TIMEOUT, trust_env=False) as client:
        return client.post(fcc.proc.base_url + path, content=raw,
                           headers={"content-type": "application/json", "authorization": f"Bearer {CLIENT_BEARER}", **headers})


def responses_body(model: str, **extra: Any) -> dict:
    return {"model": model, "stream": True, "store": False, "input": [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "You are Codex."}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}], **extra}


def openai_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"].startswith("fcc: ")
    return error


def test_a_routed_stream_is_responses_sse_and_the_client_key_stays_home(fcc: Fcc) -> None:
    upstream = fcc.upstreams["vllm"]
    mark = len(upstream.requests)
    upstream.script(openai_text_stream(["Hello ", "Codex."]))
    response = post(fcc, "/v1/responses", responses_body("vllm/test-model"))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = decode([response.content])
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[0]["type"] == "response.created" and events[-1]["type"] == "response.completed"
    [message] = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert message["content"][0]["text"] == "Hello Codex."
    assert events[-1]["response"]["usage"]["total_tokens"] == 18  # the scripted 11 in + 7 out
    [sent] = upstream.since(mark)
    assert_credentials_not_forwarded(sent, None)
    assert sent.json_body["messages"][0] == {"role": "system", "content": "You are Codex."}


def test_a_tool_call_is_a_function_call_item(fcc: Fcc) -> None:
    upstream = fcc.upstreams["vllm"]
    upstream.script(openai_tool_call_stream("exec_command", {"cmd": "echo hi"}, id="call_e2e1"))
    tools = [{"type": "function", "name": "exec_command", "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}}]
    events = decode([post(fcc, "/v1/responses", responses_body("vllm/test-model", tools=tools)).content])
    [call] = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert (call["type"], call["name"], call["call_id"], json.loads(call["arguments"])) == (
        "function_call", "exec_command", "call_e2e1", {"cmd": "echo hi"})


def test_stream_false_gets_the_response_object(fcc: Fcc) -> None:
    fcc.upstreams["vllm"].script(openai_text_stream("Whole answer."))
    response = post(fcc, "/v1/responses", responses_body("vllm/test-model", stream=False))
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "response" and body["status"] == "completed" and body["id"].startswith("resp_")
    assert body["output"][0]["content"][0]["text"] == "Whole answer."
    assert body["usage"]["total_tokens"] == body["usage"]["input_tokens"] + body["usage"]["output_tokens"]


def test_an_anthropic_native_provider_serves_codex(fcc: Fcc) -> None:
    upstream = fcc.upstreams["native"]
    mark = len(upstream.requests)
    upstream.script(anthropic_text_stream("Native hello."))
    events = decode([post(fcc, "/v1/responses", responses_body("native/native-model")).content])
    assert events[-1]["type"] == "response.completed"
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "Native hello."
    [sent] = upstream.since(mark)
    assert sent.json_body["system"] == "You are Codex." and isinstance(sent.json_body["max_tokens"], int)
    assert_credentials_not_forwarded(sent, None)


def test_a_rate_limited_provider_ends_in_response_failed_with_a_retry_hint(fcc: Fcc) -> None:
    response = post(fcc, "/v1/responses", responses_body("rl/some-model"))
    assert response.status_code == 200
    events = decode([response.content])
    assert [e["type"] for e in events] == ["response.created", "response.in_progress", "response.failed"]
    error = events[-1]["response"]["error"]
    assert error["code"] == "rate_limit_exceeded" and "try again in" in error["message"].lower()


def test_malformed_responses_requests_get_openai_shaped_400s(fcc: Fcc) -> None:
    assert openai_error(post(fcc, "/v1/responses", b"{nope"), 400)["code"] == "invalid_request_error"
    error = openai_error(post(fcc, "/v1/responses", {"model": "vllm/test-model", "input": 42}), 400)
    assert error["param"] == "input"
    assert "previous_response_id" in openai_error(
        post(fcc, "/v1/responses", responses_body("vllm/test-model", previous_response_id="resp_x")), 400)["message"]


def test_foreign_paths_pass_to_a_reverse_target_the_user_chose(fcc: Fcc) -> None:
    """This rig's reverse target is not Anthropic: what is sent to it is the user's business. An
    unroutable Codex request is still refused (fcc never hands a Responses request on)."""
    passthrough = fcc.passthrough
    mark = len(passthrough.requests)
    assert openai_error(post(fcc, "/v1/responses", responses_body("gpt-5.5")), 400)["code"] == "model_not_found"
    passthrough.script(anthropic_text_stream("through", model=UNROUTED))
    assert post(fcc, "/v1/chat/completions", {"model": "gpt-4o", "messages": []}).status_code == 200
    [forwarded] = passthrough.since(mark)
    assert forwarded.path == "/v1/chat/completions"


def test_openai_responses_passthrough_serves_the_real_stream(fcc: Fcc) -> None:
    upstream = fcc.upstreams["openai_responses"]
    mark = len(upstream.requests)
    [sample] = [s for s in load_samples() if s.file == SAMPLE]
    upstream.script(Stream([sample.body[i:i + 500] for i in range(0, len(sample.body), 500)]))
    tools = [{"type": "function", "name": "weather", "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}]
    body = responses_body("openai_responses/gpt-5", tools=tools, include=["reasoning.encrypted_content"], reasoning={"effort": "high"})
    events = decode([post(fcc, "/v1/responses", body).content])
    assert events[-1]["type"] == "response.completed"
    assert essentials(events[-1]["response"]) == essentials(original_final(sample.body))
    [sent] = upstream.since(mark)
    assert sent.path == "/v1/responses"
    assert sent.json_body == {**body, "model": "gpt-5"}  # Codex's own request, as it came
    assert_credentials_not_forwarded(sent, CAPTURE_KEYS["OPENAI_API_KEY"])


def test_claude_code_requests_reach_a_responses_only_openai_model(fcc: Fcc) -> None:
    """The Anthropic SDK on `openai_responses/<model>`: translated to /v1/responses, the real stream back."""
    upstream = fcc.upstreams["openai_responses"]
    mark = len(upstream.requests)
    [sample] = [s for s in load_samples() if s.file == SAMPLE]
    upstream.script(Stream([sample.body]))
    tools = [{"name": "weather", "description": "w", "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}}}]
    result = fcc.client().stream(model="openai_responses/gpt-5", tools=tools, thinking={"type": "enabled", "budget_tokens": 4096},
                                 max_tokens=8000)
    message = result.ok()
    assert [block.type for block in message.content] == ["thinking", "tool_use"]
    thinking, call = message.content
    # OpenAI's encrypted reasoning rides as fcc state (dropped before any other provider), for the next turn.
    assert decode_state(thinking.signature)[0] == "openai_reasoning"
    assert str(decode_state(thinking.signature)[1]).startswith("gAAAA")
    assert (call.id, call.name, call.input) == ("call_zgUaIBRPTwxxOusyyKw5NVMH", "weather", {"location": "Florence, Italy"})
    assert message.stop_reason == "tool_use"
    [sent] = upstream.since(mark)
    assert sent.path == "/v1/responses"
    body = sent.json_body
    assert body["model"] == "gpt-5" and body["reasoning"]["summary"] == "auto" and body["tools"][0]["name"] == "weather"
    assert_credentials_not_forwarded(sent, CAPTURE_KEYS["OPENAI_API_KEY"])
