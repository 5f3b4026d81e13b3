"""Tool-call hygiene: id aliases, argument parsing and repair, opaque provider state."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest

from fcc.core.tools import (
    STATE_PREFIX,
    SYNTHETIC_SIGNATURE,
    ToolIdCodec,
    alnum9,
    decode_state,
    encode_state,
    is_fcc_signature,
    new_tool_id,
    parse_tool_arguments,
)

MISTRAL_ID = re.compile(r"^[A-Za-z0-9]{9}$")

# Real ids from the captures in wire-samples/.
CLIENT_IDS = [
    "toolu_01VpEm654HvfMoRcrE3Hgdc6",  # Anthropic (the id Mistral rejected in provider-error-bodies F)
    "toolu_bdrk_01N8hD5cYDw4WfvnjKXAkA2W",  # Bedrock via OpenRouter
    "call_00_Sq0n5HVeFHkS1mBrIGbwBQcK",  # DeepSeek
    "functions.weather:0",  # Groq / Kimi
    "chatcmpl-tool-9f149c74c42f265b",  # vLLM
    "call_1zprp9v2",  # Ollama
    "",
]


# --------------------------------------------------------------------------- alnum9


@pytest.mark.parametrize("client_id", CLIENT_IDS)
def test_alnum9_has_the_format_mistral_validates(client_id: str) -> None:
    assert MISTRAL_ID.match(alnum9(client_id))


@pytest.mark.parametrize("client_id", CLIENT_IDS)
def test_alnum9_is_deterministic(client_id: str) -> None:
    assert alnum9(client_id) == alnum9(client_id)


def test_alnum9_aliases_of_distinct_ids_do_not_collide() -> None:
    """Two calls in one history sharing an alias would route a tool_result to the wrong call."""
    assert len({alnum9(f"toolu_{n:024d}") for n in range(5000)}) == 5000


def test_alnum9_keeps_an_id_that_is_already_valid() -> None:
    assert alnum9("gSIMJiOkT") == "gSIMJiOkT"


@pytest.mark.parametrize("almost_valid", ["gSIMJiOk", "gSIMJiOkTx", "gSIMJ_OkT", "gSIMJiOk-"])
def test_alnum9_rewrites_ids_that_only_look_valid(almost_valid: str) -> None:
    alias = alnum9(almost_valid)
    assert alias != almost_valid and MISTRAL_ID.match(alias)


# --------------------------------------------------------------------------- ToolIdCodec


def test_codec_round_trip() -> None:
    codec = ToolIdCodec("alnum9")
    for client_id in CLIENT_IDS:
        alias = codec.encode(client_id)
        assert MISTRAL_ID.match(alias)
        assert codec.decode(alias) == client_id


def test_codec_maps_the_same_id_the_same_way_across_requests() -> None:
    """The assistant's tool_calls[].id and the next request's tool_call_id must agree with no shared state."""
    first_request, second_request = ToolIdCodec("alnum9"), ToolIdCodec("alnum9")
    assert first_request.encode("toolu_01VpEm654HvfMoRcrE3Hgdc6") == second_request.encode("toolu_01VpEm654HvfMoRcrE3Hgdc6")


def test_codec_decode_of_an_unknown_id_is_unchanged() -> None:
    assert ToolIdCodec("alnum9").decode("abcdefghi") == "abcdefghi"


def test_codec_any_format_is_the_identity() -> None:
    codec = ToolIdCodec("any")
    assert codec.encode("toolu_01VpEm654HvfMoRcrE3Hgdc6") == "toolu_01VpEm654HvfMoRcrE3Hgdc6"
    assert codec.decode("toolu_01VpEm654HvfMoRcrE3Hgdc6") == "toolu_01VpEm654HvfMoRcrE3Hgdc6"


def test_new_tool_ids_look_like_anthropic_ids_and_are_unique() -> None:
    ids = {new_tool_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.match(r"^toolu_[0-9a-f]{24}$", tool_id) for tool_id in ids)


# --------------------------------------------------------------------------- parse_tool_arguments


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"location": "Tokyo"}', {"location": "Tokyo"}),
        ("  {\"a\": 1}\n", {"a": 1}),
        ("", {}),
        ("   ", {}),
        ("{}", {}),
        (None, {}),
        ({"already": "parsed"}, {"already": "parsed"}),
    ],
    ids=["valid", "padded", "empty", "blank", "empty-object", "none", "dict"],
)
def test_valid_arguments(raw: Any, expected: dict[str, Any]) -> None:
    assert parse_tool_arguments(raw) == (expected, True)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"path": "a.py", "line": 3,}', {"path": "a.py", "line": 3}),
        ('{"items": [1, 2,], "x": {"y": 1,},}', {"items": [1, 2], "x": {"y": 1}}),
        ('{"command": "ls -la', {"command": "ls -la"}),
        ('{"a": {"b": [1, 2', {"a": {"b": [1, 2]}}),
        ('{"a": 1,', {"a": 1}),
        ('{"a":', {"a": None}),
        ('{"say": "he said \\"hi', {"say": 'he said "hi'}),
        ('{"a": 1}{"a": 1}', {"a": 1}),
        ('{"a": 1}\n{"a": 1}', {"a": 1}),
        ('```json\n{"a": 1}\n```', {"a": 1}),
        ('```\n{"a": 1}\n```', {"a": 1}),
    ],
    ids=[
        "trailing-comma",
        "nested-trailing-commas",
        "truncated-string",
        "truncated-nesting",
        "truncated-after-comma",
        "truncated-after-colon",
        "truncated-after-escaped-quote",
        "duplicated-object",
        "duplicated-object-newline",
        "markdown-fence-json",
        "markdown-fence",
    ],
)
def test_cheap_repairs(raw: str, expected: dict[str, Any]) -> None:
    assert parse_tool_arguments(raw) == (expected, True)


@pytest.mark.parametrize(
    "raw",
    ["not json", "[1, 2]", "42", '"a string"', "null", "{{{", "{'single': 'quotes'}", "<tool_call>{}</tool_call>"],
)
def test_unrepairable_arguments_are_kept_raw(raw: str) -> None:
    arguments, ok = parse_tool_arguments(raw)
    assert ok is False
    assert arguments == {"_raw_arguments": raw}
    assert json.loads(json.dumps(arguments)) == arguments


def test_a_list_value_is_kept_raw_as_json_text() -> None:
    arguments, ok = parse_tool_arguments([1, 2])  # type: ignore[arg-type]
    assert ok is False and json.loads(arguments["_raw_arguments"]) == [1, 2]


@pytest.mark.parametrize(
    "raw",
    ["{" * 500, '{"a": "' + "\\" * 999, "\x00\x01{", '{"\ud800": 1}', "}" * 100, '{"a": ' * 300],
    ids=["open-braces", "backslashes", "control-chars", "lone-surrogate", "close-braces", "nested-keys"],
)
def test_repair_never_raises_on_hostile_input(raw: str) -> None:
    arguments, _ok = parse_tool_arguments(raw)
    assert isinstance(arguments, dict)
    json.dumps(arguments)


@pytest.mark.parametrize("raw", ["[" * 100_000, '{"a": ' + "[" * 100_000], ids=["deep-list", "deep-in-object"])
def test_deeply_nested_arguments_are_kept_raw_instead_of_raising(raw: str) -> None:
    assert parse_tool_arguments(raw) == ({"_raw_arguments": raw}, False)


# --------------------------------------------------------------------------- opaque state


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        ("thought_signatures", {"call_297140": "El4KXAER…"}),
        ("reasoning_details", [{"type": "reasoning.text", "text": "déjà vu ✓", "signature": "Eq0E=="}]),
        ("empty", None),
    ],
)
def test_state_round_trip(kind: str, payload: Any) -> None:
    encoded = encode_state(kind, payload)
    assert encoded.startswith(STATE_PREFIX)
    assert encoded.isascii() and "\n" not in encoded
    assert decode_state(encoded) == (kind, payload)
    assert is_fcc_signature(encoded)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "Eq0ECkgIDRABGAIqQM",  # a real Anthropic signature prefix: not ours
        STATE_PREFIX,
        STATE_PREFIX + "!!!not-base64!!!",
        STATE_PREFIX + base64.urlsafe_b64encode(b"not json").decode(),
        STATE_PREFIX + base64.urlsafe_b64encode(b"[1, 2]").decode(),
        STATE_PREFIX + base64.urlsafe_b64encode(b'{"p": 1}').decode(),
    ],
)
def test_decode_state_rejects_foreign_or_corrupt_values(value: str | None) -> None:
    assert decode_state(value) is None


def test_decode_state_of_deeply_nested_payload_is_none() -> None:
    assert decode_state(STATE_PREFIX + base64.urlsafe_b64encode(b"[" * 100_000).decode()) is None


def test_fcc_signatures_are_told_apart_from_real_ones() -> None:
    assert is_fcc_signature(SYNTHETIC_SIGNATURE)
    assert not is_fcc_signature("Eq0ECkgIDRABGAIqQM/zwzd9QrbMZ79kRrc7C")
    assert not is_fcc_signature(None)
    assert not is_fcc_signature("")
