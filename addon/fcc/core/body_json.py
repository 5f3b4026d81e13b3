"""The upstream request body as JSON bytes, with the tool list's text reused across turns.

Claude Code sends the same tools every turn, and `translate_tools` hands back the same
translated dicts from its ContentMemo each time. Their JSON text is most of the body's
encoding cost (about 230 of 340 us on a real 49 KiB Claude Code request), so it is kept,
keyed by the identity of those shared dicts: this cache holds them, so an identity cannot
be reused by another object while its entry lives. Tools built afresh per request (other
dialects, tests) are simply encoded; they are only cached when the caller says they are shared.
"""

from __future__ import annotations

import json
import secrets
from collections import OrderedDict
from typing import Any

# A placeholder no client can put in its own text (random per process); it becomes the tools' JSON.
_PLACEHOLDER = "fcc-tools-" + secrets.token_hex(16)
_QUOTED = json.dumps(_PLACEHOLDER)
_LIMIT = 32
_CACHE: OrderedDict[tuple[int, ...], tuple[tuple[Any, ...], str]] = OrderedDict()


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def encode_body(body: dict[str, Any], *, shared_tools: bool = False) -> bytes:
    """json.dumps(body) (compact, UTF-8) as bytes; byte for byte the same with or without the cache."""
    tools = body.get("tools")
    if not shared_tools or not isinstance(tools, list) or not tools:
        return _dumps(body).encode()
    key = tuple(id(tool) for tool in tools)
    entry = _CACHE.get(key)
    if entry is None:
        entry = (tuple(tools), _dumps(tools))
        _CACHE[key] = entry
        while len(_CACHE) > _LIMIT:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    text = _dumps({**body, "tools": _PLACEHOLDER})
    return text.replace(_QUOTED, entry[1], 1).encode()


def clear() -> None:
    _CACHE.clear()
