"""Request translation driven by what the real Claude Code CLI sent.

Every body here comes from ../shared/claude-code/captures (Claude Code 2.1.330
and 2.1.197 against a logging stub). Each test translates one real request for
the catalog's providers and checks the rules the provider relies on: nothing
Claude-Code-only leaks, the billing block is gone, mid-conversation system
turns land in the system message, the conversation has the shape strict chat
templates accept, and past thinking goes back the way each provider wants.
"""

from __future__ import annotations

import copy
import json

import pytest

from fcc.core.catalog import CATALOG
from fcc.claude_code import classify
from fcc.core.local_answers import estimate_input_tokens
from fcc.core.client_request import parse_request
from fcc.core.dialects.anthropic_native import translate_native_request
from fcc.core.dialects.openai_chat_messages import flatten_text
from fcc.core.dialects.openai_chat_request import translate_request
from fcc.core.tools import ToolIdCodec, encode_state
from tests.support.captures import (
    CapturedRequest,
    capture_file_params,
    count_tokens_requests,
    load_capture,
    message_requests,
)
from tests.support.chat_shape import (
    ALLOWED_TOP_LEVEL,
    NATIVE_PROFILES,
    OPENAI_PROFILES,
    BILLING_MARKER,
    CLAUDE_CODE_ONLY_FIELDS,
    REASONING_MESSAGE_KEYS,
    assert_conversation_shape,
    assert_key_absent,
    assert_no_leaks,
    assistant_messages,
    system_content,
    text_of,
    tool_messages,
    walk_keys,
)

UPSTREAM_MODEL = "upstream/model-x"


def translate(body: dict, provider_id: str, **kwargs: object) -> dict:
    profile = CATALOG[provider_id]
    original = copy.deepcopy(body)
    out = translate_request(body, profile, UPSTREAM_MODEL, **kwargs)  # type: ignore[arg-type]
    assert body == original, "translate_request mutated the client's request"
    return out


def first_request(name: str) -> dict:
    return message_requests(name)[0].body


def nth_request(name: str, index: int) -> dict:
    return message_requests(name)[index].body


def mid_conversation_system_texts(body: dict) -> list[str]:
    return [flatten_text(m.get("content")) for m in body["messages"] if m.get("role") == "system"]


def check_common(body: dict, out: dict, provider_id: str) -> None:
    """Rules that hold for every translated body of every OpenAI-style profile."""
    profile = CATALOG[provider_id]
    assert out["model"] == UPSTREAM_MODEL
    assert set(out) <= ALLOWED_TOP_LEVEL | {key for key, _ in profile.extra_body}, sorted(set(out) - ALLOWED_TOP_LEVEL)
    for field in CLAUDE_CODE_ONLY_FIELDS:
        assert field not in out, f"{field} forwarded to {provider_id}"
    for field in profile.rejects:
        assert field not in out, f"{provider_id} rejects {field!r} but it was sent"
    assert_no_leaks(out)
    assert_conversation_shape(out["messages"])
    # Streaming always; usage requested only where the provider allows it.
    assert out["stream"] is True
    if profile.stream_options:
        assert out["stream_options"] == {"include_usage": True}
    else:
        assert "stream_options" not in out
    # max_tokens renamed and capped per profile.
    if isinstance(body.get("max_tokens"), int):
        other = {"max_tokens", "max_completion_tokens"} - {profile.max_tokens_field}
        assert not other & set(out), f"{provider_id} got {other & set(out)}"
        cap = profile.max_tokens_cap or body["max_tokens"]
        assert out[profile.max_tokens_field] == min(body["max_tokens"], cap)
    # The system message (if any) carries no billing block and every mid-conversation system turn.
    systems = [m for m in out["messages"] if m["role"] == "system"]
    if systems:
        assert BILLING_MARKER not in systems[0]["content"]
    for text in mid_conversation_system_texts(body):
        if text.strip():
            assert text.strip() in system_content(out)
    # Server tools (web_search_20250305 ...) run at Anthropic and are never offered as functions.
    server_tools = {t.get("name") for t in body.get("tools") or [] if t.get("type") not in (None, "custom", "function")}
    offered = {t["function"]["name"] for t in out.get("tools") or []}
    assert not server_tools & offered


# --------------------------------------------------------------- main loop


@pytest.mark.parametrize("provider_id", OPENAI_PROFILES)
def test_main_loop_request_with_tools(provider_id: str) -> None:
    body = first_request("quiet_apikey")
    # What the capture shows, so the assertions below mean something.
    assert body["system"][0]["text"].startswith(BILLING_MARKER)
    assert body["messages"][1]["role"] == "system"
    assert "context_management" in body and "metadata" in body and body["output_config"] == {"effort": "medium"}

    out = translate(body, provider_id)
    check_common(body, out, provider_id)

    system = system_content(out)
    assert out["messages"][0]["role"] == "system"
    assert system.startswith("You are a Claude agent, built on Anthropic's Claude Agent SDK.")
    assert BILLING_MARKER not in system and "cc_version=" not in system
    env_turn = body["messages"][1]["content"][0]["text"]
    assert env_turn.startswith("# Environment") and env_turn.strip() in system
    # The conversation itself: the one user turn with both of its text blocks.
    assert [m["role"] for m in out["messages"]] == ["system", "user"]
    user_text = text_of(out["messages"][1]["content"])
    assert "<system-reminder>" in user_text and user_text.rstrip().endswith("say hi")
    # All 12 client tools become functions, in order, with object schemas.
    names = [t["function"]["name"] for t in out["tools"]]
    assert names == [t["name"] for t in body["tools"]]
    for tool in out["tools"]:
        assert tool["type"] == "function"
        assert tool["function"]["parameters"]["type"] == "object"
    placeholder = next(t for t in out["tools"] if t["function"]["name"] == "DeferredToolPlaceholder")
    assert placeholder["function"]["parameters"] == {"type": "object", "properties": {}}
    # The adaptive thinking + effort medium of the client, in the provider's words.
    assert "thinking" not in out or out["thinking"] in ({"type": "enabled"}, {"type": "disabled"})


def test_main_loop_schemas_keep_their_content_without_schema_uri() -> None:
    body = first_request("quiet_apikey")
    out = translate(body, "openai")
    bash_in = next(t for t in body["tools"] if t["name"] == "Bash")["input_schema"]
    bash_out = next(t for t in out["tools"] if t["function"]["name"] == "Bash")["function"]["parameters"]
    assert "$schema" in bash_in
    assert bash_out == {key: value for key, value in bash_in.items() if key != "$schema"}


def test_first_party_fields_never_reach_a_chat_provider() -> None:
    """mitm captures carry diagnostics and cache_control scope:global; ia2 carries safeguards."""
    mitm = first_request("mitm_quiet_apikey")
    assert "diagnostics" in mitm
    assert any((b.get("cache_control") or {}).get("scope") == "global" for b in mitm["system"])
    interactive = first_request("ia2")
    assert "safeguards" in interactive
    # Claude Code >= 2.1 also sends eager_input_streaming per tool (not in these captures): add it.
    for body in (mitm, interactive):
        body = copy.deepcopy(body)
        for tool in body["tools"]:
            tool["eager_input_streaming"] = True
            tool["cache_control"] = {"type": "ephemeral", "scope": "global"}
        for provider_id in OPENAI_PROFILES:
            out = translate(body, provider_id)
            check_common(body, out, provider_id)
            for field in ("diagnostics", "safeguards", "context_management", "metadata", "output_config"):
                assert field not in out
            # output_config.effort becomes the provider's own reasoning field, never an `effort` key.
            rest = {k: v for k, v in out.items() if k not in ("messages", "tools", "reasoning")}
            assert "effort" not in set(walk_keys(rest))


# ---------------------------------------------------------- tool follow-up


@pytest.mark.parametrize("provider_id", OPENAI_PROFILES)
def test_tool_follow_up_pairs_calls_with_results(provider_id: str) -> None:
    body = nth_request("tooluse_bash", 1)
    call = body["messages"][2]["content"][-1]
    result = body["messages"][3]["content"][0]
    assert call["type"] == "tool_use" and result["type"] == "tool_result" and result["tool_use_id"] == call["id"]

    codec = ToolIdCodec(CATALOG[provider_id].tool_id_format)
    out = translate(body, provider_id, codec=codec)
    check_common(body, out, provider_id)
    [assistant] = [m for m in assistant_messages(out) if m.get("tool_calls")]
    [tool_call] = assistant["tool_calls"]
    assert tool_call["function"]["name"] == "Bash"
    assert json.loads(tool_call["function"]["arguments"]) == call["input"]
    assert codec.decode(tool_call["id"]) == call["id"]
    [tool] = tool_messages(out)
    assert tool["tool_call_id"] == tool_call["id"]
    assert tool["content"] == "hello"
    assert out["messages"].index(tool) == out["messages"].index(assistant) + 1


def thinking_follow_up() -> dict:
    body = nth_request("thinking_tool", 1)
    assistant = body["messages"][2]
    assert [b["type"] for b in assistant["content"]] == ["thinking", "text", "tool_use"]
    assert assistant["content"][0]["signature"].startswith("stubsig_")
    return body


THOUGHT = "I should run echo."


def test_thinking_replay_deepseek_reasoning_content_on_every_assistant_message() -> None:
    body = thinking_follow_up()
    out = translate(body, "deepseek")
    check_common(body, out, "deepseek")
    assistants = assistant_messages(out)
    assert assistants
    for message in assistants:
        assert "reasoning_content" in message
    [with_calls] = [m for m in assistants if m.get("tool_calls")]
    assert with_calls["reasoning_content"] == THOUGHT
    assert with_calls["content"] == "Running."
    assert "reasoning" not in with_calls and "reasoning_details" not in with_calls


def test_thinking_replay_deepseek_every_turn_of_a_longer_conversation() -> None:
    """The subagent capture's main loop has a tool turn and a later text-only assistant turn."""
    body = nth_request("subagent_explore", 3)
    assert len([m for m in body["messages"] if m["role"] == "assistant"]) == 2
    out = translate(body, "deepseek")
    check_common(body, out, "deepseek")
    assistants = assistant_messages(out)
    assert len(assistants) == 2
    assert all("reasoning_content" in m for m in assistants)


def test_thinking_replay_groq_sends_no_reasoning_field() -> None:
    body = thinking_follow_up()
    out = translate(body, "groq")
    check_common(body, out, "groq")
    for key in REASONING_MESSAGE_KEYS:
        assert_key_absent({"messages": out["messages"]}, key)
    assert THOUGHT not in json.dumps(out)
    assert [m.get("content") for m in assistant_messages(out)] == ["Running."]


def test_thinking_replay_cerebras_uses_reasoning() -> None:
    body = thinking_follow_up()
    out = translate(body, "cerebras")
    check_common(body, out, "cerebras")
    [assistant] = assistant_messages(out)
    assert assistant["reasoning"] == THOUGHT
    assert "reasoning_content" not in assistant and "reasoning_details" not in assistant
    assert "max_completion_tokens" in out and "max_tokens" not in out


def test_thinking_replay_minimax_think_tags_in_content() -> None:
    body = thinking_follow_up()
    out = translate(body, "minimax")
    check_common(body, out, "minimax")
    [assistant] = assistant_messages(out)
    assert assistant["content"].startswith(f"<think>\n{THOUGHT}\n</think>")
    assert assistant["content"].rstrip().endswith("Running.")
    for key in REASONING_MESSAGE_KEYS:
        assert key not in assistant


def test_thinking_replay_openrouter_restores_reasoning_details_from_the_signature() -> None:
    body = copy.deepcopy(thinking_follow_up())
    details = [
        {"type": "reasoning.text", "text": THOUGHT, "signature": "EqQBCkYIBxgCKkA", "format": "anthropic-claude-v1", "index": 0}
    ]
    body["messages"][2]["content"][0]["signature"] = encode_state("reasoning_details", details)
    out = translate(body, "openrouter")
    check_common(body, out, "openrouter")
    [assistant] = assistant_messages(out)
    assert assistant["reasoning_details"] == details
    assert "reasoning_content" not in assistant and "reasoning" not in assistant
    assert "fcc1." not in json.dumps(out)


def test_thinking_replay_openrouter_ignores_a_foreign_signature() -> None:
    """The stub's signature is not fcc state: nothing is invented from it."""
    body = thinking_follow_up()
    out = translate(body, "openrouter")
    [assistant] = assistant_messages(out)
    assert "reasoning_details" not in assistant


@pytest.mark.parametrize("provider_id", OPENAI_PROFILES)
def test_thinking_replay_follows_the_profile(provider_id: str) -> None:
    body = thinking_follow_up()
    out = translate(body, provider_id)
    check_common(body, out, provider_id)
    replay = CATALOG[provider_id].reasoning_replay
    [assistant] = assistant_messages(out)
    present = {key for key in REASONING_MESSAGE_KEYS if key in assistant}
    expected = {"reasoning_content": {"reasoning_content"}, "reasoning": {"reasoning"}}.get(replay, set())
    assert present == expected
    if replay in ("drop", "reasoning_details"):
        assert THOUGHT not in json.dumps(out["messages"])
    # A client signature is never forwarded to a chat provider.
    assert "stubsig_" not in json.dumps(out)
    assert_key_absent(out, "signature")


# --------------------------------------------------------------- subagent


@pytest.mark.parametrize("provider_id", OPENAI_PROFILES)
def test_subagent_request(provider_id: str) -> None:
    [sub] = [r for r in message_requests("subagent_explore") if r.headers.get("x-claude-code-agent-id")]
    body = sub.body
    out = translate(body, provider_id)
    check_common(body, out, provider_id)
    assert [t["function"]["name"] for t in out["tools"]] == ["Bash", "Read", "Skill", "DeferredToolPlaceholder", "ToolSearch"]
    system = system_content(out)
    assert "You are a file search specialist for Claude Code" in system
    assert system.index("You are a Claude agent") < system.index("You are a file search specialist")
    assert "List the python files in this directory" in text_of(out["messages"][-1]["content"])


@pytest.mark.parametrize("provider_id", OPENAI_PROFILES)
def test_main_loop_after_a_subagent_notification(provider_id: str) -> None:
    body = nth_request("subagent_explore", 3)
    out = translate(body, provider_id)
    check_common(body, out, provider_id)
    assert out["messages"][-1]["role"] == "user"
    assert "[SYSTEM NOTIFICATION - NOT USER INPUT]" in text_of(out["messages"][-1]["content"])
    assert "Found nothing." in [m.get("content") for m in assistant_messages(out)]


# ------------------------------------------------------------------ title


def title_request() -> dict:
    [body] = [r.body for r in message_requests("ia_title_ok") if not r.body.get("tools")]
    assert body["output_config"]["format"]["type"] == "json_schema"
    return body


@pytest.mark.parametrize("provider_id", OPENAI_PROFILES)
def test_title_request_asks_for_json_schema_output(provider_id: str) -> None:
    body = title_request()
    profile = CATALOG[provider_id]
    out = translate(body, provider_id)
    check_common(body, out, provider_id)
    assert "tools" not in out and "tool_choice" not in out and "parallel_tool_calls" not in out
    schema = body["output_config"]["format"]["schema"]
    if profile.response_format:
        fmt = out["response_format"]
        assert fmt["type"] == "json_schema"
        assert fmt["json_schema"]["name"]
        expected = {key: value for key, value in schema.items() if key not in profile.schema_strip}
        assert fmt["json_schema"]["schema"] == expected
        assert fmt["json_schema"]["schema"]["properties"] == {"title": {"type": "string"}}
    else:
        assert "response_format" not in out
    assert "naming a coding session" in system_content(out)
    assert "<session>" in text_of(out["messages"][-1]["content"])


def test_title_schema_for_gemini_loses_additional_properties() -> None:
    out = translate(title_request(), "gemini")
    assert out["response_format"]["json_schema"]["schema"] == {
        "type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"],
    }  # fmt: skip


# ------------------------------------------------------------- compaction


def compaction_request() -> dict:
    [body] = [
        r.body
        for r in message_requests("compact_trigger")
        if "CRITICAL: Respond with TEXT ONLY" in json.dumps(r.body["messages"][-1])
    ]
    return body


@pytest.mark.parametrize("provider_id", OPENAI_PROFILES)
def test_compaction_request(provider_id: str) -> None:
    body = compaction_request()
    # The capture's cache_control sits on the last assistant tool_use.
    assert "cache_control" in body["messages"][2]["content"][-1]
    out = translate(body, provider_id)
    check_common(body, out, provider_id)
    last = out["messages"][-1]
    assert last["role"] == "user"
    assert text_of(last["content"]).startswith("CRITICAL: Respond with TEXT ONLY. Do NOT call any tools.")
    assert "create a detailed summary of the conversation so far" in text_of(last["content"])
    [tool] = tool_messages(out)
    assert tool["content"] == "hello"
    # The compaction prompt must not be forced into a tool call.
    assert out.get("tool_choice") in (None, "auto")


def test_post_compaction_request_translates() -> None:
    body = nth_request("compact_trigger", 2)
    out = translate(body, "openai")
    check_common(body, out, "openai")
    assert "This session is being continued from a previous conversation" in text_of(out["messages"][-1]["content"])


# -------------------------------------------------------------- websearch


@pytest.mark.parametrize("provider_id", OPENAI_PROFILES)
def test_websearch_side_request_does_not_forward_the_server_tool(provider_id: str) -> None:
    [body] = [r.body for r in message_requests("websearch") if any(t.get("type") == "web_search_20250305" for t in r.body["tools"])]
    assert body["tool_choice"] == {"type": "auto"}
    out = translate(body, provider_id)
    check_common(body, out, provider_id)
    assert "tools" not in out
    assert "tool_choice" not in out and "parallel_tool_calls" not in out
    assert "web_search" not in json.dumps({k: v for k, v in out.items() if k != "messages"})
    assert text_of(out["messages"][-1]["content"]) == "Perform a web search for the query: latest python release"
    assert "You run a web search for another Claude model" in system_content(out)


@pytest.mark.parametrize("provider_id", OPENAI_PROFILES)
def test_websearch_result_follow_up(provider_id: str) -> None:
    body = nth_request("websearch", 2)
    out = translate(body, provider_id)
    check_common(body, out, provider_id)
    [tool] = tool_messages(out)
    assert tool["content"].startswith('Web search results for query: "latest python release"')
    assert "WebSearch" in {t["function"]["name"] for t in out["tools"]}


# ------------------------------------------------------------- toolsearch


@pytest.mark.parametrize("provider_id", OPENAI_PROFILES)
def test_toolsearch_tool_reference_is_flattened(provider_id: str) -> None:
    body = nth_request("toolsearch", 1)
    result = body["messages"][3]["content"][0]
    assert result["content"] == [{"type": "tool_reference", "tool_name": "WebSearch"}]
    loaded = next(t for t in body["tools"] if t["name"] == "WebSearch")
    assert loaded["defer_loading"] is True

    out = translate(body, provider_id)
    check_common(body, out, provider_id)
    [tool] = tool_messages(out)
    assert isinstance(tool["content"], str) and "WebSearch" in tool["content"]
    assert "tool_reference" not in json.dumps(out)
    # "Tool loaded." (the text block after the result) still reaches the model, after the tool message.
    after = out["messages"][out["messages"].index(tool) + 1 :]
    assert any("Tool loaded." in text_of(m.get("content")) for m in after if m["role"] == "user")
    web_search = next(t for t in out["tools"] if t["function"]["name"] == "WebSearch")
    assert web_search["function"]["parameters"]["type"] == "object"
    assert "query" in web_search["function"]["parameters"]["properties"]


# -------------------------------------------------------------- bare mode


@pytest.mark.parametrize("capture", ["bare_authtoken", "bare_apikey"])
@pytest.mark.parametrize("provider_id", OPENAI_PROFILES)
def test_bare_mode_empty_system_turn(capture: str, provider_id: str) -> None:
    body = first_request(capture)
    assert body["messages"][1] == {"role": "system", "content": [], "output_config": {"effort": "medium"}}
    out = translate(body, provider_id)
    check_common(body, out, provider_id)
    assert [m["role"] for m in out["messages"]] == ["system", "user"]
    system = system_content(out)
    identity, cwd = body["system"][1]["text"], body["system"][2]["text"]
    assert system == f"{identity}\n\n{cwd}"
    assert text_of(out["messages"][1]["content"]) == "say hi"
    assert len(out["tools"]) == 3


# --------------------------------------------------------- classic thinking


def test_model_sonnet45_classic_shape() -> None:
    body = first_request("model_sonnet45")
    assert body["thinking"] == {"budget_tokens": 31999, "type": "enabled", "display": "omitted"}
    assert body["max_tokens"] == 32000 and "output_config" not in body
    assert all(m["role"] != "system" for m in body["messages"])
    out = translate(body, "openai")
    check_common(body, out, "openai")
    assert out["max_completion_tokens"] == 32000
    # The reminders live in the one user turn, not in the system message.
    assert [m["role"] for m in out["messages"]] == ["system", "user"]
    user = text_of(out["messages"][1]["content"])
    assert "# Environment" in user and user.rstrip().endswith("say hi")


# A budget of 31999 tokens is a "high" effort in every provider's words.
SONNET45_REASONING = {
    "openai": {"reasoning_effort": "high"},
    "gemini": {"reasoning_effort": "high"},
    "wafer": {"reasoning_effort": "high"},
    "openrouter": {"reasoning": {"effort": "high"}},
    "deepseek": {"thinking": {"type": "enabled"}},
    "zai": {"thinking": {"type": "enabled"}},
    "kimi": {"thinking": {"type": "enabled"}},
    "nvidia_nim": {"chat_template_kwargs": {"enable_thinking": True}},
    "vllm": {"chat_template_kwargs": {"enable_thinking": True}},
    "llamacpp": {"chat_template_kwargs": {"enable_thinking": True}},
    "groq": {},
    "cerebras": {},
    "mistral": {},
    "minimax": {},
    "ollama": {},
}


@pytest.mark.parametrize(("provider_id", "expected"), sorted(SONNET45_REASONING.items()))
def test_model_sonnet45_budget_maps_to_provider_reasoning(provider_id: str, expected: dict) -> None:
    body = first_request("model_sonnet45")
    out = translate(body, provider_id)
    check_common(body, out, provider_id)
    reasoning_keys = {"reasoning_effort", "reasoning", "thinking", "chat_template_kwargs"}
    assert {key: out[key] for key in reasoning_keys if key in out} == expected
    assert out[CATALOG[provider_id].max_tokens_field] == min(32000, CATALOG[provider_id].max_tokens_cap or 32000)


# ----------------------------------------------------------- count_tokens


def test_count_tokens_bodies_are_accepted_and_estimated() -> None:
    requests = count_tokens_requests("slash_context")
    assert len(requests) == 25
    estimates = []
    for record in requests:
        body, error = parse_request(record.raw, count_tokens=True)
        assert error is None, error
        assert body == record.body
        assert "max_tokens" not in body and "system" not in body
        estimate = estimate_input_tokens(body)
        size = len(json.dumps(body))
        assert isinstance(estimate, int) and estimate >= 1
        # Plausible: between one token per 8 characters and one per 1.5 (the JSON overhead is not text).
        assert size / 8 - 10 <= estimate <= size / 1.5, (size, estimate)
        estimates.append((size, estimate))
    # Bigger bodies estimate bigger.
    smallest, largest = min(estimates), max(estimates)
    assert largest[1] > 10 * smallest[1]


def test_count_tokens_body_with_a_tool_counts_the_tool() -> None:
    with_tool = next(r.body for r in count_tokens_requests("slash_context") if r.body["tools"])
    without = copy.deepcopy(with_tool)
    without["tools"] = []
    assert estimate_input_tokens(with_tool) > estimate_input_tokens(without)


def test_count_tokens_body_is_not_a_messages_body() -> None:
    """A count_tokens body sent to /v1/messages would be served with no max_tokens: parse_request accepts it
    (lenient), but classify still sees it as a side request, not the main loop."""
    body = count_tokens_requests("slash_context")[0].body
    assert classify(body, {}) == "side"


# ------------------------------------------------------------ every capture


def _all_message_bodies(file_name: str) -> list[CapturedRequest]:
    """Every distinct POST /v1/messages body of a file (retry storms repeat one body many times)."""
    seen: set[str] = set()
    records = []
    for record in load_capture(file_name):
        if not (record.is_messages and isinstance(record.body.get("messages"), list)):
            continue
        key = json.dumps(record.body, sort_keys=True)
        if key not in seen:
            seen.add(key)
            records.append(record)
    return records


@pytest.mark.parametrize("file_name", capture_file_params())
def test_every_captured_messages_body_translates_for_every_profile(file_name: str) -> None:
    records = _all_message_bodies(file_name)
    for record in records:
        body = record.body
        parsed, error = parse_request(record.raw)
        assert error is None, f"{file_name} seq {record.seq}: {error}"
        for provider_id in OPENAI_PROFILES:
            try:
                out = translate(body, provider_id)
                check_common(body, out, provider_id)
            except AssertionError as exc:
                raise AssertionError(f"{file_name} seq {record.seq} for {provider_id}: {exc}") from exc
        for provider_id in NATIVE_PROFILES:
            original = copy.deepcopy(body)
            native = translate_native_request(
                body, UPSTREAM_MODEL, max_tokens_cap=CATALOG[provider_id].max_tokens_cap,
                genuine_anthropic=provider_id == "anthropic",
            )  # fmt: skip
            assert body == original, "translate_native_request mutated the client's request"
            assert native["model"] == UPSTREAM_MODEL
            assert BILLING_MARKER not in json.dumps(native.get("system", ""))
            assert native["messages"]
            if provider_id == "anthropic":
                assert len(native["messages"]) == len(body["messages"])
            else:
                # Third-party endpoints know only user/assistant: system turns are folded into `system`.
                assert {m["role"] for m in native["messages"]} <= {"user", "assistant"}
                kept = [m for m in body["messages"] if m["role"] != "system"]
                assert len(native["messages"]) <= len(kept)
