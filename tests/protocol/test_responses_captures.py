"""Real Codex 0.171.0 requests (../shared/codex/captures) -> provider requests a strict server accepts.

Each capture goes through the whole request path of every provider profile: Responses ->
internal request -> OpenAI chat body (checked by tests/support/openai_validator.py) or
Anthropic-native body. The validator itself is tested here too, so a lenient validator
cannot make these tests pass by accident.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from fcc.core.catalog import CATALOG
from fcc.core.dialects.anthropic_native import translate_native_request
from fcc.core.dialects.openai_chat_request import translate_request
from fcc.core.dialects.responses_request import translate_responses_request
from tests.support.chat_shape import NATIVE_PROFILES, OPENAI_PROFILES
from tests.support.openai_validator import validate_chat_request
from tests.support.wire_samples import require_shared

CAPTURE_NAMES = (
    "codex-0.171.0-custom-model-name-fallback.json",
    "codex-0.171.0-default-model-responses-lite-code-mode.json",
    "codex-0.171.0-gpt-5.5-apply-patch-custom-tool.json",
    "codex-0.171.0-gpt-5.5-function-call.json",
)


def capture(name: str) -> dict:
    path: Path = require_shared() / "codex" / "captures" / name
    if not path.is_file():
        pytest.fail(f"{path} is missing") if "CI" in __import__("os").environ else pytest.skip(f"{path} is missing")
    return json.loads(path.read_text())["turn2_request"]["body"]


@pytest.mark.parametrize("profile_id", OPENAI_PROFILES)
@pytest.mark.parametrize("name", CAPTURE_NAMES)
def test_captures_translate_to_requests_a_strict_server_accepts(name: str, profile_id: str) -> None:
    body = capture(name)
    translated = translate_responses_request(copy.deepcopy(body))
    profile = CATALOG[profile_id]
    chat = translate_request(translated.request, profile, "provider-model", reasoning="client")
    assert validate_chat_request(chat, frozenset(key for key, _ in profile.extra_body)) == []
    # What Codex ran comes back to the provider as a tool result, paired with its call.
    [tool_message] = [m for m in chat["messages"] if m["role"] == "tool"]
    [call_turn] = [m for m in chat["messages"] if m.get("tool_calls")]
    assert [c["id"] for c in call_turn["tool_calls"]] == [tool_message["tool_call_id"]]
    assert "CAPTOKEN" in json.dumps([call_turn["tool_calls"], tool_message["content"]])
    names = {tool["function"]["name"] for tool in chat["tools"]}
    assert not {"web_search", "tool_search"} & names


@pytest.mark.parametrize("profile_id", NATIVE_PROFILES)
@pytest.mark.parametrize("name", CAPTURE_NAMES)
def test_captures_translate_for_anthropic_native_providers(name: str, profile_id: str) -> None:
    translated = translate_responses_request(capture(name))
    profile = CATALOG[profile_id]
    body = translate_native_request(translated.request, "native-model", max_tokens_cap=profile.max_tokens_cap)
    assert isinstance(body["max_tokens"], int) and body["max_tokens"] > 0
    roles = [m["role"] for m in body["messages"]]
    assert roles[0] == "user" and all(a != b for a, b in zip(roles, roles[1:])), roles
    uses = [b["id"] for m in body["messages"] if m["role"] == "assistant" for b in m["content"] if b["type"] == "tool_use"]
    results = [b["tool_use_id"] for m in body["messages"] if m["role"] == "user" for b in m["content"] if b.get("type") == "tool_result"]
    assert uses == results and uses
    # Codex's captured reasoning (OpenAI's own encrypted state) cannot be checked by another provider.
    assert "ENC-rs_" not in json.dumps(body)
    assert isinstance(body["system"], str) and "Codex" in body["system"]


def test_the_lite_capture_keeps_code_mode_exec_as_a_string_tool() -> None:
    translated = translate_responses_request(capture("codex-0.171.0-default-model-responses-lite-code-mode.json"))
    exec_tool = next(t for t in translated.request["tools"] if t["name"] == "exec")
    assert exec_tool["input_schema"]["required"] == ["input"]
    assert translated.tool_map.lookup("exec").kind == "custom"
    [call] = [b for m in translated.request["messages"] for b in m["content"] if b["type"] == "tool_use"]
    assert call["name"] == "exec" and "tools.exec_command" in call["input"]["input"]


# ------------------------------------------------ the validator can fail ---

GOOD = {
    "model": "m",
    "messages": [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "u"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "out"},
    ],
    "tools": [{"type": "function", "function": {"name": "f", "description": "", "parameters": {"type": "object", "properties": {}}}}],
    "stream": True,
}


def broken(change) -> dict:
    body = copy.deepcopy(GOOD)
    change(body)
    return body


def test_the_validator_accepts_a_good_body() -> None:
    assert validate_chat_request(GOOD) == []


@pytest.mark.parametrize(("change", "fragment"), [
    (lambda b: b.pop("model"), "model is required"),
    (lambda b: b["messages"].pop(), "unanswered"),
    (lambda b: b["messages"].insert(3, {"role": "user", "content": "between"}), "never answered"),
    (lambda b: b["messages"][3].update(tool_call_id="other"), "did not call"),
    (lambda b: b["messages"].insert(1, {"role": "developer", "content": "x"}), "unknown role"),
    (lambda b: b["messages"][2]["tool_calls"][0]["function"].update(arguments="{bad"), "JSON object"),
    (lambda b: b["messages"][2]["tool_calls"][0]["function"].update(name="a.b"), "bad function name"),
    (lambda b: b["tools"][0]["function"].update(name="x" * 65), "bad function name"),
    (lambda b: b["tools"][0]["function"].update(parameters={"type": "string"}), "type object"),
    (lambda b: b.update(tool_choice={"type": "function", "function": {"name": "nope"}}), "names no offered"),
    (lambda b: b["messages"].append({"role": "user", "content": ""}), "non-empty"),
    (lambda b: b["messages"].insert(2, {"role": "user", "content": "again"}), "two user messages"),
    (lambda b: b.update(input=[]), "unknown top-level key"),
    (lambda b: b.update(max_tokens=True), "wrong type"),
    (lambda b: b["messages"][1].update(cache_control={}), "unknown key"),
    (lambda b: b["messages"].append({"role": "system", "content": "late"}), "system message after"),
])
def test_the_validator_rejects(change, fragment) -> None:
    problems = validate_chat_request(broken(change))
    assert any(fragment in problem for problem in problems), problems
