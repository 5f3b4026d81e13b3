"""The benchmark workload, shared by the scripted upstream and the clients.

- What the upstream streams for N chunks: text pieces plus two tool calls whose
  arguments arrive in pieces, as an OpenAI chat SSE stream and as the
  equivalent Anthropic Messages SSE stream.
- What the clients send: a Claude-Code-shaped `POST /v1/messages` body (~20 KB:
  2 system blocks with cache_control, 20 tools with JSON schemas, 5 turns with
  tool_use/tool_result) and the equivalent OpenAI chat body for the floors.
- What a correct answer holds (`expected`), so every response is checked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

MODEL = "bench-model"
CLIENT_MODEL = "claude-sonnet-4-5-20250929"
_WORDS = ("The", " quick", " change", " keeps", " the", " parser", " small", ";", " tests", " pass", " now", ".", "\n")
_TOOLS = (
    ("call_bench_read_0001", "Read", {"file_path": "addon/fcc/core/dialects/openai_chat_stream.py", "offset": 120, "limit": 200}),
    ("call_bench_bash_0002", "Bash", {"command": "python -m pytest -q tests/protocol -x", "description": "Run the protocol tests",
                                      "timeout": 120000}),
)


@dataclass(frozen=True)
class Expected:
    text: str
    tools: tuple[tuple[str, str, dict], ...]  # (id, name, input)
    pieces_per_tool: int

    @property
    def stop_reason(self) -> str:
        return "tool_use" if self.tools else "end_turn"


def shape(chunks: int) -> tuple[int, int]:
    """(text pieces, argument pieces per tool call) for `chunks` content chunks in all."""
    if chunks < 3:
        return max(1, chunks), 0
    per_tool = min(8, max(1, (chunks - 1) // 4))
    return chunks - 2 * per_tool, per_tool


def _split(text: str, pieces: int) -> list[str]:
    step = -(-len(text) // pieces)
    return [text[i : i + step] for i in range(0, len(text), step)][:pieces] or [""]


def _text_pieces(count: int) -> list[str]:
    return [_WORDS[i % len(_WORDS)] for i in range(count)]


def expected(chunks: int) -> Expected:
    text_pieces, per_tool = shape(chunks)
    tools = _TOOLS if per_tool else ()
    return Expected("".join(_text_pieces(text_pieces)), tools, per_tool)


def _tool_arg_pieces(per_tool: int) -> list[list[str]]:
    out = []
    for _, _, args in _TOOLS:
        pieces = _split(json.dumps(args), per_tool)
        while len(pieces) < per_tool:  # very short argument strings: pad with empty pieces
            pieces.append("")
        out.append(pieces)
    return out


# ------------------------------------------------------------------ upstream streams
def _data(obj: dict) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def _event(name: str, obj: dict) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def openai_events(chunks: int) -> list[bytes]:
    """One bytes object per SSE event: N content chunks, a finish chunk, a usage chunk, [DONE]."""
    text_pieces, per_tool = shape(chunks)
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1763700000, "model": MODEL}

    def chunk(delta: dict, finish: str | None = None) -> bytes:
        return _data({**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]})

    out = []
    for i, piece in enumerate(_text_pieces(text_pieces)):
        out.append(chunk({"role": "assistant", "content": piece} if i == 0 else {"content": piece}))
    if per_tool:
        for index, ((call_id, name, _), pieces) in enumerate(zip(_TOOLS, _tool_arg_pieces(per_tool))):
            for j, piece in enumerate(pieces):
                if j == 0:
                    call = {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": piece}}
                else:
                    call = {"index": index, "function": {"arguments": piece}}
                out.append(chunk({"tool_calls": [call]}))
    out.append(chunk({}, "tool_calls" if per_tool else "stop"))
    out.append(_data({**base, "choices": [], "usage": {"prompt_tokens": 5000, "completion_tokens": chunks, "total_tokens": 5000 + chunks}}))
    out.append(b"data: [DONE]\n\n")
    return out


def anthropic_events(chunks: int) -> list[bytes]:
    """The same answer as Anthropic Messages SSE (what an anthropic_messages upstream sends)."""
    text_pieces, per_tool = shape(chunks)
    out = [
        _event("message_start", {"type": "message_start", "message": {
            "id": "msg_bench", "type": "message", "role": "assistant", "model": MODEL, "content": [],
            "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 5000, "output_tokens": 1, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}}}),
        _event("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ]
    for piece in _text_pieces(text_pieces):
        out.append(_event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                  "delta": {"type": "text_delta", "text": piece}}))
    out.append(_event("content_block_stop", {"type": "content_block_stop", "index": 0}))
    if per_tool:
        for index, ((call_id, name, _), pieces) in enumerate(zip(_TOOLS, _tool_arg_pieces(per_tool)), start=1):
            out.append(_event("content_block_start", {"type": "content_block_start", "index": index,
                                                      "content_block": {"type": "tool_use", "id": call_id, "name": name, "input": {}}}))
            for piece in pieces:
                out.append(_event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                          "delta": {"type": "input_json_delta", "partial_json": piece}}))
            out.append(_event("content_block_stop", {"type": "content_block_stop", "index": index}))
    stop = "tool_use" if per_tool else "end_turn"
    out.append(_event("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                        "usage": {"output_tokens": chunks}}))
    out.append(_event("message_stop", {"type": "message_stop"}))
    return out


# ------------------------------------------------------------------ client requests
def _schema(i: int) -> dict:
    props = {
        f"arg_{j}": {"type": ["string", "integer", "boolean"][j % 3],
                     "description": f"Parameter {j}: what it controls and its default."}
        for j in range(4)
    }
    props["options"] = {"type": "object", "properties": {"mode": {"type": "string", "enum": ["fast", "safe", "full"]},
                                                         "paths": {"type": "array", "items": {"type": "string"}}},
                        "additionalProperties": False}
    return {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "properties": props,
            "required": ["arg_0", "arg_1"], "additionalProperties": False}


_TOOL_NAMES = ("Task", "Bash", "Glob", "Grep", "LS", "ExitPlanMode", "Read", "Edit", "MultiEdit", "Write",
               "NotebookEdit", "WebFetch", "TodoWrite", "WebSearch", "BashOutput", "KillShell", "SlashCommand",
               "mcp__ide__getDiagnostics", "mcp__ide__executeCode", "ListMcpResourcesTool")


def anthropic_body(model: str = CLIENT_MODEL) -> dict:
    tools = [{"name": name, "description": f"{name}: " + ("Performs one well-defined action in the workspace and reports the "
                                                            "result; read the usage notes before calling it. ") * 1,
              "input_schema": _schema(i)} for i, name in enumerate(_TOOL_NAMES)]
    system = [
        {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude.", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": ("You are an interactive CLI tool that helps users with software engineering tasks. "
                                  "Use the instructions below and the tools available to you to assist the user. ") * 14,
         "cache_control": {"type": "ephemeral"}},
    ]
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "<system-reminder>Context: repo /work/main, branch main.</system-reminder>"},
                                     {"type": "text", "text": "Find why the protocol tests fail and fix it."}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Let me run the tests first."},
                                          {"type": "tool_use", "id": "toolu_bench_01", "name": "Bash",
                                           "input": {"command": "pytest -q tests/protocol", "description": "Run tests"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_bench_01",
                                      "content": "F.....\nFAILED tests/protocol/test_stream_rules.py::test_usage - assert 0 == 5000\n" * 4,
                                      "is_error": False}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_bench_02", "name": "Read",
                                           "input": {"file_path": "addon/fcc/core/dialects/openai_chat_stream.py"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_bench_02",
                                      "content": "    def finish(self):\n        return self._close_blocks()\n" * 6,
                                      "cache_control": {"type": "ephemeral"}}]},
    ]
    return {"model": model, "max_tokens": 32000, "stream": True, "system": system, "messages": messages, "tools": tools,
            "metadata": {"user_id": "user_bench_account__session_00000000-0000-0000-0000-000000000000"},
            "temperature": 1}


def openai_body(model: str = MODEL) -> dict:
    """The Anthropic body as a translator would send it upstream (for the floors, which do not translate)."""
    source = anthropic_body()
    messages: list[dict] = [{"role": "system", "content": "\n\n".join(b["text"] for b in source["system"])}]
    for message in source["messages"]:
        texts = [b["text"] for b in message["content"] if b["type"] == "text"]
        calls = [{"id": b["id"], "type": "function", "function": {"name": b["name"], "arguments": json.dumps(b["input"])}}
                 for b in message["content"] if b["type"] == "tool_use"]
        for b in message["content"]:
            if b["type"] == "tool_result":
                messages.append({"role": "tool", "tool_call_id": b["tool_use_id"], "content": b["content"]})
        if texts or calls:
            entry: dict = {"role": message["role"], "content": "\n".join(texts) or None}
            if calls:
                entry["tool_calls"] = calls
            messages.append(entry)
    tools = [{"type": "function", "function": {"name": t["name"], "description": t["description"], "parameters": t["input_schema"]}}
             for t in source["tools"]]
    return {"model": model, "messages": messages, "tools": tools, "max_tokens": 16384, "stream": True,
            "stream_options": {"include_usage": True}, "temperature": 1}


CLAUDE_CODE_HEADERS = {
    "accept": "application/json",
    "user-agent": "claude-cli/2.1.330 (external, sdk-cli)",
    "x-claude-code-session-id": "00000000-0000-4000-8000-000000000000",
    "x-stainless-arch": "x64", "x-stainless-lang": "js", "x-stainless-os": "Linux",
    "x-stainless-package-version": "0.128.0", "x-stainless-runtime": "node", "x-stainless-runtime-version": "v20.20.2",
    "x-stainless-retry-count": "0", "x-stainless-timeout": "600",
    "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27",
    "anthropic-dangerous-direct-browser-access": "true",
    "anthropic-version": "2023-06-01",
    "x-app": "cli",
    # The upstream refuses /v1/messages requests that still carry this header: it means
    # a proxy passed the client's request through instead of making its own.
    "x-bench-trap": "1",
}
