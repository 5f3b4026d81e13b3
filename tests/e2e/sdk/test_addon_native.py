"""Real provider captures replayed through a real mitmdump + fcc, read by the official SDK.

OpenAI-style captures go through the provider they were recorded from (its
built-in profile, *_BASE_URL pointing at a scripted upstream, a fake key); the
message the SDK accumulates must equal the truth written by hand from each
capture (tests/protocol/test_stream_wire_samples.py). Anthropic-native
captures go through a custom `anthropic_messages` provider: the client's model
name is restored, non-standard trailers are dropped, blocks stay well-formed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from fcc.core.tools import decode_state
from tests.e2e.sdk.support import (
    BILLING_TEXT,
    CAPTURE_KEYS,
    OPUS,
    PROMPT,
    SYSTEM_TEXT,
    Fcc,
    Streamed,
    assert_clean_stream,
    assert_credentials_not_forwarded,
    assert_still_serves,
)
from tests.protocol.test_stream_rules import block_summary
from tests.protocol.test_stream_wire_samples import TRUTH, Truth
from tests.support.upstream_responses import Stream, anthropic_text_stream, sse_event
from tests.support.wire_samples import get_sample

pytestmark = pytest.mark.e2e

# capture -> (provider it was recorded from, upstream model, key variable or None)
CAPTURES: dict[str, tuple[str, str, str | None]] = {
    "openai-chat-parallel-tool-calls-stream#main": ("openai", "gpt-4o", "OPENAI_API_KEY"),
    "deepseek-chat-tool-call-stream#main": ("deepseek", "deepseek-chat", "DEEPSEEK_API_KEY"),
    "deepseek-reasoner-reasoning-content-stream#main": ("deepseek", "deepseek-reasoner", "DEEPSEEK_API_KEY"),
    "openrouter-claude-reasoning-tool-stream#main": ("openrouter", "anthropic/claude-sonnet-4", "OPENROUTER_API_KEY"),
    "mistral-tool-call-stream#main": ("mistral", "mistral-large-latest", "MISTRAL_API_KEY"),
    "mistral-tool-call-stream#second": ("mistral", "mistral-small-latest", "MISTRAL_API_KEY"),
    "ollama-v1-tool-call-whole-stream#A": ("ollama", "qwen3:8b", None),
    "inline-think-tag-streams#A": ("ollama", "qwen3:0.6b", None),
}
CHAT_PATH = {"openai": "/v1/chat/completions", "deepseek": "/chat/completions", "openrouter": "/api/v1/chat/completions",
             "mistral": "/v1/chat/completions", "ollama": "/v1/chat/completions"}
SPLITS: dict[str, Any] = {"events": "events", "61-bytes": 61}


def sample_body(sample_id: str) -> bytes:
    file, label = sample_id.split("#")
    return get_sample(f"{file}.txt", label).body


def summarise(message: Any) -> list[tuple[Any, ...]]:
    """block_summary with tool ids, in the Truth format."""
    return [
        ("tool_use", block.id, block.name, block.input) if block.type == "tool_use" else short
        for block, short in zip(message.content, block_summary(message))
    ]


def check_truth(message: Any, truth: Truth, client_model: str) -> None:
    assert message.model == client_model
    assert summarise(message) == truth.content
    assert message.stop_reason == truth.stop_reason
    assert truth.usage is not None
    usage = message.usage
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_input_tokens or 0) == truth.usage
    if truth.thinking_state is not None:
        thinking = next(block for block in message.content if block.type == "thinking")
        assert decode_state(thinking.signature) == truth.thinking_state


@pytest.mark.parametrize("split", list(SPLITS))
@pytest.mark.parametrize("sample_id", list(CAPTURES))
def test_openai_style_capture_streams_to_the_right_message(fcc: Fcc, sample_id: str, split: str) -> None:
    provider, model, key_env = CAPTURES[sample_id]
    upstream = fcc.upstreams[provider]
    mark = len(upstream.requests)
    upstream.script(Stream.from_body(sample_body(sample_id), split=SPLITS[split]))
    slug = f"{provider}/{model}"

    result = fcc.client().stream(model=slug)

    assert_clean_stream(result)
    check_truth(result.ok(), TRUTH[sample_id], slug)
    [request] = upstream.since(mark)
    assert request.path == CHAT_PATH[provider]
    assert request.json_body["model"] == model
    assert request.json_body["messages"][-1] == {"role": "user", "content": PROMPT}
    assert BILLING_TEXT.encode() not in request.body
    assert_credentials_not_forwarded(request, provider_key=CAPTURE_KEYS[key_env] if key_env else None)


@pytest.mark.parametrize("sample_id", ["openai-chat-parallel-tool-calls-stream#main", "deepseek-reasoner-reasoning-content-stream#main"])
def test_openai_style_capture_as_one_json_message(fcc: Fcc, sample_id: str) -> None:
    provider, model, _ = CAPTURES[sample_id]
    fcc.upstreams[provider].script(Stream.from_body(sample_body(sample_id)))
    client = fcc.client()

    message = client.create(model=f"{provider}/{model}")

    check_truth(message, TRUTH[sample_id], f"{provider}/{model}")
    assert client.last.headers["content-type"] == "application/json"


def test_openai_in_stream_error_after_content_is_a_final_error_event(fcc: Fcc) -> None:
    fcc.upstreams["openai"].script(Stream.from_body(sample_body("anthropic-and-openai-midstream-error#B")))

    result = fcc.client().stream(model="openai/gpt-4.1")

    error = result.failed()
    names = result.names()
    assert names[-1] == "error" and "message_stop" not in names and "message_delta" not in names
    assert error.type == "api_error"
    assert "The server had an error while processing your request" in error.body["error"]["message"]
    assert block_summary(result.snapshot) == [("text", 'The question "')]
    assert_still_serves(fcc)


# ------------------------------------------------------------ Anthropic-native ---

NATIVE_THINKING = (
    "The user is asking for weather information for Florence, Italy. I have access to a weather function that "
    'takes a location parameter. The user has provided the location as "Florence, Italy" which is specific enough '
    "for the weather function. I have all the required parameters to make the function call."
)
NATIVE_SIGNATURE_PREFIX = "EtYDCkYICxgCKkAVHEWR"  # 636 characters in all
OPENROUTER_THINKING = (
    "The user wants me to choose the best provider based on wait_ms and error_rate metrics:\n\n"
    "- OpenAI: wait_ms=1800, error_rate=0.12\n- Anthropic: wait_ms=120, error_rate=0.01\n"
    "- Gemini: wait_ms=400, error_rate=0.04\n\nAnthropic clearly wins on both metrics - lowest wait time (120ms) "
    "and lowest error rate (0.01). I'll route to Anthropic."
)
OPENROUTER_TEXT = (
    "Anthropic is the clear winner here — it has both the **lowest wait time** (120 ms vs. 400 ms and 1800 ms) "
    "and the **lowest error rate** (0.01 vs. 0.04 and 0.12). No trade-off needed; I'll route straight to Anthropic."
)
OPENROUTER_TOOL_INPUT = {
    "request_id": "req_fixture_stream_001",
    "provider": "anthropic",
    "observed_wait_ms": 120,
    "reason": "Anthropic has the lowest wait time (120 ms) and the lowest error rate (0.01), outperforming both "
    "OpenAI and Gemini on every relevant metric.",
}


def native_stream(fcc: Fcc, sample_id: str, split: Any = "events") -> tuple[Streamed, Any]:
    upstream = fcc.upstreams["native"]
    mark = len(upstream.requests)
    upstream.script(Stream.from_body(sample_body(sample_id), split=split))
    result = fcc.client().stream(model=OPUS, thinking={"type": "enabled", "budget_tokens": 1024}, max_tokens=2048)
    [request] = upstream.since(mark)
    return result, request


@pytest.mark.parametrize("split", list(SPLITS))
def test_native_capture_passes_through_with_the_client_model_name(fcc: Fcc, split: str) -> None:
    result, request = native_stream(fcc, "anthropic-native-thinking-signature-tool-use-stream#main", SPLITS[split])

    assert_clean_stream(result)
    message = result.ok()
    assert message.model == OPUS
    assert message.id.startswith("msg_")  # fcc's own message_start (it may be sent before the upstream answers)
    assert [block.type for block in message.content] == ["thinking", "tool_use"]
    thinking, tool = message.content
    assert thinking.thinking == NATIVE_THINKING
    assert thinking.signature.startswith(NATIVE_SIGNATURE_PREFIX) and len(thinking.signature) == 636
    assert (tool.id, tool.name, tool.input) == ("toolu_01Js4AMfx5qpTLhwTusnvT68", "weather", {"location": "Florence, Italy"})
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (424, 119)
    # The upstream got the client's request with the model renamed and the billing block stripped.
    assert (request.method, request.path) == ("POST", "/v1/messages")
    body = request.json_body
    assert body["model"] == "native-model"
    assert body["system"] == [{"type": "text", "text": SYSTEM_TEXT}]
    assert body["messages"] == [{"role": "user", "content": PROMPT}]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert body["stream"] is True
    assert request.header("anthropic-version") == "2023-06-01"
    assert_credentials_not_forwarded(request, provider_key=None)


def test_openrouter_anthropic_endpoint_capture_is_cleaned_up(fcc: Fcc) -> None:
    result, request = native_stream(fcc, "openrouter-anthropic-messages-endpoint-adaptive-thinking-tool-stream#main")

    names = assert_clean_stream(result)  # strict read: every event well-formed, blocks numbered 0..n
    raw = result.wire.body
    assert b"[DONE]" not in raw and b"event: data" not in raw
    assert names[-1] == "message_stop"
    message = result.ok()
    assert message.model == OPUS
    assert [block.type for block in message.content] == ["thinking", "text", "tool_use", "redacted_thinking"]
    thinking, text, tool, redacted = message.content
    assert thinking.thinking == OPENROUTER_THINKING and thinking.signature.startswith("EpMECmUIDxgCKkAMzSFb")
    assert text.text == OPENROUTER_TEXT
    assert (tool.id, tool.name, tool.input) == ("toolu_01GqmkpGoJRfAT2zBdva1bgV", "get_route_decision", OPENROUTER_TOOL_INPUT)
    assert redacted.data.startswith("openrouter.reasoning:eyJzaWduYXR1cmUi")
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (743, 360)
    start = result.wire.events()[0].data["message"]
    assert start["model"] == OPUS
    assert start["usage"]["input_tokens"] > 0, "OpenRouter's zeroed message_start usage must not reach the client"
    assert request.json_body["model"] == "native-model"


def test_native_answer_as_one_json_message(fcc: Fcc) -> None:
    fcc.upstreams["native"].script(Stream.from_body(sample_body("anthropic-native-thinking-signature-tool-use-stream#main")))
    client = fcc.client()

    message = client.create(model=OPUS, max_tokens=2048)

    assert message.model == OPUS
    assert [block.type for block in message.content] == ["thinking", "tool_use"]
    assert message.content[0].thinking == NATIVE_THINKING
    assert message.content[1].input == {"location": "Florence, Italy"}
    assert message.stop_reason == "tool_use"
    assert json.loads(client.last.body)["model"] == OPUS


def test_native_in_stream_error_after_content_is_a_final_error_event(fcc: Fcc) -> None:
    """Anthropic's own mid-stream `event: error` after some text ends the client's stream with that error."""
    upstream_chunks = anthropic_text_stream("Partial native answer", model="native-model").chunks
    error = sse_event("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    fcc.upstreams["native"].script(Stream([*upstream_chunks[:4], error]))  # start, block, ping, first delta

    result = fcc.client().stream(model=OPUS)

    raised = result.failed()
    names = result.names()
    assert names == ["message_start", "content_block_start", "content_block_delta", "error"]
    assert raised.type == "overloaded_error" and "Overloaded" in raised.body["error"]["message"]
    assert block_summary(result.snapshot) == [("text", "Partial")]
    assert_still_serves(fcc)


@pytest.mark.parametrize(
    "split",
    [
        pytest.param("events"),
        pytest.param(100_000, id="one-read"),
    ],
)
def test_native_error_after_an_empty_block_is_retried_whatever_the_chunking(fcc: Fcc, split: Any) -> None:
    """Capture (A): message_start, an empty text block, ping, `event: error` Overloaded. Nothing was said yet."""
    upstream = fcc.upstreams["native"]
    mark = len(upstream.requests)
    upstream.script(Stream.from_body(sample_body("anthropic-and-openai-midstream-error#A"), split=split),
                    anthropic_text_stream("Second try worked.", model="native-model"))

    result = fcc.client().stream(model=OPUS)

    assert_clean_stream(result)
    assert [block.type for block in result.ok().content] == ["text"]
    assert result.ok().content[0].text == "Second try worked."
    assert len(upstream.since(mark)) == 2
