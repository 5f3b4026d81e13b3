"""Credentials, in one place: which headers carry them, how fcc shows them masked, and how
anything that looks like one is removed from text before it is shown, logged or saved."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

# A client authenticates to fcc (and, keyless, to Anthropic) with one of these.
CLIENT_AUTH_HEADERS = ("x-api-key", "authorization")
# Headers whose value is a token (a Bearer value carries the "Bearer " prefix).
TOKEN_HEADERS = frozenset({*CLIENT_AUTH_HEADERS, "proxy-authorization", "api-key", "x-goog-api-key"})
# Every header that may carry a credential: masked wherever headers are shown or saved.
CREDENTIAL_HEADERS = TOKEN_HEADERS | {"cookie", "set-cookie"}

MASKED = "[masked]"  # a credential header fcc itself masked (the upstream request as sent)
REDACTED = "[redacted]"  # a credential removed from text, a body or a recording

_SECRET_PATTERNS = re.compile(
    r"(sk-ant-[A-Za-z0-9_\-]{8,}|sk-or-v1-[A-Za-z0-9]{8,}|nvapi-[A-Za-z0-9_\-]{8,}|"
    r"sk-[A-Za-z0-9_\-]{16,}|gsk_[A-Za-z0-9]{8,}|AIza[0-9A-Za-z_\-]{20,}|"
    r"(?i:bearer)\s+[A-Za-z0-9._\-]{8,})"
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove anything that looks like a credential, and the given secrets verbatim."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return _SECRET_PATTERNS.sub(REDACTED, text)


def redact_bytes(data: bytes, secrets: Iterable[str]) -> bytes:
    """The given secrets removed from raw bytes (e.g. a provider echoing its key in an error body)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            data = data.replace(secret.encode(), REDACTED.encode())
    return data


def masked_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers safe to show or record: credentials masked."""
    return {name: MASKED if name.lower() in CREDENTIAL_HEADERS else value for name, value in headers.items()}


def bearer_token(value: str) -> str:
    """The token of an Authorization value ("Bearer abc" -> "abc"); other values as they are."""
    return value[7:].strip() if value.lower().startswith("bearer ") else value
