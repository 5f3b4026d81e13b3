"""Per-provider quirks: the upstream body each catalog profile gets is one its provider accepts.

One test per quirk, parametrized over the catalog where the rule is general.
The requests are synthetic but shaped like Claude Code's (billing block,
mid-conversation system turn, `$schema` tool schemas, thinking with a
signature, tool results followed by text), so these run without ../shared.
Sources for each quirk: ../shared/research/protocol-notes.md section D.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from fcc.core.catalog import CATALOG
from fcc.config import Target
from fcc.core.dialects.anthropic_native import translate_native_request
from fcc.core.dialects.openai_chat_messages import BRIDGE_TEXT, MISSING_RESULT
from fcc.core.dialects.openai_chat_request import translate_request
from fcc.core.tools import SYNTHETIC_SIGNATURE, ToolIdCodec, alnum9, encode_state
from fcc.engine.upstream import build_request
from tests.support.chat_shape import (
    ALLOWED_TOP_LEVEL,
    NATIVE_PROFILES,
    OPENAI_PROFILES,
    REASONING_MESSAGE_KEYS,
    assert_conversation_shape,
    assert_key_absent,
    assert_no_leaks,
    assistant_messages,
    system_content,
    tool_messages,
)

THIRD_PARTY_NATIVE = [pid for pid in NATIVE_PROFILES if pid != "anthropic"]
MODEL = "vendor/model-1"
ALNUM9 = re.compile(r"^[A-Za-z0-9]{9}$")

BILLING = "x-anthropic-billing-header: cc_version=2.1.330.440; cc_entrypoint=sdk-cli;"
IDENTITY = "You are a Claude agent, built on Anthropic's Claude Agent SDK."
ENVIRONMENT = "# Environment\nYou have been invoked in the following environment:\n - Platform: linux"
THOUGHT = "The user wants hello printed; Bash can do it."
CALL_A = "toolu_01VpEm654HvfMoRcrE3Hgdc6"
CALL_B = "toolu_01N8hD5cYDw4WfvnjKXAkA2W"

BASH_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "command": {"type": "string", "description": "The command", "examples": ["ls"]},
        "timeout": {"type": "number", "exclusiveMinimum": 0},
        "env": {"type": "object", "propertyNames": {"pattern": "^[A-Z_]+$"}, "additionalProperties": {"type": "string"}},
    },
    "required": ["command"],
    "additionalProperties": False,
}
READ_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "read",
    "type": "object",
    "properties": {"file_path": {"type": "string"}},
    "required": ["file_path"],
    "additionalProperties": False,
}


def claude_code_request(**overrides: Any) -> dict:
    """A follow-up main-loop request after two parallel tool calls, the way Claude Code sends it."""
    request: dict = {
        "model": "claude-opus-5-5",
        "max_tokens": 128000,
        "stream": True,
        "system": [
            {"type": "text", "text": BILLING},
            {"type": "text", "text": IDENTITY, "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "\nYou are an agent.", "cache_control": {"type": "ephemeral", "scope": "global"}},
        ],
        "tools": [
            {"name": "Bash", "description": "Run a command", "input_schema": BASH_SCHEMA, "eager_input_streaming": True},
            {"name": "Read", "description": "Read a file", "input_schema": READ_SCHEMA, "cache_control": {"type": "ephemeral"}},
            {"name": "DeferredToolPlaceholder", "description": "never call", "input_schema": {"type": "object", "properties": {}},
             "defer_loading": True},
        ],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "<system-reminder>\nAttribution...\n</system-reminder>"},
                {"type": "text", "text": "run echo hello and read a.txt"},
            ]},
            {"role": "system", "content": [{"type": "text", "text": ENVIRONMENT, "cache_control": {"type": "ephemeral"}}],
             "output_config": {"effort": "medium"}},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": THOUGHT, "signature": "EqQBCkYIBxgCKkAnthropicSig"},
                {"type": "text", "text": "Running both."},
                {"type": "tool_use", "id": CALL_A, "name": "Bash", "input": {"command": "echo hello"}},
                {"type": "tool_use", "id": CALL_B, "name": "Read", "input": {"file_path": "a.txt"}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": CALL_A, "content": "hello", "is_error": False},
                {"type": "tool_result", "tool_use_id": CALL_B,
                 "content": [{"type": "text", "text": "contents of a", "cache_control": {"type": "ephemeral"}}]},
                {"type": "text", "text": "now summarise", "cache_control": {"type": "ephemeral"}},
            ]},
        ],
        "thinking": {"type": "adaptive", "display": "omitted"},
        "output_config": {"effort": "medium"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "metadata": {"user_id": "{\"device_id\":\"abc\",\"session_id\":\"s\"}"},
        "diagnostics": {"previous_message_id": None},
        "safeguards": [{"type": "dangerous_tool_use", "classifier_context": {}}],
    }  # fmt: skip
    request.update(overrides)
    return request


def translate(provider_id: str, request: dict | None = None, **kwargs: Any) -> dict:
    request = claude_code_request() if request is None else request
    original = copy.deepcopy(request)
    body = translate_request(request, CATALOG[provider_id], MODEL, **kwargs)
    assert request == original, "the client's request was mutated"
    json.dumps(body)  # what goes on the wire must serialise
    return body


def check_valid(provider_id: str, body: dict) -> None:
    profile = CATALOG[provider_id]
    assert set(body) <= ALLOWED_TOP_LEVEL | {key for key, _ in profile.extra_body}
    for key in profile.rejects:
        assert key not in body, f"{provider_id} rejects {key!r}"
    assert_no_leaks(body)
    assert_conversation_shape(body["messages"])


# ===================================================================== every profile


@pytest.mark.parametrize("provider_id", OPENAI_PROFILES)
def test_base_request_is_valid_for_every_profile(provider_id: str) -> None:
    body = translate(provider_id)
    check_valid(provider_id, body)
    assert body["model"] == MODEL
    system = system_content(body)
    assert system.startswith(IDENTITY) and ENVIRONMENT in system and "cc_version" not in system
    for field in ("context_management", "metadata", "diagnostics", "safeguards", "output_config", "system"):
        assert field not in body


# Top-level fields a client might send that no translation should ever forward.
CLIENT_EXTRAS: dict[str, Any] = {
    "n": 2, "logprobs": True, "top_logprobs": 3, "logit_bias": {"1": 2}, "store": True, "user": "u1",
    "prompt_cache_key": "k", "service_tier": "auto", "seed": 7, "frequency_penalty": 0.5, "presence_penalty": 0.5,
    "reasoning_split": True, "tool_stream": "from-client", "enable_thinking": True, "enable_reasoning": True,
    "chat_template_kwargs": {"from_client": True}, "stream_options": {"from_client": True},
    "reasoning_content": "x", "container": "c", "mcp_servers": [], "inference_geo": "us", "fallbacks": [{"model": "m"}],
}  # fmt: skip


@pytest.mark.parametrize("provider_id", OPENAI_PROFILES)
def test_rejected_fields_never_sent_even_when_the_client_sends_them(provider_id: str) -> None:
    profile = CATALOG[provider_id]
    extras = dict(CLIENT_EXTRAS)
    fields: dict[str, Any] = {"temperature": 0.7, "top_p": 0.9, "top_k": 40, "stop_sequences": ["END"], **extras}
    for key in profile.rejects:
        fields.setdefault(key, "client-value")
    request = claude_code_request(**fields)
    body = translate(provider_id, request)
    check_valid(provider_id, body)
    for key in profile.rejects:
        assert key not in body
    # Nothing the client sent is copied through verbatim.
    for key, value in extras.items():
        assert body.get(key) != value, f"client {key!r} forwarded to {provider_id}"
    assert "client-value" not in json.dumps(body)


@pytest.mark.parametrize("provider_id", OPENAI_PROFILES)
def test_stream_and_stream_options(provider_id: str) -> None:
    body = translate(provider_id, claude_code_request(stream=False))
    assert body["stream"] is True  # fcc always streams upstream
    if CATALOG[provider_id].stream_options:
        assert body["stream_options"] == {"include_usage": True}
    else:
        assert "stream_options" not in body


@pytest.mark.parametrize("requested", [128000, 32000, 100])
@pytest.mark.parametrize("provider_id", OPENAI_PROFILES)
def test_max_tokens_field_and_cap(provider_id: str, requested: int) -> None:
    profile = CATALOG[provider_id]
    body = translate(provider_id, claude_code_request(max_tokens=requested))
    expected = min(requested, profile.max_tokens_cap) if profile.max_tokens_cap else requested
    assert body[profile.max_tokens_field] == expected
    other = "max_tokens" if profile.max_tokens_field == "max_completion_tokens" else "max_completion_tokens"
    assert other not in body


EXPECTED_REPLAY_KEY = {"reasoning_content": "reasoning_content", "reasoning": "reasoning", "reasoning_details": None,
                       "think_tags": None, "drop": None}  # fmt: skip


@pytest.mark.parametrize("provider_id", OPENAI_PROFILES)
def test_reasoning_replay_field(provider_id: str) -> None:
    replay = CATALOG[provider_id].reasoning_replay
    body = translate(provider_id)
    assistant = assistant_messages(body)[0]  # (Mistral adds a bridge turn after the tool results)
    present = {key for key in REASONING_MESSAGE_KEYS if key in assistant}
    key = EXPECTED_REPLAY_KEY[replay]
    assert present == ({key} if key else set())
    if key:
        assert assistant[key] == THOUGHT
    if replay == "think_tags":
        assert assistant["content"] == f"<think>\n{THOUGHT}\n</think>\n\nRunning both."
    else:
        assert assistant["content"] == "Running both."
    if replay in ("drop", "reasoning_details"):
        assert THOUGHT not in json.dumps(body)
    assert "EqQBCkYIBxgCKkAnthropicSig" not in json.dumps(body)


# tool_choice: what each support level turns each Anthropic choice into (None = not sent).
NAMED = {"type": "function", "function": {"name": "Bash"}}
TOOL_CHOICE_TABLE: dict[str, dict[str, Any]] = {
    "full": {"auto": "auto", "any": "required", "tool": NAMED, "none": "none"},
    "auto_only": {"auto": "auto", "any": "auto", "tool": "auto", "none": None},
    "no_named": {"auto": "auto", "any": "required", "tool": "required", "none": "none"},
    "omit": {"auto": None, "any": None, "tool": None, "none": None},
}
CHOICES = {"auto": {"type": "auto"}, "any": {"type": "any"}, "tool": {"type": "tool", "name": "Bash"}, "none": {"type": "none"}}


@pytest.mark.parametrize("choice", sorted(CHOICES))
@pytest.mark.parametrize("provider_id", OPENAI_PROFILES)
def test_tool_choice_forms(provider_id: str, choice: str) -> None:
    profile = CATALOG[provider_id]
    body = translate(provider_id, claude_code_request(tool_choice=CHOICES[choice]))
    expected = TOOL_CHOICE_TABLE[profile.tool_choice][choice]
    if expected is None:
        assert "tool_choice" not in body
    else:
        assert body["tool_choice"] == expected
    assert "parallel_tool_calls" not in body


@pytest.mark.parametrize("provider_id", OPENAI_PROFILES)
def test_disable_parallel_tool_use(provider_id: str) -> None:
    profile = CATALOG[provider_id]
    body = translate(provider_id, claude_code_request(tool_choice={"type": "auto", "disable_parallel_tool_use": True}))
    if profile.parallel_tool_calls and "parallel_tool_calls" not in profile.rejects:
        assert body["parallel_tool_calls"] is False
    else:
        assert "parallel_tool_calls" not in body


@pytest.mark.parametrize("provider_id", OPENAI_PROFILES)
def test_tool_choice_without_tools_is_not_sent(provider_id: str) -> None:
    body = translate(provider_id, claude_code_request(tools=[], tool_choice={"type": "any"}))
    assert "tools" not in body and "tool_choice" not in body


@pytest.mark.parametrize("provider_id", OPENAI_PROFILES)
def test_tool_schemas_are_cleaned_per_profile(provider_id: str) -> None:
    profile = CATALOG[provider_id]
    body = translate(provider_id)
    assert [t["function"]["name"] for t in body["tools"]] == ["Bash", "Read", "DeferredToolPlaceholder"]
    keys = set()
    for tool in body["tools"]:
        parameters = tool["function"]["parameters"]
        assert parameters["type"] == "object"
        keys |= set(_schema_keys(parameters))
        assert set(tool) == {"type", "function"}
        assert set(tool["function"]) == {"name", "description", "parameters"}
    assert not keys & profile.schema_strip
    assert "$schema" not in keys
    bash = body["tools"][0]["function"]["parameters"]
    assert bash["required"] == ["command"] and set(bash["properties"]) == {"command", "timeout", "env"}


def _schema_keys(schema: Any) -> list[str]:
    if isinstance(schema, dict):
        out = list(schema)
        for key, value in schema.items():
            if key == "properties" and isinstance(value, dict):
                for inner in value.values():
                    out += _schema_keys(inner)
            else:
                out += _schema_keys(value)
        return out
    if isinstance(schema, list):
        return [key for item in schema for key in _schema_keys(item)]
    return []


@pytest.mark.parametrize("provider_id", OPENAI_PROFILES)
def test_tool_ids_round_trip(provider_id: str) -> None:
    profile = CATALOG[provider_id]
    codec = ToolIdCodec(profile.tool_id_format)
    body = translate(provider_id, codec=codec)
    [assistant] = [m for m in assistant_messages(body) if m.get("tool_calls")]
    call_ids = [call["id"] for call in assistant["tool_calls"]]
    assert [codec.decode(i) for i in call_ids] == [CALL_A, CALL_B]
    assert [m["tool_call_id"] for m in tool_messages(body)] == call_ids
    if profile.tool_id_format == "alnum9":
        assert all(ALNUM9.match(i) for i in call_ids)
    else:
        assert call_ids == [CALL_A, CALL_B]


@pytest.mark.parametrize("provider_id", OPENAI_PROFILES)
def test_empty_assistant_content_with_tool_calls(provider_id: str) -> None:
    request = claude_code_request()
    request["messages"][2]["content"] = [b for b in request["messages"][2]["content"] if b["type"] == "tool_use"]
    body = translate(provider_id, request)
    check_valid(provider_id, body)
    [assistant] = assistant_messages(body)[:1]
    rule = CATALOG[provider_id].empty_assistant_content
    if rule == "null":
        assert "content" in assistant and assistant["content"] is None
    elif rule == "empty":
        assert assistant["content"] == ""
    elif rule == "omit":
        assert "content" not in assistant
    else:
        assert assistant["content"] == " "
    assert len(assistant["tool_calls"]) == 2


@pytest.mark.parametrize("provider_id", OPENAI_PROFILES)
def test_images_only_where_the_provider_takes_them(provider_id: str) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    request = claude_code_request(messages=[{"role": "user", "content": [image, {"type": "text", "text": "what is this?"}]}])
    body = translate(provider_id, request)
    check_valid(provider_id, body)
    user = body["messages"][-1]
    serialised = json.dumps(user)
    if CATALOG[provider_id].images and not CATALOG[provider_id].string_content_only:
        assert {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}} in user["content"]
    else:
        assert "image_url" not in serialised and "iVBORw0KGgo=" not in serialised
        assert "what is this?" in serialised


@pytest.mark.parametrize("provider_id", OPENAI_PROFILES)
def test_interrupted_tool_call_gets_a_placeholder_result(provider_id: str) -> None:
    request = claude_code_request()
    request["messages"][3]["content"] = [request["messages"][3]["content"][0], {"type": "text", "text": "stop"}]
    body = translate(provider_id, request)
    check_valid(provider_id, body)
    results = [m["content"] for m in tool_messages(body)]
    assert results == ["hello", MISSING_RESULT]


# ===================================================================== provider by provider


def test_mistral_ids_are_nine_alphanumerics_everywhere() -> None:
    for provider_id in ("mistral", "codestral"):
        codec = ToolIdCodec("alnum9")
        body = translate(provider_id, codec=codec)
        check_valid(provider_id, body)
        [assistant] = [m for m in assistant_messages(body) if m.get("tool_calls")]
        ids = [c["id"] for c in assistant["tool_calls"]]
        assert ids == [alnum9(CALL_A), alnum9(CALL_B)]
        assert all(ALNUM9.match(i) for i in ids) and len(set(ids)) == 2
        assert [m["tool_call_id"] for m in tool_messages(body)] == ids
        assert codec.to_client == {ids[0]: CALL_A, ids[1]: CALL_B}
        assert CALL_A not in json.dumps(body) and CALL_B not in json.dumps(body)


def test_mistral_ids_are_stable_across_requests() -> None:
    """The next request re-sends the same history: the aliases must be the same again."""
    first = translate("mistral")
    second = translate("mistral")
    assert first["messages"] == second["messages"]


@pytest.mark.parametrize("provider_id", ["mistral", "codestral"])
def test_mistral_no_user_right_after_tool(provider_id: str) -> None:
    body = translate(provider_id)
    check_valid(provider_id, body)
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "tool", "assistant", "user"]
    assert body["messages"][5] == {"role": "assistant", "content": BRIDGE_TEXT}
    assert body["messages"][6]["content"] == "now summarise"
    for before, after in zip(roles, roles[1:]):
        assert (before, after) != ("tool", "user")


@pytest.mark.parametrize("provider_id", [p for p in OPENAI_PROFILES if not CATALOG[p].no_user_after_tool])
def test_other_providers_get_no_bridge_turn(provider_id: str) -> None:
    body = translate(provider_id)
    assert BRIDGE_TEXT not in json.dumps(body)
    assert [m["role"] for m in body["messages"]][-2:] == ["tool", "user"]


@pytest.mark.parametrize("provider_id", ["mistral", "codestral"])
def test_mistral_no_user_after_tool_when_the_next_user_turn_is_a_string(provider_id: str) -> None:
    # An interrupted call (no tool_result) followed by a plain prompt: the builder closes the call with
    # a placeholder tool message, then appends the string turn.
    request = claude_code_request()
    request["messages"][3] = {"role": "user", "content": "never mind, just say hi"}
    body = translate(provider_id, request)
    roles = [m["role"] for m in body["messages"]]
    for before, after in zip(roles, roles[1:]):
        assert (before, after) != ("tool", "user"), roles


def test_mistral_empty_assistant_content_is_an_empty_string() -> None:
    request = claude_code_request()
    request["messages"][2]["content"] = request["messages"][2]["content"][2:]
    body = translate("mistral", request)
    [assistant] = [m for m in assistant_messages(body) if m.get("tool_calls")]
    assert assistant["content"] == ""


def test_mistral_sends_no_openai_only_or_private_fields() -> None:
    body = translate("mistral", claude_code_request(user="u", metadata={"user_id": "x"}))
    for key in ("stream_options", "user", "metadata", "thinking", "reasoning", "reasoning_effort", "chat_template_kwargs"):
        assert key not in body


def test_kimi_drops_temperature_and_top_p() -> None:
    body = translate("kimi", claude_code_request(temperature=1, top_p=0.95))
    assert "temperature" not in body and "top_p" not in body
    assert body["thinking"] == {"type": "enabled"}
    [assistant] = [m for m in assistant_messages(body) if m.get("tool_calls")]
    assert assistant["reasoning_content"] == THOUGHT


@pytest.mark.parametrize(("sent", "expected"), [(0, 0.01), (0.0, 0.01), (-1, 0.01), (0.7, 0.7), (1, 1.0), (1.5, 1.0), (2, 1.0)])
@pytest.mark.parametrize("provider_id", ["minimax", "zai"])
def test_temperature_clamped_into_zero_one(provider_id: str, sent: float, expected: float) -> None:
    body = translate(provider_id, claude_code_request(temperature=sent))
    assert 0 < body["temperature"] <= 1
    assert body["temperature"] == pytest.approx(expected)


def test_minimax_uses_max_completion_tokens_and_think_tags() -> None:
    body = translate("minimax")
    assert body["max_completion_tokens"] == 32768 and "max_tokens" not in body
    [assistant] = assistant_messages(body)
    assert assistant["content"].startswith("<think>\n" + THOUGHT + "\n</think>")
    for key in REASONING_MESSAGE_KEYS:
        assert key not in assistant


@pytest.mark.parametrize("provider_id", [p for p in OPENAI_PROFILES if CATALOG[p].temperature == "pass"])
def test_temperature_passes_where_allowed(provider_id: str) -> None:
    body = translate(provider_id, claude_code_request(temperature=0.3))
    if "temperature" in CATALOG[provider_id].rejects:
        assert "temperature" not in body
    else:
        assert body["temperature"] == 0.3


def test_openai_uses_max_completion_tokens_uncapped() -> None:
    body = translate("openai")
    assert body["max_completion_tokens"] == 128000 and "max_tokens" not in body
    assert body["reasoning_effort"] == "medium"


def test_zai_tool_choice_auto_only_and_tool_stream() -> None:
    for choice in ({"type": "any"}, {"type": "tool", "name": "Bash"}, {"type": "auto"}):
        body = translate("zai", claude_code_request(tool_choice=choice))
        assert body["tool_choice"] == "auto"
    body = translate("zai")
    assert body["tool_stream"] is True
    assert body["max_tokens"] == 65536 and "max_completion_tokens" not in body
    assert "stream_options" not in body
    assert body["thinking"] == {"type": "enabled"}
    [assistant] = [m for m in assistant_messages(body) if m.get("tool_calls")]
    assert assistant["reasoning_content"] == THOUGHT


def test_nvidia_nim_never_sends_tool_choice() -> None:
    for choice in CHOICES.values():
        body = translate("nvidia_nim", claude_code_request(tool_choice=choice))
        assert "tool_choice" not in body
    body = translate("nvidia_nim")
    assert body["chat_template_kwargs"] == {"enable_thinking": True}
    assert "thinking" not in body and "reasoning" not in body


@pytest.mark.parametrize("provider_id", ["llamacpp", "lmstudio"])
def test_named_tool_choice_becomes_required(provider_id: str) -> None:
    body = translate(provider_id, claude_code_request(tool_choice={"type": "tool", "name": "Read"}))
    assert body["tool_choice"] == "required"


def test_deepseek_reasoning_content_and_forced_choice() -> None:
    body = translate("deepseek", claude_code_request(tool_choice={"type": "tool", "name": "Bash"}))
    assert body["tool_choice"] == "auto"
    assert body["thinking"] == {"type": "enabled"}
    for message in assistant_messages(body):
        assert "reasoning_content" in message


def test_deepseek_reasoning_content_on_a_tool_only_turn() -> None:
    request = claude_code_request()
    request["messages"][2]["content"] = request["messages"][2]["content"][2:]  # no thinking, no text
    body = translate("deepseek", request)
    [assistant] = assistant_messages(body)
    assert assistant["reasoning_content"] == ""


def test_deepseek_reasoning_content_on_a_string_assistant_turn() -> None:
    request = claude_code_request(messages=[
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "run ls"},
    ])  # fmt: skip
    body = translate("deepseek", request)
    [assistant] = assistant_messages(body)
    assert assistant["content"] == "Hello! How can I help?"
    assert "reasoning_content" in assistant


def test_deepseek_takes_no_images() -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}
    body = translate("deepseek", claude_code_request(messages=[{"role": "user", "content": [image, {"type": "text", "text": "hi"}]}]))
    assert isinstance(body["messages"][-1]["content"], str)
    assert "AAAA" not in json.dumps(body)


def test_cerebras_reasoning_on_messages_and_strict_top_level() -> None:
    body = translate("cerebras", claude_code_request(metadata={"x": 1}))
    [assistant] = assistant_messages(body)
    assert assistant["reasoning"] == THOUGHT and "reasoning_content" not in assistant
    assert "reasoning" not in body  # only on messages, never top level
    assert "stream_options" not in body and "max_completion_tokens" in body and "max_tokens" not in body
    assert "reasoning_effort" not in body


def test_groq_strict_fields() -> None:
    request = claude_code_request(n=1, logprobs=True, logit_bias={"5": 1}, top_logprobs=2, store=False)
    body = translate("groq", request)
    check_valid("groq", body)
    for key in ("n", "logprobs", "logit_bias", "top_logprobs", "store", "metadata", "prompt_cache_key",
                "reasoning_effort", "reasoning", "thinking", "chat_template_kwargs"):
        assert key not in body
    for key in REASONING_MESSAGE_KEYS:
        assert_key_absent({"messages": body["messages"]}, key)
    for message in body["messages"]:
        assert "name" not in message
    assert body["max_tokens"] == 8192


def test_openrouter_reasoning_object_and_details_replay() -> None:
    details = [
        {"type": "reasoning.text", "text": THOUGHT, "signature": "sig-1", "format": "anthropic-claude-v1", "index": 0},
        {"type": "reasoning.encrypted", "data": "ENC", "format": "google-gemini-v1", "id": "r1", "index": 1},
    ]
    request = claude_code_request()
    request["messages"][2]["content"][0]["signature"] = encode_state("reasoning_details", details[:1])
    request["messages"][2]["content"].insert(1, {"type": "redacted_thinking", "data": encode_state("reasoning_details", details[1:])})
    body = translate("openrouter", request)
    check_valid("openrouter", body)
    assert body["reasoning"] == {"effort": "medium"}
    [assistant] = assistant_messages(body)
    assert assistant["reasoning_details"] == details
    assert "fcc1." not in json.dumps(body)


@pytest.mark.parametrize("provider_id", [p for p in OPENAI_PROFILES if p != "openrouter"])
def test_reasoning_details_state_reaches_nobody_else(provider_id: str) -> None:
    request = claude_code_request()
    request["messages"][2]["content"][0]["signature"] = encode_state(
        "reasoning_details", [{"type": "reasoning.text", "text": "secret-detail", "index": 0}]
    )
    body = translate(provider_id, request)
    assert "reasoning_details" not in json.dumps(body) and "secret-detail" not in json.dumps(body)


def gemini_request() -> dict:
    request = claude_code_request()
    signatures = encode_state("thought_signatures", {CALL_A: "CiQBcsjafSIG-A"})
    request["messages"][2]["content"].insert(2, {"type": "redacted_thinking", "data": signatures})
    return request


def test_gemini_thought_signature_re_attached_to_its_call() -> None:
    body = translate("gemini", gemini_request())
    check_valid("gemini", body)
    [assistant] = [m for m in assistant_messages(body) if m.get("tool_calls")]
    first, second = assistant["tool_calls"]
    assert first["id"] == CALL_A
    assert first["extra_content"] == {"google": {"thought_signature": "CiQBcsjafSIG-A"}}
    assert "extra_content" not in second
    assert "fcc1." not in json.dumps(body)


@pytest.mark.parametrize("provider_id", [p for p in OPENAI_PROFILES if not CATALOG[p].thought_signatures])
def test_thought_signatures_only_for_gemini(provider_id: str) -> None:
    body = translate(provider_id, gemini_request())
    assert "extra_content" not in json.dumps(body) and "CiQBcsjafSIG-A" not in json.dumps(body)


def test_gemini_schema_keys_stripped() -> None:
    body = translate("gemini", claude_code_request(tool_choice={"type": "auto", "disable_parallel_tool_use": True}))
    stripped = CATALOG["gemini"].schema_strip
    for key in ("$schema", "$id", "additionalProperties", "exclusiveMinimum", "propertyNames", "examples"):
        assert key in stripped
    serialised = json.dumps(body["tools"])
    for key in stripped:
        assert f'"{key}":' not in serialised
    bash = body["tools"][0]["function"]["parameters"]
    assert bash["properties"]["timeout"] == {"type": "number"}
    assert bash["properties"]["command"] == {"type": "string", "description": "The command"}
    assert "parallel_tool_calls" not in body
    assert body["reasoning_effort"] == "medium" and body["max_tokens"] == 65536


def test_gemini_keeps_a_property_named_like_a_stripped_keyword() -> None:
    schema = {"type": "object", "properties": {"examples": {"type": "string"}}, "required": ["examples"]}
    body = translate("gemini", claude_code_request(tools=[{"name": "T", "input_schema": schema}]))
    assert body["tools"][0]["function"]["parameters"]["properties"] == {"examples": {"type": "string"}}


def test_gemini_response_format_schema_stripped() -> None:
    fmt = {"type": "json_schema", "schema": {"type": "object", "properties": {"title": {"type": "string"}},
                                              "required": ["title"], "additionalProperties": False}}
    body = translate("gemini", claude_code_request(tools=[], output_config={"effort": "high", "format": fmt}))
    assert body["response_format"]["json_schema"]["schema"] == {
        "type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}  # fmt: skip


def test_ollama_empty_content_and_reasoning() -> None:
    request = claude_code_request()
    request["messages"][2]["content"] = [request["messages"][2]["content"][0]] + request["messages"][2]["content"][2:]
    body = translate("ollama", request)
    [assistant] = assistant_messages(body)
    assert assistant["content"] == "" and assistant["reasoning"] == THOUGHT
    assert "reasoning_effort" not in body and "top_k" not in body


@pytest.mark.parametrize("provider_id", [p for p in OPENAI_PROFILES if CATALOG[p].top_k])
def test_top_k_only_where_allowed(provider_id: str) -> None:
    assert translate(provider_id, claude_code_request(top_k=20))["top_k"] == 20


@pytest.mark.parametrize("provider_id", [p for p in OPENAI_PROFILES if not CATALOG[p].top_k])
def test_top_k_dropped_elsewhere(provider_id: str) -> None:
    assert "top_k" not in translate(provider_id, claude_code_request(top_k=20))


@pytest.mark.parametrize("provider_id", OPENAI_PROFILES)
def test_reasoning_policy_off(provider_id: str) -> None:
    body = translate(provider_id, reasoning="off")
    control = CATALOG[provider_id].reasoning_control
    if control == "thinking_object":
        assert body["thinking"] == {"type": "disabled"}
    elif control == "chat_template":
        assert body["chat_template_kwargs"] == {"enable_thinking": False}
    elif control == "reasoning_object":
        assert body["reasoning"] == {"enabled": False}
    else:
        assert "thinking" not in body and "chat_template_kwargs" not in body
        assert body.get("reasoning_effort") in (None, "none")


@pytest.mark.parametrize("provider_id", OPENAI_PROFILES)
def test_stop_sequences_capped_at_four(provider_id: str) -> None:
    body = translate(provider_id, claude_code_request(stop_sequences=["a", "b", "", "c", "d", "e"]))
    assert body["stop"] == ["a", "b", "c", "d"]


# ===================================================================== Anthropic-native profiles


def native(provider_id: str, request: dict | None = None, **kwargs: Any) -> dict:
    """The body the engine sends to this anthropic_messages provider (through upstream.build_request)."""
    request = claude_code_request() if request is None else request
    original = copy.deepcopy(request)
    profile = CATALOG[provider_id]
    env = {profile.api_key_env: "test-key"} if profile.api_key_env else {}
    _http, body, secrets = build_request(Target(profile, MODEL), request, kwargs.get("reasoning", "client"), {}, env)
    assert request == original, "the client's request was mutated"
    assert secrets == ["test-key"]
    return body


@pytest.mark.parametrize("provider_id", NATIVE_PROFILES)
def test_native_model_renamed_and_billing_block_stripped(provider_id: str) -> None:
    body = native(provider_id)
    assert body["model"] == MODEL
    texts = [block["text"] for block in body["system"]]
    expected = [IDENTITY, "\nYou are an agent."]
    if provider_id != "anthropic":
        expected.append(ENVIRONMENT)  # the mid-conversation system turn, folded in
    assert texts == expected
    assert "x-anthropic-billing-header" not in json.dumps(body)
    assert body["stream"] is True


@pytest.mark.parametrize("provider_id", NATIVE_PROFILES)
def test_native_fcc_made_thinking_is_dropped_genuine_kept(provider_id: str) -> None:
    request = claude_code_request()
    content = request["messages"][2]["content"]
    content.insert(0, {"type": "thinking", "thinking": "from another provider", "signature": SYNTHETIC_SIGNATURE})
    content.insert(1, {"type": "thinking", "thinking": "openrouter", "signature": encode_state("reasoning_details", [])})
    content.insert(2, {"type": "redacted_thinking", "data": encode_state("thought_signatures", {CALL_A: "s"})})
    content.insert(3, {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT"})
    body = native(provider_id, request)
    [kept] = [m["content"] for m in body["messages"] if m["role"] == "assistant"]
    assert [b["type"] for b in kept] == ["redacted_thinking", "thinking", "text", "tool_use", "tool_use"]
    assert kept[0]["data"] == "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT"
    assert kept[1] == {"type": "thinking", "thinking": THOUGHT, "signature": "EqQBCkYIBxgCKkAnthropicSig"}
    assert "fcc1." not in json.dumps(body)


CLAUDE_CODE_ONLY = ("context_management", "diagnostics", "safeguards")


@pytest.mark.parametrize("provider_id", THIRD_PARTY_NATIVE)
def test_native_third_party_drops_claude_code_only_fields(provider_id: str) -> None:
    body = native(provider_id, claude_code_request(container="c1", mcp_servers=[{"type": "url", "url": "https://x"}]))
    for key in (*CLAUDE_CODE_ONLY, "container", "mcp_servers"):
        assert key not in body, key
    # What third-party Anthropic endpoints do understand stays.
    assert body["thinking"] == {"type": "adaptive", "display": "omitted"}
    assert [t["name"] for t in body["tools"]] == ["Bash", "Read", "DeferredToolPlaceholder"]


def test_native_genuine_anthropic_keeps_claude_code_fields() -> None:
    request = claude_code_request()
    body = native("anthropic", request)
    for key in CLAUDE_CODE_ONLY:
        assert body[key] == request[key]
    assert body["output_config"] == {"effort": "medium"}
    assert body["metadata"] == request["metadata"]
    assert body["tools"] == request["tools"]
    assert body["messages"] == request["messages"]


@pytest.mark.parametrize("provider_id", THIRD_PARTY_NATIVE)
def test_native_third_party_gets_no_mid_conversation_system_turn(provider_id: str) -> None:
    body = native(provider_id)
    roles = [m["role"] for m in body["messages"]]
    assert set(roles) <= {"user", "assistant"}, roles
    assert json.dumps(ENVIRONMENT)[1:-1] in json.dumps(body)  # folded somewhere, not lost
    assert all(set(m) <= {"role", "content"} for m in body["messages"])


@pytest.mark.parametrize("provider_id", THIRD_PARTY_NATIVE)
def test_native_third_party_drops_first_party_fallbacks(provider_id: str) -> None:
    body = native(provider_id, claude_code_request(fallbacks=[{"model": "claude-opus-5"}]))
    assert "fallbacks" not in body


def test_native_thinking_only_turn_leaves_no_empty_message() -> None:
    request = claude_code_request(messages=[
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "hmm", "signature": SYNTHETIC_SIGNATURE}]},
        {"role": "user", "content": "go on"},
    ])  # fmt: skip
    body = native("deepseek_anthropic", request)
    assert all(m["content"] for m in body["messages"]), body["messages"]


def test_native_max_tokens_cap_and_reasoning_override() -> None:
    body = translate_native_request(claude_code_request(), MODEL, max_tokens_cap=8000, reasoning="high")
    assert body["max_tokens"] == 8000
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 7999}
    body = translate_native_request(claude_code_request(), MODEL, reasoning="off")
    assert body["thinking"] == {"type": "disabled"}
    assert "effort" not in body["output_config"]
