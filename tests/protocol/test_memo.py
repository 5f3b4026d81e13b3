"""The content memo behind the per-turn tool translation and token estimate: never stale."""

from __future__ import annotations

import copy
import json

from fcc.core.catalog import CATALOG
from fcc.core.dialects import openai_chat_request
from fcc.core.dialects.openai_chat_request import translate_tools
from fcc.core.local_answers import estimate_input_tokens
from fcc.core.memo import ContentMemo

TOOLS = [
    {"name": "Bash", "description": "Run a command.", "input_schema": {
        "$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
        "properties": {"command": {"type": "string"}}, "required": ["command"]}},
    {"name": "Read", "description": "Read a file.", "input_schema": {
        "type": "object", "properties": {"file_path": {"type": "string"}}}},
]


def test_a_value_seen_again_under_its_key_is_not_recomputed() -> None:
    memo: ContentMemo[list, int] = ContentMemo()
    calls: list[object] = []

    def compute(value: list) -> int:
        calls.append(value)
        return len(json.dumps(value))

    first = memo.get("k", TOOLS, compute)
    again = memo.get("k", copy.deepcopy(TOOLS), compute)  # equal content, a new object (a new request)
    assert first == again and len(calls) == 1 and (memo.hits, memo.misses) == (1, 1)


def test_a_changed_value_under_the_same_key_is_recomputed_never_stale() -> None:
    memo: ContentMemo[list, str] = ContentMemo()
    changed = copy.deepcopy(TOOLS)
    changed[0]["description"] = "Run a command, differently."
    assert memo.get("k", TOOLS, json.dumps) == json.dumps(TOOLS)
    assert memo.get("k", changed, json.dumps) == json.dumps(changed)
    assert memo.get("k", TOOLS, json.dumps) == json.dumps(TOOLS)
    assert memo.misses == 3


def test_the_memo_is_bounded_least_recently_used_first() -> None:
    memo: ContentMemo[int, int] = ContentMemo(limit=2)
    for key in ("a", "b"):
        memo.get(key, 1, lambda v: v)
    memo.get("a", 1, lambda v: v)  # a is now the most recent
    memo.get("c", 1, lambda v: v)  # evicts b
    memo.get("a", 1, lambda v: v)
    memo.get("b", 1, lambda v: v)
    assert (memo.hits, memo.misses) == (2, 4)


def test_translated_tools_from_the_memo_equal_a_fresh_translation_per_profile() -> None:
    openai_chat_request._TOOLS_MEMO = ContentMemo()
    deepseek, gemini = CATALOG["deepseek"], CATALOG["gemini"]
    fresh_deepseek = openai_chat_request._translate_tools(TOOLS, deepseek.schema_strip)
    fresh_gemini = openai_chat_request._translate_tools(TOOLS, gemini.schema_strip)
    for _ in range(2):
        assert translate_tools(copy.deepcopy(TOOLS), deepseek) == fresh_deepseek
        assert translate_tools(copy.deepcopy(TOOLS), gemini) == fresh_gemini
    assert openai_chat_request._TOOLS_MEMO.hits == 2
    # The caller gets its own list: appending to it leaves the memo's answer alone.
    translate_tools(TOOLS, deepseek).append({"type": "function"})
    assert translate_tools(TOOLS, deepseek) == fresh_deepseek


def test_the_estimate_with_a_remembered_tool_list_equals_the_first_one_and_tracks_changes() -> None:
    request = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": TOOLS}
    first = estimate_input_tokens(copy.deepcopy(request))
    assert estimate_input_tokens(copy.deepcopy(request)) == first
    longer = copy.deepcopy(request)
    longer["tools"][1]["description"] = "Read a file. " * 200
    assert estimate_input_tokens(longer) > first + 500
