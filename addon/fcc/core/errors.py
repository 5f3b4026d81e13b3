"""Anthropic-shaped errors, and the mapping from any upstream failure onto them.

The client (Claude Code) decides whether to retry from the status code and two
headers, so the mapping is chosen for the client's behaviour
(../shared/research/claude-code-client.md section 5):

- 429 + retry-after <= 60 s: retried after that delay; > 60 s: not retried at all.
- 529: only three attempts in total. 500: retried for about three minutes.
- 401: retried for three minutes, so it is never used for a configuration problem.
- `x-should-retry: false` stops the retry loop.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from email.utils import parsedate_to_datetime
from dataclasses import dataclass, field
from typing import Any

from fcc.core.credentials import redact
from fcc.core.events import error_event

ERROR_TYPE_BY_STATUS: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "invalid_request_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}

# The status of an answer that fails with an error of this type before anything was sent
# (an in-stream error, or a reader's own): one status per type, ERROR_TYPE_BY_STATUS's inverse.
STATUS_BY_ERROR_TYPE: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}

# The longest retry-after the client honours; longer ones make it give up at once.
CLIENT_MAX_RETRY_AFTER = 60

_CONTEXT_MARKERS = (
    "context_length_exceeded",
    "context length",
    "context window",
    "maximum context",
    "prompt is too long",
    "too many tokens",
    "input is too long",
    "reduce the length",
    "exceeds the model's",
    "max_model_len",
    "context_window_exceeded",
    "exceeds the available context size",
    "exceed_context_size",
)
@dataclass(slots=True)
class AnthropicError:
    status: int
    type: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return error_event(self.type, self.message)  # the same shape as the in-stream error event

    def body_bytes(self) -> bytes:
        return json.dumps(self.body(), ensure_ascii=False).encode()

    def response_headers(self) -> dict[str, str]:
        return {"content-type": "application/json", **self.headers}

    def stream_error_type(self) -> str:
        """The type to use for an `event: error` once the stream has begun."""
        return self.type


def make_error(
    status: int,
    message: str,
    *,
    error_type: str | None = None,
    retry_after: float | None = None,
    should_retry: bool | None = None,
) -> AnthropicError:
    headers: dict[str, str] = {}
    if retry_after is not None:
        headers["retry-after"] = str(max(0, int(round(retry_after))))
    if should_retry is not None:
        headers["x-should-retry"] = "true" if should_retry else "false"
    return AnthropicError(status, error_type or ERROR_TYPE_BY_STATUS.get(status, "api_error"), message, headers)


def invalid_request(message: str) -> AnthropicError:
    return make_error(400, message, should_retry=False)


def parse_retry_after(headers: dict[str, str] | None, body: object = None) -> float | None:
    """Seconds to wait, from any of the shapes providers use; None if unknown."""
    if headers:
        lowered = {k.lower(): v for k, v in headers.items()}
        value = lowered.get("retry-after")
        if value:
            seconds = _parse_seconds_or_date(value)
            if seconds is not None:
                return seconds
        value = lowered.get("retry-after-ms")
        if value:
            try:
                return float(value) / 1000.0
            except ValueError:
                pass
        # Use the reset of the budget that actually ran out (requests or tokens).
        candidates = []
        for budget in ("requests", "tokens"):
            reset = lowered.get(f"x-ratelimit-reset-{budget}")
            if reset and lowered.get(f"x-ratelimit-remaining-{budget}", "").strip() == "0":
                candidates.append(reset)
        if not candidates:
            candidates = [v for v in (lowered.get("x-ratelimit-reset-requests"), lowered.get("x-ratelimit-reset-tokens"),
                                      lowered.get("x-ratelimit-reset")) if v]
            candidates = candidates[:1]
        for value in candidates:
            seconds = parse_duration(value)
            if seconds is not None:
                return seconds
    if isinstance(body, dict):
        meta = body.get("error", {}).get("metadata") if isinstance(body.get("error"), dict) else None
        if isinstance(meta, dict) and isinstance(meta.get("retry_after_seconds"), (int, float)):
            return float(meta["retry_after_seconds"])
        message = extract_message(body)
        match = re.search(r"try again in ([0-9hms.]+)", message or "")
        if match:
            return parse_duration(match.group(1))
    return None


def _parse_seconds_or_date(value: str) -> float | None:
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    now = _dt.datetime.now(when.tzinfo or _dt.UTC)
    return max(0.0, (when - now).total_seconds())


_DURATION_PART = re.compile(r"([0-9]*\.?[0-9]+)(ms|h|m|s)")


def parse_duration(text: str) -> float | None:
    """Go-style durations (`6m0s`, `2m59.56s`, `120ms`) or plain seconds."""
    text = text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _DURATION_PART.findall(text)
    if not parts:
        return None
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(number) * scale[unit] for number, unit in parts)


def extract_message(body: object) -> str:
    """The human message in any provider error shape (object, flat, list, string, FastAPI detail)."""
    if isinstance(body, list) and body:
        return extract_message(body[0])
    if isinstance(body, str):
        return body
    if not isinstance(body, dict):
        return ""
    error = body.get("error")
    if isinstance(error, dict):
        message = error.get("message") or ""
        meta = error.get("metadata")
        if isinstance(meta, dict) and isinstance(meta.get("raw"), str) and meta["raw"] and not meta["raw"].lstrip().startswith("<"):
            raw = meta["raw"]
            inner = ""
            try:
                inner = extract_message(json.loads(raw))
            except ValueError:
                inner = raw
            if inner and inner not in message:
                message = f"{message}: {inner}" if message else inner
        return str(message)
    if isinstance(error, str):
        return error
    if isinstance(message := body.get("message"), str):
        return message
    detail = body.get("detail")
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        return "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
    return ""


def _error_code(body: object) -> str:
    if isinstance(body, list) and body:
        return _error_code(body[0])
    if isinstance(body, dict):
        error = found if isinstance(found := body.get("error"), dict) else body
        parts = [str(error.get(k, "")) for k in ("code", "type", "status")]
        return " ".join(parts).lower()
    return ""


def is_context_overflow(message: str, body: object = None) -> bool:
    text = (message + " " + _error_code(body)).lower()
    return any(marker in text for marker in _CONTEXT_MARKERS)


def map_upstream_error(
    status: int,
    raw_body: bytes,
    headers: dict[str, str] | None = None,
    *,
    provider: str = "upstream",
    model: str = "",
    secrets: tuple[str, ...] = (),
) -> AnthropicError:
    """Upstream HTTP error -> the Anthropic error the client should see."""
    try:
        body: object = json.loads(raw_body.decode("utf-8", "replace")) if raw_body.strip() else None
    except (ValueError, RecursionError):
        body = None
    message = extract_message(body) if body is not None else ""
    if not message:
        text = raw_body.decode("utf-8", "replace").strip()
        message = "" if text.lstrip().startswith("<") else text[:500]
    message = redact(message.strip(), secrets)[:2000]
    where = f"{provider}/{model}" if model else provider
    retry_after = parse_retry_after(headers, body)

    if is_context_overflow(message, body) and status in (400, 413, 422, 500, 504):
        return make_error(400, f"prompt is too long: {where} rejected the request: {message}", should_retry=False)
    summary = f"{where} returned HTTP {status}" + (f": {message}" if message else "")
    if status == 413 and "rate_limit" in _error_code(body):
        # One request larger than the per-minute token budget can never succeed: do not retry it.
        return make_error(
            413, f"{summary} (this request alone exceeds {provider}'s per-minute token budget; "
            "use a model with a larger limit)", should_retry=False,
        )
    if status == 429:
        if retry_after is not None and retry_after > CLIENT_MAX_RETRY_AFTER:
            # The client refuses to wait this long; say so rather than have it retry blindly.
            return make_error(429, f"{summary} (quota resets in {int(retry_after)} s)", retry_after=retry_after)
        return make_error(429, summary, retry_after=retry_after if retry_after is not None else None)
    if status in (401, 403):
        # Never 401: the client would retry a bad provider key for three minutes.
        return make_error(
            403, f"{summary}. Check the API key variable for provider '{provider}'.", error_type="permission_error"
        )
    if status == 402:
        return make_error(402, summary, error_type="billing_error", should_retry=False)
    if status == 404:
        return make_error(404, summary, should_retry=False)
    if status == 413:
        return make_error(413, summary)
    if 400 <= status < 500:
        return make_error(400, summary, should_retry=False)
    if status in (502, 503, 529) or "overloaded" in message.lower() or "capacity" in message.lower():
        return make_error(529, summary, retry_after=retry_after)
    if status == 504:
        return make_error(504, summary, retry_after=retry_after)
    return make_error(500, summary, retry_after=retry_after)


def stream_error_type_for(status: int | None, message: str = "") -> str:
    """Anthropic error type for an in-stream failure reported with an HTTP-like code."""
    if status is None:
        return "api_error"
    if status == 429:
        return "rate_limit_error"
    if status in (502, 503, 529) or "overload" in message.lower():
        return "overloaded_error"
    if 400 <= status < 500:
        return ERROR_TYPE_BY_STATUS.get(status, "invalid_request_error")
    return "api_error"
