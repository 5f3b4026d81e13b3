"""The upstream body's JSON: the tools' cached text never changes a byte of what is sent."""

from __future__ import annotations

import json

from fcc.core import body_json
from fcc.core.body_json import encode_body


def plain(body: dict) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def tools(n: int = 3) -> list[dict]:
    return [{"type": "function", "function": {"name": f"t{i}", "description": "é \"q\"", "parameters": {"type": "object"}}}
            for i in range(n)]


def test_shared_tools_encode_byte_for_byte_like_json_dumps_every_turn() -> None:
    body_json.clear()
    shared = tools()
    for turn in range(3):
        body = {"model": "m", "messages": [{"role": "user", "content": f"turn {turn} ü"}], "tools": list(shared),
                "tool_choice": "auto", "stream": True}
        assert encode_body(body, shared_tools=True) == plain(body)
    assert len(body_json._CACHE) == 1  # one entry for the three turns: the text was reused


def test_a_changed_tool_list_is_a_new_entry_never_a_stale_one() -> None:
    body_json.clear()
    first, second = tools(), tools()
    second[1] = {**second[1], "function": {**second[1]["function"], "description": "changed"}}
    a = {"model": "m", "messages": [], "tools": first}
    b = {"model": "m", "messages": [], "tools": second}
    assert encode_body(a, shared_tools=True) == plain(a)
    assert encode_body(b, shared_tools=True) == plain(b) and b"changed" in encode_body(b, shared_tools=True)


def test_client_text_that_looks_like_a_placeholder_is_sent_as_written() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "fcc-tools-0123 \"fcc-tools-\""}], "tools": tools(1)}
    assert encode_body(body, shared_tools=True) == plain(body)


def test_unshared_or_absent_tools_are_not_cached() -> None:
    body_json.clear()
    for body in ({"model": "m", "tools": tools()}, {"model": "m"}, {"model": "m", "tools": []}):
        assert encode_body(body) == plain(body)
    assert encode_body({"model": "m", "tools": []}, shared_tools=True) == plain({"model": "m", "tools": []})
    assert not body_json._CACHE
