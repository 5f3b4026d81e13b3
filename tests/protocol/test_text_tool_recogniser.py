"""The recogniser's bounds and settings: what is held, for how long, and who decides it is on."""

from __future__ import annotations

import pytest

from fcc.core.catalog import CATALOG
from fcc.core.profiles import validate_profile
from fcc.core.text_tools import (
    DIALECTS, Limits, TextToolRecogniser, ToolSet, dialect_of_id, recogniser_for, resolve, text_tool_id,
)
from fcc.core.text_tools.markdown import CodeContext
from tests.support.text_tool_streams import TOOLS

CALL = '<tool_call>\n{"name": "Bash", "arguments": {"command": "ls"}}\n</tool_call>'


def recogniser(**limits) -> TextToolRecogniser:
    return TextToolRecogniser(list(DIALECTS.values()), ToolSet(TOOLS), Limits(**limits))


def texts(pieces) -> str:
    return "".join(value for kind, value in pieces if kind == "text")


def test_plain_text_is_never_held() -> None:
    rec = recogniser()
    assert rec.feed("Hello world, no markers here.\n") == [("text", "Hello world, no markers here.\n")]
    assert not rec.holding


def test_a_partial_opener_is_held_then_released_by_the_clock() -> None:
    rec = recogniser(prefix_seconds=2.0)
    assert texts(rec.feed("see <tool_")) == "see "
    assert rec.holding
    assert rec.flush_pending(100.0) == []  # the first look starts the hold's clock
    assert rec.flush_pending(101.0) == []
    assert rec.flush_pending(102.5) == [("text", "<tool_")]
    assert not rec.holding
    assert texts(rec.feed("call later")) == "call later"  # too late to become an opener: text


def test_an_unconfirmed_region_is_released_by_the_clock_and_rescanned() -> None:
    rec = recogniser(unconfirmed_seconds=5.0)
    assert rec.feed("<tool_call>\n") == []
    rec.flush_pending(0.0)
    assert rec.flush_pending(4.0) == []
    assert rec.flush_pending(5.5) == [("text", "<tool_call>\n")]
    assert not rec.holding


def test_a_slow_model_still_making_progress_is_not_cut() -> None:
    """A CPU-only model writes a token every few seconds: each token restarts the silence clock."""
    rec = recogniser(unconfirmed_seconds=5.0)
    now = 0.0
    for token in ["<tool_call>", "\n", "{", '"', "na", "me", '":', ' "', "Ba", "sh", '"']:
        assert rec.feed(token) == []
        rec.flush_pending(now)
        now += 4.0
        assert rec.flush_pending(now) == []
    pieces = rec.feed(', "arguments": {"command": "ls"}}\n</tool_call>')
    assert [kind for kind, _ in pieces] == ["call"]


def test_a_confirmed_call_is_not_cut_by_the_clock() -> None:
    """A long Write streams for minutes; once it names a declared tool it is held like a native call."""
    rec = recogniser(unconfirmed_seconds=5.0)
    assert rec.feed('<tool_call>\n{"name": "Bash", "arguments": {"command": "echo ') == []
    rec.flush_pending(0.0)
    assert rec.flush_pending(600.0) == []
    pieces = rec.feed('hi"}}\n</tool_call>')
    assert [kind for kind, _ in pieces] == ["call"]


def test_an_unconfirmed_region_is_bounded_in_bytes() -> None:
    rec = recogniser(unconfirmed_bytes=1000)
    junk = "<tool_call>" + "x" * 1200
    out = []
    for i in range(0, len(junk), 50):
        out += rec.feed(junk[i : i + 50])
    out += rec.finish()
    assert texts(out) == junk
    assert not rec.holding


def test_a_confirmed_region_is_bounded_in_bytes() -> None:
    rec = recogniser(confirmed_bytes=2000)
    text = '<tool_call>\n{"name": "Bash", "arguments": {"command": "' + "y" * 3000
    out = rec.feed(text[:100]) + rec.feed(text[100:])
    assert texts(out) == text[: len(text)]  # released once over the bound, without waiting for the end
    assert not rec.holding


def test_whitespace_between_calls_is_call_syntax_not_text() -> None:
    rec = recogniser()
    out = rec.feed("\n\n" + CALL + "\n\n" + CALL + "\n") + rec.finish()
    assert [kind for kind, _ in out] == ["call", "call"]


def test_whitespace_alone_without_calls_is_kept() -> None:
    rec = recogniser()
    assert rec.feed("\n  \n") + rec.finish() == [("text", "\n  \n")]


def test_finish_releases_a_held_prefix() -> None:
    rec = recogniser()
    assert texts(rec.feed("a [TOOL_CA")) == "a "
    assert rec.finish() == [("text", "[TOOL_CA")]


def test_code_context_tracks_fences_and_inline_spans_across_pieces() -> None:
    ctx = CodeContext()
    ctx.update("text `co")
    assert ctx.in_code()
    ctx.update("de` after\n``")  # a run that the next piece continues into a fence
    ctx.update("`python\nx = 1\n")
    assert ctx.in_code()  # inside the fence
    ctx.update("```\n")
    assert not ctx.in_code()
    ctx.update("an ` unmatched backtick\n")
    assert not ctx.in_code()  # does not silence the next line


def test_resolve_settings() -> None:
    assert resolve(("all",), "anything") == tuple(DIALECTS)
    assert resolve(("off",), "qwen3") == ()
    assert resolve((), "qwen3") == ()
    assert resolve(("auto",), "Qwen/Qwen3-Coder-480B-A35B-Instruct") == ("hermes", "qwen3_coder")
    assert resolve(("auto",), "mistralai/devstral-small-2507") == ("mistral",)
    assert resolve(("auto",), "moonshotai/kimi-k2-instruct") == ("kimi",)
    assert resolve(("auto",), "deepseek-ai/deepseek-v3.1") == ("deepseek",)
    assert resolve(("auto",), "meta/llama-3.3-70b-instruct") == ("llama", "json")
    assert resolve(("auto",), "z-ai/glm-4.6") == ("glm",)
    assert resolve(("auto",), "gpt-4o") == ()
    assert resolve(("auto",), "stepfun-ai/step-3.7-flash") == ("step",)
    assert resolve(("auto",), "MiniMax-M2.5") == ("minimax",)
    assert resolve(("hermes", "mistral"), "x") == ("hermes", "mistral")


def test_local_providers_recognise_every_dialect_by_default() -> None:
    for pid in ("ollama", "llamacpp", "lmstudio", "vllm"):
        assert CATALOG[pid].text_tool_calls == ("all",)
    assert CATALOG["nvidia_nim"].text_tool_calls == ("auto",)


def test_profile_validation_names_an_unknown_dialect() -> None:
    problems = validate_profile(CATALOG["ollama"].replace(text_tool_calls=("hermes", "klingon")))
    assert any("klingon" in p for p in problems)
    assert validate_profile(CATALOG["ollama"].replace(text_tool_replay="smoke"))


def test_recogniser_for_needs_tools_and_a_dialect() -> None:
    assert recogniser_for(("all",), "m", {"tools": TOOLS}) is not None
    assert recogniser_for(("all",), "m", {}) is None
    assert recogniser_for(("off",), "m", {"tools": TOOLS}) is None
    # Server tools (web search) are not the model's to call as text.
    assert recogniser_for(("all",), "m", {"tools": [{"type": "web_search_20250305", "name": "web_search"}]}) is None


def test_recovered_ids_name_their_dialect() -> None:
    for name in DIALECTS:
        tool_id = text_tool_id(name)
        assert tool_id.startswith("toolu_") and dialect_of_id(tool_id).name == name
    assert dialect_of_id("toolu_01A09q90qw90lq917835lq9") is None
    assert dialect_of_id("call_abc") is None


@pytest.mark.parametrize("schema_type,value,ok", [
    ("integer", 3, True), ("integer", 3.0, True), ("integer", True, False), ("integer", "3", False),
    ("number", 2.5, True), ("string", "x", True), ("string", 1, False), ("boolean", False, True),
    ("array", [], True), ("object", {}, True), (["string", "null"], None, True),
])
def test_top_level_types_follow_the_schema(schema_type, value, ok) -> None:
    tools = ToolSet([{"name": "T", "input_schema": {"type": "object", "properties": {"v": {"type": schema_type}}}}])
    assert tools.get("T").accepts({"v": value}) is ok
