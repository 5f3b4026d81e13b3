"""Responses request (Codex) -> the internal Anthropic-shaped request: one test per item and tool rule."""

from __future__ import annotations

import json

import pytest

from fcc.core.dialects.responses_request import (
    ResponsesRequestError,
    parse_responses_request,
    thinking_block,
    translate_responses_request,
    wrap_signature,
)
from fcc.core.dialects.responses_tools import ToolInfo
from fcc.core.tools import SYNTHETIC_SIGNATURE, encode_state


def translate(input_items, **body):
    return translate_responses_request({"model": "gpt-5.5", "input": input_items, **body})


def user(text: str) -> dict:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def test_string_input_is_one_user_message() -> None:
    request = translate("hello").request
    assert request["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hello"}]}]
    assert request["model"] == "gpt-5.5"


def test_developer_and_system_messages_and_instructions_become_the_system_prompt() -> None:
    items = [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "dev rules"}]},
        {"type": "message", "role": "system", "content": "sys rules"},
        user("hi"),
    ]
    request = translate(items, instructions="be brief").request
    assert request["system"] == "be brief\n\ndev rules\n\nsys rules"
    assert [m["role"] for m in request["messages"]] == ["user"]


def test_assistant_output_text_and_user_input_image() -> None:
    items = [
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "look"},
            {"type": "input_image", "image_url": "data:image/png;base64,AAAA"},
            {"type": "input_image", "image_url": "https://example.test/cat.png"},
        ]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "a cat", "annotations": []}]},
        user("thanks"),
    ]
    messages = translate(items).request["messages"]
    assert messages[0]["content"][1] == {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}
    assert messages[0]["content"][2] == {"type": "image", "source": {"type": "url", "url": "https://example.test/cat.png"}}
    assert messages[1] == {"role": "assistant", "content": [{"type": "text", "text": "a cat"}]}
    assert messages[2]["role"] == "user"


def test_function_call_and_output_become_tool_use_and_tool_result() -> None:
    items = [
        user("run it"),
        {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "exec_command", "arguments": '{"cmd": "echo T"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "T\n"},
    ]
    tools = [{"type": "function", "name": "exec_command", "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}}]
    request = translate(items, tools=tools).request
    assert request["messages"][1] == {"role": "assistant", "content": [
        {"type": "tool_use", "id": "call_1", "name": "exec_command", "input": {"cmd": "echo T"}}]}
    assert request["messages"][2] == {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "T\n"}]}


def test_unparseable_arguments_are_kept_raw() -> None:
    items = [user("x"), {"type": "function_call", "call_id": "c", "name": "f", "arguments": '{"cmd": '},
             {"type": "function_call_output", "call_id": "c", "output": "failed to parse"}]
    assert translate(items).request["messages"][1]["content"][0]["input"] == {"_raw_arguments": '{"cmd": '}


def test_custom_tool_call_and_list_output() -> None:
    items = [
        user("x"),
        {"type": "custom_tool_call", "call_id": "c1", "name": "exec", "input": "text('hi')"},
        {"type": "custom_tool_call_output", "call_id": "c1", "output": [
            {"type": "input_text", "text": "Script completed"}, {"type": "input_text", "text": '{"output":"T"}'}]},
        {"type": "custom_tool_call", "call_id": "c2", "name": "apply_patch", "input": "*** Begin Patch"},
        {"type": "custom_tool_call_output", "call_id": "c2", "output": "Exit code: 0"},
    ]
    messages = translate(items).request["messages"]
    assert messages[1]["content"][0] == {"type": "tool_use", "id": "c1", "name": "exec", "input": {"input": "text('hi')"}}
    assert messages[2]["content"][0]["content"] == 'Script completed\n{"output":"T"}'
    assert messages[3]["content"][0]["input"] == {"input": "*** Begin Patch"}
    assert messages[4]["content"][0]["content"] == "Exit code: 0"


def test_parallel_calls_then_outputs_make_one_assistant_and_one_user_turn() -> None:
    items = [user("x"),
             {"type": "function_call", "call_id": "a", "name": "f", "arguments": "{}"},
             {"type": "function_call", "call_id": "b", "name": "f", "arguments": "{}"},
             {"type": "function_call_output", "call_id": "b", "output": "B"},
             {"type": "function_call_output", "call_id": "a", "output": "A"}]
    messages = translate(items).request["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert [b["id"] for b in messages[1]["content"]] == ["a", "b"]
    assert [b["tool_use_id"] for b in messages[2]["content"]] == ["b", "a"]


def test_a_result_without_its_call_is_dropped() -> None:
    items = [user("x"), {"type": "function_call_output", "call_id": "ghost", "output": "?"}, user("y")]
    messages = translate(items).request["messages"]
    assert "tool_result" not in json.dumps(messages)


def test_local_shell_call_round_trip() -> None:
    items = [user("x"),
             {"type": "local_shell_call", "call_id": "ls1", "action": {"type": "exec", "command": ["echo", "T"]}},
             {"type": "local_shell_call_output", "call_id": "ls1", "output": "T"}]
    translated = translate(items, tools=[{"type": "local_shell"}])
    assert translated.request["messages"][1]["content"][0] == {"type": "tool_use", "id": "ls1", "name": "local_shell",
                                                               "input": {"command": ["echo", "T"]}}
    assert translated.tool_map.lookup("local_shell").kind == "local_shell"
    assert translated.request["tools"][0]["name"] == "local_shell"


def test_reasoning_items_carry_thinking_state_back() -> None:
    signature = "EqQBCkgIARABGAIiQ"  # a genuine-Anthropic-looking signature, wrapped by the writer
    items = [user("x"),
             {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "thought"}],
              "content": None, "encrypted_content": wrap_signature(signature)},
             {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "answer"}]},
             user("more")]
    assistant = translate(items).request["messages"][1]
    assert assistant["content"] == [{"type": "thinking", "thinking": "thought", "signature": signature},
                                    {"type": "text", "text": "answer"}]


def test_fcc_state_and_redacted_thinking_and_foreign_reasoning() -> None:
    state = encode_state("reasoning_details", [{"type": "reasoning.encrypted", "data": "x"}])
    assert thinking_block({"summary": [], "encrypted_content": state}) == {"type": "thinking", "thinking": "", "signature": state}
    redacted = encode_state("redacted_thinking", "opaque-data")
    assert thinking_block({"summary": [], "encrypted_content": redacted}) == {"type": "redacted_thinking", "data": "opaque-data"}
    # OpenAI's own encrypted reasoning: only its summary text can travel, marked as fcc-made.
    assert thinking_block({"summary": [{"type": "summary_text", "text": "t"}], "encrypted_content": "gAAAAB"}) == {
        "type": "thinking", "thinking": "t", "signature": SYNTHETIC_SIGNATURE}
    assert thinking_block({"summary": [], "encrypted_content": "gAAAAB"}) is None


def test_wrap_signature_keeps_fcc_state_as_is() -> None:
    state = encode_state("thought_signatures", {"a": "b"})
    assert wrap_signature(state) == state
    assert wrap_signature(SYNTHETIC_SIGNATURE) == SYNTHETIC_SIGNATURE
    assert wrap_signature("abc").startswith("fcc1.")


def test_function_custom_and_namespace_tools() -> None:
    tools = [
        {"type": "function", "name": "exec_command", "description": "run", "strict": False,
         "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]}},
        {"type": "custom", "name": "apply_patch", "description": "patch files",
         "format": {"type": "grammar", "syntax": "lark", "definition": "start: begin_patch"}},
        {"type": "namespace", "name": "multi_agent_v1", "tools": [{"type": "function", "name": "spawn_agent", "parameters": {}}]},
        {"type": "web_search", "external_web_access": True},
        {"type": "tool_search", "execution": "client"},
    ]
    translated = translate([user("x")], tools=tools)
    by_name = {t["name"]: t for t in translated.request["tools"]}
    assert list(by_name) == ["exec_command", "apply_patch", "multi_agent_v1__spawn_agent"]
    assert by_name["exec_command"]["input_schema"]["required"] == ["cmd"]
    custom = by_name["apply_patch"]
    assert custom["input_schema"] == {"type": "object", "properties": {"input": {"type": "string", "description": "The raw tool input."}},
                                      "required": ["input"]}
    assert "start: begin_patch" in custom["description"] and "patch files" in custom["description"]
    assert by_name["multi_agent_v1__spawn_agent"]["input_schema"] == {"type": "object", "properties": {}}
    assert translated.dropped_tools == ["tool_search", "web_search"]
    assert translated.tool_map.lookup("apply_patch") == ToolInfo("custom", "apply_patch")
    assert translated.tool_map.lookup("multi_agent_v1__spawn_agent") == ToolInfo("function", "spawn_agent", "multi_agent_v1")


def test_additional_tools_item_declares_namespaced_tools() -> None:
    """The lite profile: `tools: []` and the tools in an input item; namespace `functions` keeps bare names."""
    items = [
        {"type": "additional_tools", "role": "developer", "tools": [
            {"type": "namespace", "name": "functions", "tools": [
                {"type": "custom", "name": "exec", "format": {"type": "grammar", "definition": "start: x"}},
                {"type": "function", "name": "wait", "parameters": {"type": "object", "properties": {}}}]},
            {"type": "namespace", "name": "clock", "tools": [{"type": "function", "name": "sleep", "parameters": {}}]}]},
        user("x"),
        {"type": "custom_tool_call", "call_id": "c", "name": "exec", "input": "1"},
        {"type": "custom_tool_call_output", "call_id": "c", "output": "ok"},
        {"type": "function_call", "call_id": "d", "name": "sleep", "namespace": "clock", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "d", "output": "slept"},
    ]
    translated = translate(items, tools=[])
    assert [t["name"] for t in translated.request["tools"]] == ["exec", "wait", "clock__sleep"]
    assert translated.tool_map.lookup("exec").kind == "custom"
    calls = [b for m in translated.request["messages"] for b in m["content"] if b["type"] == "tool_use"]
    assert [c["name"] for c in calls] == ["exec", "clock__sleep"]


@pytest.mark.parametrize(("choice", "parallel", "expected"), [
    ("auto", True, {"type": "auto"}),
    ("required", None, {"type": "any"}),
    ("none", None, {"type": "none"}),
    ({"type": "function", "name": "exec_command"}, None, {"type": "tool", "name": "exec_command"}),
    ("auto", False, {"type": "auto", "disable_parallel_tool_use": True}),
])
def test_tool_choice_and_parallel_tool_calls(choice, parallel, expected) -> None:
    tools = [{"type": "function", "name": "exec_command", "parameters": {}}]
    request = translate([user("x")], tools=tools, tool_choice=choice, parallel_tool_calls=parallel).request
    assert request["tool_choice"] == expected


@pytest.mark.parametrize(("reasoning", "thinking", "effort"), [
    ({"effort": "medium"}, {"type": "adaptive"}, "medium"),
    ({"effort": "low", "context": "all_turns"}, {"type": "adaptive"}, "low"),
    ({"effort": "xhigh"}, {"type": "adaptive"}, "xhigh"),
    ({"effort": "none"}, {"type": "disabled"}, None),
    ({"summary": "auto"}, None, None),
])
def test_reasoning_effort_maps_like_thinking(reasoning, thinking, effort) -> None:
    from fcc.core.reasoning import client_effort

    request = translate([user("x")], reasoning=reasoning).request
    assert request.get("thinking") == thinking
    assert (request.get("output_config") or {}).get("effort") == effort
    assert client_effort(request) == ("off" if reasoning.get("effort") == "none" else effort)


def test_fields_codex_sends_are_handled_or_dropped_never_refused() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    request = translate(
        [user("x")], store=False, include=["reasoning.encrypted_content"], prompt_cache_key="sess", parallel_tool_calls=True,
        text={"verbosity": "low", "format": {"type": "json_schema", "name": "out", "schema": schema}},
        client_metadata={"x": "y"}, max_output_tokens=500, temperature=0.3, top_p=0.9, stream=True, service_tier="auto",
    ).request
    assert request["output_config"]["format"] == {"type": "json_schema", "schema": schema}
    assert request["max_tokens"] == 500 and request["temperature"] == 0.3 and request["top_p"] == 0.9
    assert request["stream"] is True
    for key in ("store", "include", "prompt_cache_key", "client_metadata", "text", "service_tier", "input"):
        assert key not in request


def test_history_starting_with_the_assistant_gets_a_user_turn_first() -> None:
    messages = translate([{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "hi"}]}]).request["messages"]
    assert messages[0]["role"] == "user"


@pytest.mark.parametrize(("raw", "fragment"), [
    (b"", "empty"),
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "JSON object"),
])
def test_malformed_bodies_are_refused(raw, fragment) -> None:
    body, error = parse_responses_request(raw)
    assert body is None and error is not None and fragment in str(error)


@pytest.mark.parametrize(("body", "param"), [
    ({"input": "x"}, "model"),
    ({"model": "", "input": "x"}, "model"),
    ({"model": "m", "input": 5}, "input"),
    ({"model": "m", "input": "x", "max_output_tokens": 0}, "max_output_tokens"),
    ({"model": "m", "input": "x", "previous_response_id": "resp_1"}, "previous_response_id"),
])
def test_invalid_requests_raise_with_the_parameter(body, param) -> None:
    with pytest.raises(ResponsesRequestError) as caught:
        translate_responses_request(body)
    assert (caught.value.param or "").startswith(param)


def test_unknown_items_are_left_out_not_refused() -> None:
    items = [user("x"), {"type": "web_search_call", "id": "ws", "status": "completed"}, {"type": "item_reference", "id": "r"}]
    assert translate(items).request["messages"] == [{"role": "user", "content": [{"type": "text", "text": "x"}]}]


def test_an_interrupted_call_gets_a_placeholder_result_for_strict_providers() -> None:
    from fcc.core.catalog import CATALOG
    from fcc.core.dialects.openai_chat_request import translate_request
    from tests.support.openai_validator import validate_chat_request

    items = [user("x"),
             {"type": "function_call", "call_id": "cut", "name": "f", "arguments": "{}"},
             user("never mind, do something else"),
             {"type": "function_call", "call_id": "last", "name": "f", "arguments": "{}"}]
    messages = translate(items).request["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "user"]
    assert messages[2]["content"][0] == {"type": "tool_result", "tool_use_id": "cut",
                                         "content": "(no output: the call was interrupted before it returned)"}
    assert messages[2]["content"][1] == {"type": "text", "text": "never mind, do something else"}
    assert messages[4]["content"][0]["tool_use_id"] == "last"
    chat = translate_request(translate(items).request, CATALOG["mistral"], "m")
    assert validate_chat_request(chat) == []


def test_tool_names_a_provider_would_refuse_are_made_safe_and_mapped_back() -> None:
    long_namespace = "mcp__" + "very_long_server_name_" * 3
    tools = [{"type": "namespace", "name": long_namespace, "tools": [{"type": "function", "name": "read.file", "parameters": {}}]},
             {"type": "function", "name": "my tool", "parameters": {}}]
    items = [user("x"), {"type": "function_call", "call_id": "c", "name": "read.file", "namespace": long_namespace, "arguments": "{}"},
             {"type": "function_call_output", "call_id": "c", "output": "ok"}]
    translated = translate(items, tools=tools)
    names = [t["name"] for t in translated.request["tools"]]
    assert all(len(n) <= 64 and n.replace("_", "").replace("-", "").isalnum() for n in names), names
    assert names[1] == "my_tool"
    assert translated.tool_map.lookup(names[0]) == ToolInfo("function", "read.file", long_namespace)
    assert translated.request["messages"][1]["content"][0]["name"] == names[0]  # the replayed call uses the same name
