"""Upstream HTTP errors -> the Anthropic error Claude Code should see.

The real bodies come from wire-samples/provider-error-bodies-429-400.txt (via
tests/support). Every mapped error is also handed to the official SDK, which
picks its exception class and retry decision from the status and headers.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import pytest

from fcc.core.errors import (
    CLIENT_MAX_RETRY_AFTER,
    ERROR_TYPE_BY_STATUS,
    STATUS_BY_ERROR_TYPE,
    AnthropicError,
    make_error,
    map_upstream_error,
    parse_duration,
    parse_retry_after,
)
from fcc.core.events import error_event
from tests.protocol.test_stream_rules import ERROR_TYPES, sdk_client
from tests.support.error_bodies import ProviderErrorBody
from tests.support.wire_samples import get_sample, provider_error_bodies

# Statuses ../shared/DESIGN.md allows the client to see (402 is the documented billing_error).
CLIENT_STATUSES = {400, 402, 403, 404, 413, 429, 500, 504, 529}
# The SDK's ErrorType literal, plus the 413 type Anthropic's edge sends (protocol-notes A.9).
HTTP_ERROR_TYPES = ERROR_TYPES | {"request_too_large"}
SDK_CLASS_BY_STATUS: dict[int, type[anthropic.APIStatusError]] = {
    400: anthropic.BadRequestError,
    403: anthropic.PermissionDeniedError,
    404: anthropic.NotFoundError,
    413: anthropic.RequestTooLargeError,
    429: anthropic.RateLimitError,
    500: anthropic.InternalServerError,
    504: anthropic.InternalServerError,
    529: anthropic.OverloadedError,
}


def real_body(body_id: str) -> ProviderErrorBody:
    for body in provider_error_bodies():
        if body.id == body_id:
            return body
    raise KeyError(body_id)


def as_response(error: AnthropicError) -> httpx.Response:
    return httpx.Response(
        error.status,
        headers=error.response_headers(),
        content=error.body_bytes(),
        request=httpx.Request("POST", "http://fcc.test/v1/messages"),
    )


def check_client_shape(error: AnthropicError) -> anthropic.APIStatusError:
    """Anthropic JSON body, allowed status, and the SDK agrees on class and type."""
    assert error.status in CLIENT_STATUSES, error.status
    body = json.loads(error.body_bytes())
    assert body["type"] == "error"
    assert set(body["error"]) == {"type", "message"}
    assert body["error"]["type"] in HTTP_ERROR_TYPES
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert error.response_headers()["content-type"] == "application/json"
    sdk_error = sdk_client()._make_status_error_from_response(as_response(error))
    if error.status in SDK_CLASS_BY_STATUS:
        assert type(sdk_error) is SDK_CLASS_BY_STATUS[error.status]
    assert sdk_error.type == body["error"]["type"]
    return sdk_error


def sdk_would_retry(error: AnthropicError) -> bool:
    return sdk_client()._should_retry(as_response(error))


def map_real(body_id: str, headers: dict[str, str] | None = None) -> AnthropicError:
    body = real_body(body_id)
    error = map_upstream_error(body.status, body.body, headers, provider=body.provider, model="some-model")
    check_client_shape(error)
    return error


# --------------------------------------------------------------------------- the real bodies


WRITTEN_EXPECTATIONS = {
    "groq-429-A",
    "groq-413-B",
    "anthropic-429-D",
    "nvidia_nim-400-E",
    "mistral-400-F1",
    "mistral-400-F2",
    "deepseek-400-G",
    "cerebras-400-H",
    "groq-400-I",
    "moonshot-400-J1",
    "moonshot-400-J2",
}


def test_every_real_error_body_has_an_expectation() -> None:
    assert {body.id for body in provider_error_bodies()} == WRITTEN_EXPECTATIONS


def test_groq_429_tokens_per_day_tells_the_client_not_to_wait() -> None:
    """'try again in 9m52.272s' is past the 60 s the client honours: 429 with the real wait, not retried."""
    error = map_real("groq-429-A")
    assert error.status == 429 and error.type == "rate_limit_error"
    assert int(error.headers["retry-after"]) == 592
    assert int(error.headers["retry-after"]) > CLIENT_MAX_RETRY_AFTER
    assert "592" in error.message, "the user should learn when the quota resets"
    assert "tokens per day" in error.message


def test_groq_429_with_its_documented_headers_uses_retry_after() -> None:
    body = real_body("groq-429-A")
    assert body.documented_headers["retry-after"] == "2"
    error = map_real("groq-429-A", dict(body.documented_headers))
    assert error.status == 429 and error.headers["retry-after"] == "2"


def test_without_retry_after_the_reset_of_the_exhausted_limit_is_used() -> None:
    headers = dict(real_body("groq-429-A").documented_headers)
    del headers["retry-after"]
    headers["x-ratelimit-remaining-tokens"] = "0"
    error = map_upstream_error(429, real_body("groq-429-A").body, headers, provider="groq")
    assert 7 <= int(error.headers["retry-after"]) <= 8


def test_groq_413_tokens_per_minute_keeps_the_reason() -> None:
    error = map_real("groq-413-B")
    assert "Request too large" in error.message and "Limit 8000, Requested 11881" in error.message
    assert error.status != 401


def test_groq_413_over_the_per_minute_budget_is_not_retried() -> None:
    error = map_real("groq-413-B")
    assert error.status in (400, 413)
    assert not sdk_would_retry(error)


def test_truncated_anthropic_429_keeps_status_and_text() -> None:
    error = map_real("anthropic-429-D")
    assert error.status == 429 and error.type == "rate_limit_error"
    assert "per-minute rate limit" in error.message


@pytest.mark.parametrize(
    ("body_id", "phrase"),
    [
        ("nvidia_nim-400-E", '"auto" tool choice requires --enable-auto-tool-choice'),
        ("mistral-400-F1", "Tool call id was toolu_01VpEm654HvfMoRcrE3Hgdc6 but must be a-z, A-Z, 0-9"),
        ("mistral-400-F2", "Unexpected role 'user' after role 'tool'"),
        ("deepseek-400-G", "The reasoning_content in the thinking mode must be passed back"),
        ("cerebras-400-H", "property 'messages.2.assistant.reasoning_content' is unsupported"),
        ("groq-400-I", "property 'reasoning_content' is unsupported"),
        ("moonshot-400-J1", "reasoning_content is missing in assistant tool call message"),
        ("moonshot-400-J2", "tool_choice specified is incompatible with thinking enabled"),
    ],
)
def test_provider_400s_become_non_retried_invalid_request_errors(body_id: str, phrase: str) -> None:
    error = map_real(body_id)
    assert error.status == 400 and error.type == "invalid_request_error"
    assert phrase in error.message
    assert not sdk_would_retry(error)
    assert "prompt is too long" not in error.message


def test_openrouter_429_retry_after_seconds_from_metadata() -> None:
    sample = get_sample("openrouter-in-stream-error.txt", "D")
    error = map_upstream_error(429, sample.body, None, provider="openrouter")
    check_client_shape(error)
    assert error.status == 429 and error.headers["retry-after"] == "17"
    assert "temporarily rate-limited upstream" in error.message, "the upstream reason lives in metadata.raw"


# --------------------------------------------------------------------------- retry-after


@pytest.mark.parametrize("header_name", ["retry-after", "Retry-After", "RETRY-AFTER"])
def test_retry_after_header_is_kept(header_name: str) -> None:
    error = map_upstream_error(429, b'{"error":{"message":"slow down"}}', {header_name: "17"})
    assert error.headers["retry-after"] == "17"
    assert sdk_client()._parse_retry_after_header(as_response(error).headers) == 17


def test_retry_after_on_a_5xx_is_kept() -> None:
    error = map_upstream_error(503, b'{"error":{"message":"busy"}}', {"retry-after": "5"})
    check_client_shape(error)
    assert error.status == 529 and error.headers["retry-after"] == "5"


@pytest.mark.parametrize(
    ("headers", "body", "seconds"),
    [
        ({"retry-after": "17"}, None, 17.0),
        ({"retry-after-ms": "1500"}, None, 1.5),
        ({"x-ratelimit-reset-tokens": "7.66s"}, None, 7.66),
        ({"x-ratelimit-reset-requests": "2m59.56s"}, None, 179.56),
        ({"x-ratelimit-reset-tokens": "6m0s"}, None, 360.0),
        (None, {"error": {"message": "x", "metadata": {"retry_after_seconds": 17}}}, 17.0),
        (None, {"error": {"message": "Please try again in 9m52.272s. Need more tokens?"}}, 592.272),
        (None, {"error": {"message": "no hint here"}}, None),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, None, 0.0),
    ],
)
def test_parse_retry_after_shapes(headers: dict[str, str] | None, body: Any, seconds: float | None) -> None:
    parsed = parse_retry_after(headers, body)
    if seconds is None:
        assert parsed is None
    else:
        assert parsed == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "seconds"), [("120ms", 0.12), ("1h2m3s", 3723.0), ("2.5", 2.5), ("soon", None), ("", None)]
)
def test_parse_duration(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


# --------------------------------------------------------------------------- never 401


@pytest.mark.parametrize(
    ("status", "raw_body"),
    [
        (401, b"Authentication Fails (governor)"),  # DeepSeek plain text
        (401, b'{"error":"Unauthorized"}'),  # vLLM
        (401, b'{"detail":"Unauthorized"}'),  # Mistral
        (401, b'{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","code":"invalid_api_key"}}'),
        (403, b'{"error":{"code":403,"message":"Permission denied","status":"PERMISSION_DENIED"}}'),
        (403, b""),
    ],
)
def test_auth_failures_are_never_401(status: int, raw_body: bytes) -> None:
    error = map_upstream_error(status, raw_body, provider="deepseek")
    check_client_shape(error)
    assert error.status == 403 and error.type == "permission_error"
    assert "deepseek" in error.message, "the message names the provider whose key to check"
    assert not sdk_would_retry(error)


@pytest.mark.parametrize("status", range(400, 600))
def test_no_upstream_status_maps_to_401(status: int) -> None:
    error = map_upstream_error(status, b'{"error":{"message":"x","type":"authentication_error"}}')
    check_client_shape(error)
    assert error.status != 401 and error.type != "authentication_error"


# --------------------------------------------------------------------------- context overflow


@pytest.mark.parametrize(
    ("status", "raw_body"),
    [
        (
            400,
            b'{"error":{"message":"This model\'s maximum context length is 128000 tokens. However, your messages '
            b'resulted in 130542 tokens. Please reduce the length of the messages.","type":"invalid_request_error",'
            b'"param":"messages","code":"context_length_exceeded"}}',
        ),
        (
            400,
            b'{"error":{"message":"This model\'s maximum context length is 32768 tokens. However, you requested 40000 '
            b'tokens (35000 in the messages, 5000 in the completion).","type":"BadRequestError","param":null,"code":400}}',
        ),
        (400, b'{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}'),
        (413, b'{"error":{"message":"Input is too long for requested model.","type":"invalid_request_error"}}'),
    ],
    ids=["openai", "vllm", "anthropic", "413-input-too-long"],
)
def test_context_overflow_says_prompt_is_too_long(status: int, raw_body: bytes) -> None:
    error = map_upstream_error(status, raw_body, provider="p", model="m")
    check_client_shape(error)
    assert error.status == 400 and error.type == "invalid_request_error"
    assert "prompt is too long" in error.message
    assert not sdk_would_retry(error)


def test_llama_cpp_context_overflow_says_prompt_is_too_long() -> None:
    raw_body = (
        b'{"error":{"code":400,"message":"request (4476 tokens) exceeds the available context size (4096 tokens)",'
        b'"type":"exceed_context_size_error","n_prompt_tokens":4476,"n_ctx":4096}}'
    )
    error = map_upstream_error(400, raw_body, provider="llamacpp")
    assert "prompt is too long" in error.message


# --------------------------------------------------------------------------- secrets


@pytest.mark.parametrize(
    "key",
    [
        "sk-or-v1-" + "0123456789abcdef0123456789abcdef",
        "nvapi-" + "AbCdEfGhIjKlMnOpQrStUvWxYz012345",
        "gsk_" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
        "AIza" + "SyA1234567890abcdefghijklmnopqrs",
        "sk-ant-" + "api03-AbCdEfGhIjKlMnOp",
        "sk-proj-AbCdEfGhIjKlMnOpQrSt",
    ],
)
def test_a_key_in_the_body_is_redacted(key: str) -> None:
    raw_body = json.dumps({"error": {"message": f"Invalid API key: {key}. Check your settings."}}).encode()
    error = map_upstream_error(401, raw_body, provider="p")
    assert key not in error.message and key.encode() not in error.body_bytes()
    assert "[redacted]" in error.message


def test_the_configured_key_is_redacted_whatever_its_format() -> None:
    key = "local-custom-key-42"
    raw_body = json.dumps({"error": {"message": "bad key", "metadata": {"raw": f"key {key} rejected"}}}).encode()
    error = map_upstream_error(400, raw_body, provider="p", secrets=(key,))
    assert key not in error.message and "[redacted]" in error.message


def test_a_bearer_token_echoed_in_plain_text_is_redacted() -> None:
    error = map_upstream_error(400, b"bad header Authorization: Bearer abc.def-ghi_jkl123", provider="p")
    assert "abc.def-ghi_jkl123" not in error.message


# --------------------------------------------------------------------------- HTML


CLOUDFLARE_502 = (
    b"<!DOCTYPE html>\n<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n<center><h1>502 Bad Gateway"
    b"</h1></center>\n<hr><center>cloudflare</center>\n</body>\n</html>\n"
)


@pytest.mark.parametrize(
    ("status", "raw_body"),
    [
        (502, CLOUDFLARE_502),
        (504, b"\n\n  " + CLOUDFLARE_502.replace(b"502 Bad Gateway", b"504 Gateway Time-out")),
        (524, b"<html><body>A timeout occurred</body></html>"),
        (500, b"<HTML><HEAD><TITLE>Error</TITLE></HEAD></HTML>"),
    ],
)
def test_html_bodies_never_reach_the_message(status: int, raw_body: bytes) -> None:
    error = map_upstream_error(status, raw_body, provider="p")
    check_client_shape(error)
    assert "<" not in error.message and "html" not in error.message.lower()
    assert error.status in (500, 504, 529)


def test_html_inside_openrouter_metadata_raw_is_not_leaked() -> None:
    raw_body = json.dumps(
        {"error": {"message": "Provider returned error", "code": 502, "metadata": {"raw": CLOUDFLARE_502.decode(), "provider_name": "X"}}}
    ).encode()
    error = map_upstream_error(502, raw_body, provider="openrouter")
    assert "<" not in error.message and "html" not in error.message.lower()


def test_plain_text_bodies_are_kept_but_bounded() -> None:
    error = map_upstream_error(500, b"upstream exploded " + b"x" * 5000, provider="p")
    assert "upstream exploded" in error.message
    assert len(error.message) < 700


def test_a_deeply_nested_error_body_does_not_raise() -> None:
    error = map_upstream_error(500, b"[" * 100_000, provider="p")
    assert error.status == 500


def test_status_and_error_type_tables_are_each_others_inverse() -> None:
    assert set(STATUS_BY_ERROR_TYPE) == set(ERROR_TYPE_BY_STATUS.values())
    for error_type, status in STATUS_BY_ERROR_TYPE.items():
        assert ERROR_TYPE_BY_STATUS[status] == error_type


def test_an_error_body_has_the_in_stream_error_event_shape() -> None:
    error = make_error(429, "slow down")
    assert json.loads(error.body_bytes()) == error_event("rate_limit_error", "slow down")
