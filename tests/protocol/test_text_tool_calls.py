"""Tool calls written as text (no tool parser upstream) become real tool_use blocks, strictly.

Each stream is written the way the model's chat template renders a call and a
server without a tool parser streams it (tests/support/text_tool_streams.py),
then replayed cut every way (1 byte, random, per event, whole): the client's
final message must have the right tool_use blocks and exactly the surrounding text.
"""

from __future__ import annotations

import pytest

from tests.support.text_tool_streams import BASH, TOOLS, chunkings, final_message, shape, sse_stream, tokens

LS = {"command": "ls -la"}

# (id, server, content as the model writes it, expected blocks)
DIALECT_STREAMS = [
    ("hermes-qwen2.5", "llamacpp",
     "I'll list the files.\n<tool_call>\n{\"name\": \"Bash\", \"arguments\": {\"command\": \"ls -la\"}}\n</tool_call>",
     [("text", "I'll list the files.\n"), ("tool_use", "Bash", LS)]),
    ("hermes-ollama-go-escaped", "ollama",
     "<tool_call>\n{\"name\": \"Bash\", \"arguments\": {\"command\": \"ls -la && echo <ok>\"}}\n</tool_call>",
     [("tool_use", "Bash", {"command": "ls -la && echo <ok>"})]),
    ("hermes-literal-u003c", "ollama",
     "\\u003ctool_call\\u003e\n{\"name\": \"Bash\", \"arguments\": {\"command\": \"ls -la\"}}\n\\u003c/tool_call\\u003e",
     [("tool_use", "Bash", LS)]),
    ("hermes-qwen3-think-then-call", "ollama",
     "<think>\nThe user wants the files listed.\n</think>\n\n<tool_call>\n{\"name\": \"Bash\", \"arguments\": "
     "{\"command\": \"ls -la\"}}\n</tool_call>",
     [("thinking", "\nThe user wants the files listed.\n"), ("tool_use", "Bash", LS)]),
    ("hermes-parallel", "vllm",
     "<tool_call>\n{\"name\": \"Read\", \"arguments\": {\"file_path\": \"/repo/setup.py\", \"limit\": 20}}\n</tool_call>\n"
     "<tool_call>\n{\"name\": \"Bash\", \"arguments\": {\"command\": \"git status\"}}\n</tool_call>",
     [("tool_use", "Read", {"file_path": "/repo/setup.py", "limit": 20}), ("tool_use", "Bash", {"command": "git status"})]),
    ("hermes-text-after", "llamacpp",
     "<tool_call>\n{\"name\": \"Bash\", \"arguments\": {\"command\": \"ls -la\"}}\n</tool_call>\nI'll wait for the output.",
     [("tool_use", "Bash", LS), ("text", "\nI'll wait for the output.")]),
    ("hermes-stringified-arguments", "llamacpp",
     "<tool_call>\n{\"name\": \"Bash\", \"arguments\": \"{\\\"command\\\": \\\"ls -la\\\"}\"}\n</tool_call>",
     [("tool_use", "Bash", LS)]),
    ("qwen3-coder", "vllm",
     "Let me check.\n<tool_call>\n<function=Bash>\n<parameter=command>\ngit status --short\n</parameter>\n"
     "<parameter=timeout>\n30\n</parameter>\n</function>\n</tool_call>",
     [("text", "Let me check.\n"), ("tool_use", "Bash", {"command": "git status --short", "timeout": 30})]),
    ("qwen3-coder-multiline-value", "llamacpp",
     "<tool_call>\n<function=Bash>\n<parameter=command>\ncat > a.txt <<'EOF'\nif a < b:\n    pass\nEOF\n</parameter>\n"
     "</function>\n</tool_call>",
     [("tool_use", "Bash", {"command": "cat > a.txt <<'EOF'\nif a < b:\n    pass\nEOF"})]),
    ("qwen3-coder-bare-function", "ollama",
     "Running it now.\n<function=Read>\n<parameter=file_path>\n/etc/hosts\n</parameter>\n</function>",
     [("text", "Running it now.\n"), ("tool_use", "Read", {"file_path": "/etc/hosts"})]),
    ("glm-4.5", "vllm",
     "<tool_call>Read\n<arg_key>file_path</arg_key>\n<arg_value>/repo/README.md</arg_value>\n<arg_key>limit</arg_key>\n"
     "<arg_value>40</arg_value>\n</tool_call>",
     [("tool_use", "Read", {"file_path": "/repo/README.md", "limit": 40})]),
    ("glm-4.7-compact", "llamacpp",
     "<tool_call>TodoWrite<arg_key>todos</arg_key><arg_value>[{\"content\": \"write tests\", \"status\": \"pending\"}]"
     "</arg_value></tool_call>",
     [("tool_use", "TodoWrite", {"todos": [{"content": "write tests", "status": "pending"}]})]),
    ("mistral-pre-v11", "vllm",
     "[TOOL_CALLS] [{\"name\": \"Bash\", \"arguments\": {\"command\": \"pwd\"}, \"id\": \"a1B2c3D4e\"}]",
     [("tool_use", "Bash", {"command": "pwd"})]),
    ("mistral-v11", "llamacpp",
     "I'll run the tests.[TOOL_CALLS]Bash[ARGS]{\"command\": \"pytest -q\"}",
     [("text", "I'll run the tests."), ("tool_use", "Bash", {"command": "pytest -q"})]),
    ("mistral-v13-call-id-two-calls", "vllm",
     "[TOOL_CALLS]Read[CALL_ID]k2J9xQ1aZ[ARGS]{\"file_path\": \"/etc/hosts\"}[TOOL_CALLS]Bash[ARGS]{\"command\": \"id\"}",
     [("tool_use", "Read", {"file_path": "/etc/hosts"}), ("tool_use", "Bash", {"command": "id"})]),
    ("mistral-hf-no-args-token", "llamacpp",
     "[TOOL_CALLS]Bash{\"command\": \"ls -la\"}",
     [("tool_use", "Bash", LS)]),
    ("llama3.1-python-tag", "vllm",
     "<|python_tag|>{\"name\": \"Bash\", \"parameters\": {\"command\": \"uname -a\"}}<|eom_id|>",
     [("tool_use", "Bash", {"command": "uname -a"})]),
    ("llama3.1-python-tag-two", "llamacpp",
     "<|python_tag|>{\"name\": \"Bash\", \"parameters\": {\"command\": \"ls\"}}; "
     "{\"name\": \"Read\", \"parameters\": {\"file_path\": \"/a\"}}",
     [("tool_use", "Bash", {"command": "ls"}), ("tool_use", "Read", {"file_path": "/a"})]),
    ("json-whole-message-qwen2.5-coder", "ollama",
     "{\"name\": \"Bash\", \"arguments\": {\"command\": \"ls -la\"}}",
     [("tool_use", "Bash", LS)]),
    ("json-llama3.2", "ollama",
     "{\"type\": \"function\", \"name\": \"Read\", \"parameters\": {\"file_path\": \"/tmp/x\"}}",
     [("tool_use", "Read", {"file_path": "/tmp/x"})]),
    ("deepseek-v3.1", "vllm",
     "Checking.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>Bash<｜tool▁sep｜>{\"command\":\"ls -la\"}<｜tool▁call▁end｜>"
     "<｜tool▁calls▁end｜>",
     [("text", "Checking."), ("tool_use", "Bash", LS)]),
    ("deepseek-v3-r1", "llamacpp",
     "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>Read\n```json\n{\"file_path\": \"/a\"}\n```"
     "<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>Bash\n```json\n{\"command\": \"ls -la\"}\n```"
     "<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
     [("tool_use", "Read", {"file_path": "/a"}), ("tool_use", "Bash", LS)]),
    ("minimax-m2", "vllm",
     "<think>\nList first.\n</think>\n\n<minimax:tool_call>\n<invoke name=\"Bash\">\n<parameter name=\"command\">ls -la"
     "</parameter>\n<parameter name=\"timeout\">60</parameter>\n</invoke>\n<invoke name=\"Read\">\n"
     "<parameter name=\"file_path\">/x</parameter>\n</invoke>\n</minimax:tool_call>",
     [("thinking", "\nList first.\n"), ("tool_use", "Bash", {"command": "ls -la", "timeout": 60}),
      ("tool_use", "Read", {"file_path": "/x"})]),
    ("step-3.5-nim", "vllm",
     "Let me search.\n<｜tool_calls_begin｜>\n<｜tool_call_begin｜>function<｜tool_sep｜><steptml:invoke name=\"Bash\">\n"
     "<steptml:parameter name=\"command\">ls -la</steptml:parameter>\n<steptml:parameter name=\"timeout\">10"
     "</steptml:parameter>\n</steptml:invoke><｜tool_call_end｜>\n<｜tool_calls_end｜>",
     [("text", "Let me search.\n"), ("tool_use", "Bash", {"command": "ls -la", "timeout": 10})]),
    ("kimi-k2", "vllm",
     "<|tool_calls_section_begin|><|tool_call_begin|>functions.Bash:0<|tool_call_argument_begin|>{\"command\": \"ls -la\"}"
     "<|tool_call_end|><|tool_call_begin|>functions.Read:1<|tool_call_argument_begin|>{\"file_path\": \"/x\"}"
     "<|tool_call_end|><|tool_calls_section_end|>",
     [("tool_use", "Bash", LS), ("tool_use", "Read", {"file_path": "/x"})]),
]


@pytest.mark.parametrize("case", DIALECT_STREAMS, ids=[c[0] for c in DIALECT_STREAMS])
def test_dialect_stream_becomes_tool_use_in_every_chunking(case) -> None:
    _id, server, content, expected = case
    body = sse_stream(tokens(content), server=server)
    for label, pieces in chunkings(body).items():
        message = final_message(pieces)
        assert shape(message) == expected, label
        assert message["stop_reason"] == "tool_use", label
        for block in message["content"]:
            if block["type"] == "tool_use":
                assert block["id"].startswith("toolu_txt_")


def test_ollama_stream_really_carries_go_escapes() -> None:
    body = sse_stream(tokens("<tool_call>\n{}\n</tool_call>"), server="ollama")
    assert b"\\u003ctool_call\\u003e" in body and b"<tool_call>" not in body


def test_non_streaming_client_gets_the_same_message() -> None:
    """stream:false is served by the same events through MessageAccumulator (the engine's path)."""
    content = DIALECT_STREAMS[0][2]
    message = final_message([sse_stream(tokens(content))])
    assert message["content"][1]["input"] == LS and message["stop_reason"] == "tool_use"


# (id, content): each must reach the client byte-exact as text, with end_turn.
NEAR_MISSES = [
    ("undeclared-tool", "<tool_call>\n{\"name\": \"rm_everything\", \"arguments\": {}}\n</tool_call>"),
    ("missing-required", "<tool_call>\n{\"name\": \"Bash\", \"arguments\": {\"timeout\": 5}}\n</tool_call>"),
    ("wrong-type", "<tool_call>\n{\"name\": \"Bash\", \"arguments\": {\"command\": [\"ls\"]}}\n</tool_call>"),
    ("broken-json", "<tool_call>\n{\"name\": \"Bash\" \"arguments\" {\"command\": \"ls\"}}\n</tool_call>"),
    ("fenced-example", "Hermes models write:\n```xml\n<tool_call>\n{\"name\": \"Bash\", \"arguments\": "
                       "{\"command\": \"ls\"}}\n</tool_call>\n```\nThat is the format."),
    ("inline-code", "Wrap calls as `<tool_call>{\"name\": \"Bash\", \"arguments\": {\"command\": \"ls\"}}</tool_call>`."),
    ("quoted", "The format is \"<tool_call>{\"name\": \"Bash\", \"arguments\": {\"command\": \"ls\"}}</tool_call>\"."),
    ("prose-tags", "Use <tool_call> tags to call tools, e.g. <tool_call> name </tool_call>."),
    ("mistral-token-in-prose", "The [TOOL_CALLS] token starts a call; [TOOL_CALLS]Bash is how."),
    ("python-builtin-tool", "<|python_tag|>brave_search.call(query=\"fcc proxy\")<|eom_id|>"),
    ("json-answer", "{\"name\": \"Alice\", \"age\": 3}"),
    ("json-not-alone", "{\"name\": \"Bash\", \"arguments\": {\"command\": \"ls\"}} is what a call looks like."),
    ("lone-brackets", "if a < b and c[0] > d:\n    print('<tool')\n"),
    ("unclosed-glm", "<tool_call>Bash\n<arg_key>command</arg_key>\n<arg_value>ls"),
]


@pytest.mark.parametrize("case", NEAR_MISSES, ids=[c[0] for c in NEAR_MISSES])
def test_near_misses_are_released_unchanged(case) -> None:
    _id, content = case
    body = sse_stream(tokens(content))
    for label, pieces in chunkings(body).items():
        message = final_message(pieces)
        assert shape(message) == [("text", content)], label
        assert message["stop_reason"] == "end_turn", label


CALL = "<tool_call>\n{\"name\": \"Bash\", \"arguments\": {\"command\": \"ls -la\"}}\n</tool_call>"


def test_no_declared_tools_means_no_recognition() -> None:
    message = final_message([sse_stream(tokens(CALL))], request={"tools": []})
    assert shape(message) == [("text", CALL)]


def test_tool_choice_none_means_no_recognition() -> None:
    request = {"tools": [BASH], "tool_choice": {"type": "none"}}
    assert shape(final_message([sse_stream(tokens(CALL))], request=request)) == [("text", CALL)]


def test_setting_off_or_unmatched_model_means_no_recognition() -> None:
    assert shape(final_message([sse_stream(tokens(CALL))], setting=("off",))) == [("text", CALL)]
    # "auto" follows the model name: a GPT model is not known to write Hermes calls, a Qwen one is.
    assert shape(final_message([sse_stream(tokens(CALL))], setting=("auto",), model="gpt-4o")) == [("text", CALL)]
    auto = final_message([sse_stream(tokens(CALL))], setting=("auto",), model="qwen3:32b")
    assert shape(auto) == [("tool_use", "Bash", LS)]


def test_a_call_cut_by_the_output_limit_is_not_run() -> None:
    content = "<tool_call>\n{\"name\": \"Bash\", \"arguments\": {\"command\": \"ls -la\"}}"
    message = final_message([sse_stream(tokens(content), finish="length")])
    assert shape(message) == [("text", content)]
    assert message["stop_reason"] == "max_tokens"


def test_unterminated_call_at_a_clean_end_is_still_a_call() -> None:
    """Some servers stop on the end-of-turn token right after the JSON, before `</tool_call>`."""
    content = "<tool_call>\n{\"name\": \"Bash\", \"arguments\": {\"command\": \"ls -la\"}}\n"
    message = final_message([sse_stream(tokens(content))])
    assert shape(message) == [("tool_use", "Bash", LS)]


def test_a_rejected_lookalike_does_not_hide_a_real_call_after_it() -> None:
    content = ("<tool_call>\n{\"name\": \"Nope\", \"arguments\": {}}\n</tool_call>\nThen:\n" + CALL)
    message = final_message([sse_stream(tokens(content))])
    assert shape(message) == [("text", "<tool_call>\n{\"name\": \"Nope\", \"arguments\": {}}\n</tool_call>\nThen:\n"),
                              ("tool_use", "Bash", LS)]


def test_native_tool_calls_still_work_next_to_recognition() -> None:
    import json

    chunks = [
        {"choices": [{"index": 0, "delta": {"content": "ok "}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                                            "function": {"name": "Bash", "arguments": "{\"command\":\"ls\"}"}}]}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    ]
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks).encode() + b"data: [DONE]\n\n"
    message = final_message([body])
    assert shape(message) == [("text", "ok "), ("tool_use", "Bash", {"command": "ls"})]
    assert message["content"][1]["id"] == "call_1"


def test_a_cut_off_call_is_never_completed_by_repair() -> None:
    """The stream ends cleanly but the JSON is cut: closing it would run half a command."""
    content = "<tool_call>\n{\"name\": \"Bash\", \"arguments\": {\"command\": \"rm -rf build && make"
    message = final_message([sse_stream(tokens(content))])
    assert shape(message) == [("text", content)]
    assert message["stop_reason"] == "end_turn"


@pytest.mark.parametrize("content", [
    "<tool_call>Bash\n<arg_key>command</arg_key>\n<arg_value>ls</arg_value>\n",
    "<function=Bash>\n<parameter=command>\nls\n</parameter>\n",
    "<|tool_calls_section_begin|><|tool_call_begin|>functions.Bash:0<|tool_call_argument_begin|>{\"command\": \"ls\"}"
    "<|tool_call_end|>",
])
def test_an_xml_or_token_call_without_its_end_marker_stays_text(content: str) -> None:
    message = final_message([sse_stream(tokens(content))])
    assert shape(message) == [("text", content)]


def test_the_reader_releases_held_text_on_the_engines_clock() -> None:
    from fcc.core.dialects.openai_chat_stream import OpenAIChatReader
    from fcc.core.text_tools import recogniser_for

    reader = OpenAIChatReader("claude-sonnet-4-5", None, text_tools=recogniser_for(("all",), "m", {"tools": TOOLS}))
    body = sse_stream(["Hello ", "<tool_"])
    events = reader.feed(body[: body.index(b"stop")])  # everything before the finish chunk
    texts = [e["delta"]["text"] for e in events if e["type"] == "content_block_delta"]
    assert texts == ["Hello "] and reader.holding
    assert reader.flush_pending(50.0) == []  # the first look starts the clock
    released = reader.flush_pending(53.0)
    assert [e["delta"]["text"] for e in released if e["type"] == "content_block_delta"] == ["<tool_"]
    assert not reader.holding
