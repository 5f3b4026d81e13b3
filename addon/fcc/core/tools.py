"""Tool-call hygiene: id formats, argument JSON validation and cheap repair,
and opaque provider state carried through Claude Code's history.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from typing import Any

_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ALNUM9 = re.compile(r"^[A-Za-z0-9]{9}$")


def new_tool_id() -> str:
    return "toolu_" + uuid.uuid4().hex[:24]


def alnum9(tool_id: str) -> str:
    """Deterministic 9-alphanumeric alias for any id (Mistral validates `[a-zA-Z0-9]{9}`).

    Deterministic so that the assistant's `tool_calls[].id` and the later
    `tool_call_id` of its result map to the same alias with no shared state.
    """
    if _ALNUM9.match(tool_id):
        return tool_id
    number = int.from_bytes(hashlib.sha256(tool_id.encode()).digest()[:8], "big")
    chars = []
    for _ in range(9):
        number, digit = divmod(number, 62)
        chars.append(_ALNUM[digit])
    return "".join(chars)


class ToolIdCodec:
    """Maps client tool ids to the provider's format and back, per request."""

    __slots__ = ("_format", "to_provider", "to_client")

    def __init__(self, id_format: str) -> None:
        self._format = id_format
        self.to_provider: dict[str, str] = {}
        self.to_client: dict[str, str] = {}

    def encode(self, client_id: str) -> str:
        if self._format != "alnum9":
            return client_id
        alias = self.to_provider.get(client_id)
        if alias is None:
            alias = alnum9(client_id)
            self.to_provider[client_id] = alias
            self.to_client[alias] = client_id
        return alias

    def decode(self, provider_id: str) -> str:
        return self.to_client.get(provider_id, provider_id)


_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def parse_tool_arguments(raw: str | dict[str, Any] | list[Any] | None) -> tuple[dict[str, Any], bool]:
    """Parse tool-call arguments into a JSON object.

    Returns (arguments, ok). When the text is not valid JSON, cheap repairs are
    tried (trailing commas, a duplicated object, unclosed strings/brackets, a
    markdown fence). When nothing works the raw text is kept under
    `_raw_arguments`, so the client's tool validation reports it to the model
    and nothing the model wrote is lost.
    """
    if raw is None:
        return {}, True
    if isinstance(raw, dict):
        return raw, True
    if isinstance(raw, list):
        return {"_raw_arguments": json.dumps(raw)}, False
    text = raw.strip()
    if not text:
        return {}, True
    value = _loads(text)
    if isinstance(value, dict):
        return value, True
    repaired = _repair(text)
    if isinstance(repaired, dict):
        return repaired, True
    return {"_raw_arguments": raw}, False


_MISSING = object()


def _loads(text: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return _MISSING


def _repair(text: str) -> object:
    if text.startswith("```"):
        text = text.strip("`")
        text = text[4:] if text.startswith("json") else text
        text = text.strip()
        value = _loads(text)
        if value is not _MISSING:
            return value
    # A provider that repeats the whole object (`{"a":1}{"a":1}`): keep the first.
    try:
        value, _end = json.JSONDecoder().raw_decode(text)
        if isinstance(value, dict):
            return value
    except (ValueError, RecursionError):
        pass
    value = _loads(_TRAILING_COMMA.sub(r"\1", text))
    if value is not _MISSING:
        return value
    return _loads(_close_unbalanced(_TRAILING_COMMA.sub(r"\1", text)))


def _close_unbalanced(text: str) -> str:
    """Close an unterminated string and any open brackets (a truncated object)."""
    stack: list[str] = []
    in_string = False
    escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            stack.append("}" if char == "{" else "]")
        elif char in "}]" and stack:
            stack.pop()
    suffix = '"' if in_string else ""
    body = (text + suffix).rstrip()
    if body.endswith(","):
        body = body[:-1]
    if body.endswith(":"):
        body += "null"
    return body + "".join(reversed(stack))


def is_complete_json(text: str) -> bool:
    if not text.strip():
        return True
    try:
        json.loads(text)
        return True
    except (ValueError, RecursionError):
        return False


def without_lone_surrogates(text: str) -> str:
    """A lone surrogate (escaped or raw) cannot be encoded as UTF-8 by the client; replace it."""
    if "\\ud" in text.lower() or any("\ud800" <= ch <= "\udfff" for ch in text):
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            return text.encode("utf-8", "replace").decode("utf-8") if text else text
        cleaned = json.dumps(value, ensure_ascii=False)
        return cleaned.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


# Opaque provider state travels inside Anthropic fields Claude Code echoes back
# verbatim: a thinking block's `signature`, or a `redacted_thinking` block's `data`.
STATE_PREFIX = "fcc1."


def encode_state(kind: str, payload: object) -> str:
    data = json.dumps({"k": kind, "p": payload}, separators=(",", ":")).encode()
    return STATE_PREFIX + base64.urlsafe_b64encode(data).decode()


def decode_state(value: str | None) -> tuple[str, object] | None:
    if not value or not value.startswith(STATE_PREFIX):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(value[len(STATE_PREFIX) :].encode()))
        return str(data["k"]), data["p"]
    except (ValueError, KeyError, TypeError, RecursionError):
        return None


def is_fcc_signature(value: str | None) -> bool:
    """True for signatures fcc made up (never valid at Anthropic itself)."""
    return bool(value) and (value.startswith(STATE_PREFIX) or value == SYNTHETIC_SIGNATURE)  # type: ignore[union-attr]


# Anthropic requires a signature on thinking blocks sent back; this marks one made by fcc.
SYNTHETIC_SIGNATURE = "fcc1.synthetic"
