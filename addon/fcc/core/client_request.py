"""The client's request, validated at the edge (lenient: unknown fields kept, never a 400)."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fcc.core.errors import AnthropicError, invalid_request


class ClientMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["user", "assistant", "system"]
    content: str | list[Any] = Field(default_factory=list)


class MessagesRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1)
    messages: list[ClientMessage]
    max_tokens: int | None = Field(default=None, ge=1)
    stream: bool = False
    system: str | list[Any] | None = None
    tools: list[Any] | None = None


class CountTokensRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1)
    messages: list[ClientMessage]
    system: str | list[Any] | None = None
    tools: list[Any] | None = None


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "body"
    return f"{where}: {first.get('msg', 'invalid')}"


def parse_request(raw: bytes | None, *, count_tokens: bool = False) -> tuple[dict[str, Any] | None, AnthropicError | None]:
    """Bytes -> (request dict, None) or (None, a 400 invalid_request_error)."""
    if not raw:
        return None, invalid_request("request body is empty: expected a JSON object")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return None, invalid_request(f"request body is not valid JSON: {type(exc).__name__}")
    if not isinstance(body, dict):
        return None, invalid_request("request body must be a JSON object")
    model = CountTokensRequest if count_tokens else MessagesRequest
    try:
        model.model_validate(body)
    except ValidationError as exc:
        return None, invalid_request(_describe(exc))
    if not count_tokens and not body.get("messages"):
        return None, invalid_request("messages: at least one message is required")
    return body, None
