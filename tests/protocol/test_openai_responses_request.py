"""Claude Code's request -> an OpenAI Responses body (for Responses-only OpenAI models)."""

from __future__ import annotations

from fcc.core.catalog import CATALOG
from fcc.core.dialects.openai_responses_request import translate_to_responses
from fcc.core.tools import encode_state

PROFILE = CATALOG["openai_responses"]
ENCRYPTED = "gAAAAABqPBJW-openai-encrypted-reasoning"


def request(**extra):
    return {
        "model": "claude-sonnet-4-5", "max_tokens": 4096,
        "system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=1;"}, {"type": "text", "text": "Be terse."}],
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "call the tool", "signature": encode_state("openai_reasoning", ENCRYPTED)},
                {"type": "thinking", "thinking": "from elsewhere", "signature": "EqQBCkgIAR-anthropic"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"location": "Florence"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": [{"type": "text", "text": "sunny"}]},
                {"type": "text", "text": "thanks"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]},
        ],
        "tools": [{"name": "weather", "description": "w", "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}}},
                  {"type": "web_search_20250305", "name": "web_search"}],
        **extra,
    }


def test_history_tools_and_settings() -> None:
    body = translate_to_responses(request(tool_choice={"type": "any", "disable_parallel_tool_use": True}), PROFILE, "gpt-5-codex")
    assert body["model"] == "gpt-5-codex" and body["stream"] is True and body["store"] is False
    assert body["instructions"] == "Be terse."
    assert body["input"] == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "call the tool"}], "encrypted_content": ENCRYPTED},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
        {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": '{"location": "Florence"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "thanks"}, {"type": "input_image", "image_url": "data:image/png;base64,AAAA"}]},
    ]
    assert [t["name"] for t in body["tools"]] == ["weather"]  # Anthropic's server tools stay out
    assert body["tool_choice"] == "required" and body["parallel_tool_calls"] is False
    assert body["max_output_tokens"] == 4096


def test_reasoning_effort_and_temperature() -> None:
    thinking = translate_to_responses(request(thinking={"type": "enabled", "budget_tokens": 20000}, temperature=1), PROFILE, "m")
    assert thinking["reasoning"] == {"effort": "high", "summary": "auto"}
    assert thinking["include"] == ["reasoning.encrypted_content"] and "temperature" not in thinking
    plain = translate_to_responses(request(temperature=0.2), PROFILE, "m", reasoning="off")
    assert "reasoning" not in plain and plain["temperature"] == 0.2


def test_json_schema_output() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    body = translate_to_responses(request(output_config={"format": {"type": "json_schema", "schema": schema}}), PROFILE, "m")
    assert body["text"] == {"format": {"type": "json_schema", "name": "output", "schema": schema}}
