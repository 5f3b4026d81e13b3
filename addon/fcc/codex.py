"""The Codex CLI's side of fcc: a `POST /v1/responses` request -> what the engine runs.

Parsing and translation are fcc.core's (dialects/responses_request); this module
adds routing and the request headers Codex sends, and turns every refusal into
the OpenAI error body Codex shows (`{"error": {message, type, param, code}}`).
"""

from __future__ import annotations

from dataclasses import dataclass

from fcc.config import Config
from fcc.core.dialects.client_writers import ResponsesClientWriter, ResponsesContext
from fcc.core.errors import AnthropicError
from fcc.core.dialects.responses_request import ResponsesRequestError, parse_responses_request, translate_responses_request
from fcc.core.dialects.responses_stream import openai_error_body
from fcc.router import Route, RouteError, route_codex_model

RESPONSES = "/v1/responses"
# Codex's session id (one per conversation) is what providers with session affinity key on.
_SESSION_HEADERS = ("session-id", "x-client-request-id")


@dataclass(frozen=True, slots=True)
class ResponsesRefusal:
    status: int
    message: str
    code: str | None = None
    param: str | None = None

    def body(self) -> bytes:
        return openai_error_body(self.message, "invalid_request_error" if self.status == 400 else "permission_error",
                                 self.code, self.param)


@dataclass(slots=True)
class PreparedResponses:
    request: dict  # the internal Anthropic-shaped request
    route: Route
    context: ResponsesContext
    client_headers: dict[str, str]


def prepare(raw: bytes | None, headers: dict[str, str], config: Config) -> PreparedResponses | ResponsesRefusal:
    body, error = parse_responses_request(raw)
    if error is not None:
        return ResponsesRefusal(400, f"fcc: {error}", "invalid_request_error", error.param)
    assert body is not None
    try:
        translated = translate_responses_request(body)
    except ResponsesRequestError as exc:
        return ResponsesRefusal(400, f"fcc: {exc}", "invalid_request_error", exc.param)
    try:
        route = route_codex_model(str(body["model"]), config)
    except RouteError as exc:
        return ResponsesRefusal(400, f"fcc: {exc}", "model_not_found", "model")
    client_headers: dict[str, str] = {}
    session = next((headers[name] for name in _SESSION_HEADERS if headers.get(name)), None)
    if session:
        client_headers["x-claude-code-session-id"] = session  # the engine's session-affinity header
    context = ResponsesContext(tool_map=translated.tool_map, body=body)
    return PreparedResponses(translated.request, route, context, client_headers)


def failure_answer(error: AnthropicError, model: str, stream: bool) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) for a failure decided before the engine runs (e.g. a user's quota):
    the same shapes the engine uses, so Codex keeps the message and honours the retry delay."""
    writer = ResponsesClientWriter(model, ResponsesContext())
    streamed = writer.failure_stream(error) if stream else None
    if streamed is not None:
        return 200, {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}, b"".join(streamed)
    return writer.error_answer(error)
