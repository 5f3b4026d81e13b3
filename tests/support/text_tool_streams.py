"""Upstream streams of models that write their tool calls as text, shaped like the servers emit them.

Written for these tests from the models' chat templates and the serving stacks'
parsers (no captured fixture copied): a server without a tool parser streams the
model's tokens as `delta.content`, one token per chunk, special tokens included
as text. Ollama's Go encoder escapes `<`, `>` and `&` as `\\u003c`, `\\u003e`,
`\\u0026` inside the JSON; llama.cpp and vLLM do not.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable

from fcc.core.dialects.openai_chat_stream import OpenAIChatReader
from fcc.core.events import MessageAccumulator
from fcc.core.text_tools import recogniser_for

BASH = {
    "name": "Bash",
    "description": "Run a shell command",
    "input_schema": {
        "type": "object",
        "properties": {
            "command": {"type": "string"},
            "timeout": {"type": "number"},
            "run_in_background": {"type": "boolean"},
        },
        "required": ["command"],
        "additionalProperties": False,
    },
}
READ = {
    "name": "Read",
    "input_schema": {
        "type": "object",
        "properties": {"file_path": {"type": "string"}, "offset": {"type": "integer"}, "limit": {"type": "integer"}},
        "required": ["file_path"],
    },
}
TODO = {
    "name": "TodoWrite",
    "input_schema": {
        "type": "object",
        "properties": {"todos": {"type": "array"}},
        "required": ["todos"],
    },
}
TOOLS = [BASH, READ, TODO]

# Special tokens stay whole: a tokenizer emits each as one token.
_SPECIAL = re.compile(
    r"(<\|[a-z_]+\|>|<｜[^｜]+｜>|\[TOOL_CALLS\]|\[ARGS\]|\[CALL_ID\]|</?tool_call>|</?think>|</?arg_key>|</?arg_value>)"
)
_WORDS = re.compile(r"\s+|\w+|[^\w\s]")


def tokens(text: str) -> list[str]:
    """Pseudo-tokens: special tokens whole, then words, runs of space, single punctuation."""
    out: list[str] = []
    for part in _SPECIAL.split(text):
        if not part:
            continue
        if _SPECIAL.fullmatch(part):
            out.append(part)
        else:
            out.extend(_WORDS.findall(part))
    return out


def _go_escape(data: str) -> str:
    return data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def sse_stream(content_tokens: Iterable[str], *, server: str = "llamacpp", finish: str = "stop",
               model: str = "local-model") -> bytes:
    """The SSE body a server without a tool parser streams for these content tokens."""
    events: list[str] = []
    for index, token in enumerate(content_tokens):
        if server == "ollama":
            chunk = {"id": "chatcmpl-612", "object": "chat.completion.chunk", "created": 1760000000, "model": model,
                     "system_fingerprint": "fp_ollama",
                     "choices": [{"index": 0, "delta": {"role": "assistant", "content": token}, "finish_reason": None}]}
            data = _go_escape(json.dumps(chunk, ensure_ascii=False, separators=(",", ":")))
        elif server == "vllm":
            delta = {"role": "assistant", "content": ""} if index == 0 else {"content": token}
            chunk = {"id": "chatcmpl-7f3e", "object": "chat.completion.chunk", "created": 1760000000, "model": model,
                     "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}]}
            data = json.dumps(chunk, ensure_ascii=False)
            if index == 0:
                events.append(f"data: {data}\n\n")
                chunk["choices"][0]["delta"] = {"content": token}
                data = json.dumps(chunk, ensure_ascii=False)
        else:  # llama.cpp server
            chunk = {"choices": [{"finish_reason": None, "index": 0, "delta": {"content": token}}],
                     "created": 1760000000, "id": "chatcmpl-Zq1", "model": model, "system_fingerprint": "b6100",
                     "object": "chat.completion.chunk"}
            data = json.dumps(chunk, ensure_ascii=False, separators=(",", ":"))
        events.append(f"data: {data}\n\n")
    final = {"id": "chatcmpl-end", "object": "chat.completion.chunk", "model": model,
             "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
    events.append(f"data: {json.dumps(final)}\n\n")
    usage = {"id": "chatcmpl-end", "object": "chat.completion.chunk", "model": model, "choices": [],
             "usage": {"prompt_tokens": 900, "completion_tokens": 60, "total_tokens": 960}}
    events.append(f"data: {json.dumps(usage)}\n\n")
    events.append("data: [DONE]\n\n")
    return "".join(events).encode()


def chunkings(body: bytes, seed: int = 7) -> dict[str, list[bytes]]:
    """The same bytes cut every way a network may cut them: 1 byte, random, per event, whole."""
    rng = random.Random(seed)
    out = {"1-byte": [body[i : i + 1] for i in range(len(body))], "whole": [body]}
    out["per-event"] = [part + b"\n\n" for part in body.split(b"\n\n") if part]
    for n in range(3):
        pieces, at = [], 0
        while at < len(body):
            size = rng.randint(1, 40)
            pieces.append(body[at : at + size])
            at += size
        out[f"random-{n}"] = pieces
    return out


def final_message(pieces: Iterable[bytes], *, tools: list[dict] | None = None, setting: tuple[str, ...] = ("all",),
                  model: str = "local-model", request: dict | None = None) -> dict:
    """Feed the reader (with recognition) and accumulate what a client's final message would be."""
    request = request if request is not None else {"tools": TOOLS if tools is None else tools}
    reader = OpenAIChatReader("claude-sonnet-4-5", None, text_tools=recogniser_for(setting, model, request))
    accumulator = MessageAccumulator()
    for piece in pieces:
        accumulator.add(reader.feed(piece))
    accumulator.add(reader.finish())
    assert accumulator.error is None, accumulator.error
    return accumulator.message or {}


def shape(message: dict) -> list[tuple]:
    """Blocks as comparable tuples: ("text", text) / ("tool_use", name, input) / ("thinking", text)."""
    out: list[tuple] = []
    for block in message.get("content", []):
        kind = block["type"]
        if kind == "text":
            out.append(("text", block["text"]))
        elif kind == "tool_use":
            out.append(("tool_use", block["name"], block["input"]))
        elif kind == "thinking":
            out.append(("thinking", block["thinking"]))
        else:
            out.append((kind,))
    return out
