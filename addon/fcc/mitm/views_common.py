"""Text helpers the content views share (plain functions; no mitmproxy)."""

from __future__ import annotations

import json

from fcc.core.sse import SSEDecoder

TEXT_LIMIT = 240  # characters of one block shown by the request view
RAW_EVENT_LIMIT = 5000  # raw SSE events listed below the summary
Line = tuple[str, str]  # (style, text); styles: header, text, error


def cut(text: str, limit: int = TEXT_LIMIT) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else f"{flat[:limit]}... ({len(flat)} chars)"


def sse_events(data: bytes) -> list[tuple[str | None, str]]:
    decoder = SSEDecoder()
    found = decoder.feed(data) + decoder.finish()
    return [(e.event, e.data) for e in found]


def loads_or_none(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return None


def raw_lines(events: list[tuple[str | None, str]]) -> list[Line]:
    lines: list[Line] = [("header", f"--- {len(events)} raw events ---")]
    for name, data in events[:RAW_EVENT_LIMIT]:
        if name:
            lines.append(("header", f"event: {name}"))
        lines.append(("text", f"data: {data}"))
    if len(events) > RAW_EVENT_LIMIT:
        lines.append(("text", f"... {len(events) - RAW_EVENT_LIMIT} more"))
    return lines
