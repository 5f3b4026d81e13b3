"""Anthropic events -> OpenAI Responses SSE (what the Codex CLI reads), and the
non-stream Response object for `stream: false`.

Codex builds its conversation only from `response.output_item.done` items and
needs `response.completed` (usage with `total_tokens`) to end a turn; a failure
must be `response.failed` with `error {code, message}` (a bare `error` event
loses the message). Every event carries `sequence_number`
(../shared/research/codex-client.md, protocol-notes C.2-C.4).

Thinking becomes a reasoning item whose `encrypted_content` carries the
signature (fcc's provider state, or a wrapped Anthropic signature), so the next
request gives it back exactly (responses_request.thinking_block).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from fcc.core.dialects.responses_request import REDACTED_STATE, wrap_signature
from fcc.core.dialects.responses_tools import CUSTOM_INPUT, DEFAULT_NAMESPACE, LOCAL_SHELL, ToolMap
from fcc.core.errors import is_context_overflow
from fcc.core.sse import encode_event
from fcc.core.tools import decode_state, encode_state

Event = dict

# Anthropic error types -> the Responses error codes Codex acts on (codex-rs sse/responses.rs).
_ERROR_CODES = {
    "rate_limit_error": "rate_limit_exceeded",
    "overloaded_error": "server_error",
    "api_error": "server_error",
    "timeout_error": "server_error",
    "billing_error": "insufficient_quota",
    "authentication_error": "invalid_api_key",
    "permission_error": "invalid_request_error",
    "not_found_error": "model_not_found",
    "request_too_large": "context_length_exceeded",
    "invalid_request_error": "invalid_request_error",
}


def error_code(error_type: str, message: str) -> str:
    if error_type in ("invalid_request_error", "request_too_large") and is_context_overflow(message):
        return "context_length_exceeded"
    return _ERROR_CODES.get(error_type, "server_error")


def new_response_id() -> str:
    return "resp_" + uuid.uuid4().hex[:24]


def responses_usage(usage: dict) -> dict:
    """Anthropic usage -> Responses usage (OpenAI counts cached tokens inside input_tokens)."""
    cached = int(usage.get("cache_read_input_tokens") or 0)
    created = int(usage.get("cache_creation_input_tokens") or 0)
    input_tokens = int(usage.get("input_tokens") or 0) + cached + created
    output_tokens = int(usage.get("output_tokens") or 0)
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": int(usage.get("reasoning_tokens") or 0)},
        "total_tokens": input_tokens + output_tokens,
    }


class ResponsesWriter:
    """Anthropic events in, Responses SSE bytes out; `response` is the Response object so far."""

    def __init__(self, model: str, tool_map: ToolMap | None = None, response_id: str | None = None) -> None:
        self.tool_map = tool_map or ToolMap()
        self.sequence = 0
        self.response: dict = {
            "id": response_id or new_response_id(),
            "object": "response",
            "created_at": int(time.time()),
            "status": "in_progress",
            "model": model,
            "output": [],
            "error": None,
            "incomplete_details": None,
            "usage": None,
        }
        self.started = False
        self.ended = False
        self._open: dict | None = None  # the item being built for the open block
        self._open_kind: str | None = None
        self._json = ""
        self._signature = ""
        self._stop_reason: str | None = None
        self._usage: dict = {}

    # ---------------------------------------------------------- plumbing
    def _emit(self, out: list[bytes], kind: str, **fields: object) -> None:
        data = {"type": kind, **fields, "sequence_number": self.sequence}
        self.sequence += 1
        out.append(encode_event(kind, data))

    def _snapshot(self) -> dict:
        snapshot: dict = json.loads(json.dumps(self.response))
        return snapshot

    def _output_index(self) -> int:
        return len(self.response["output"])

    def _item_id(self, prefix: str) -> str:
        """Unique (the response id is) and the same on replay (recordings keep the response id)."""
        return f"{prefix}_{self.response['id'].removeprefix('resp_')}{self._output_index():03d}"

    # ----------------------------------------------------------- events
    def feed(self, events: list[Event]) -> list[bytes]:
        out: list[bytes] = []
        for event in events:
            kind = event.get("type")
            if self.ended:
                break
            if kind == "message_start":
                self.start(out)
                usage = (event.get("message") or {}).get("usage") or {}
                self._usage.update({k: v for k, v in usage.items() if v is not None})
            elif kind == "content_block_start":
                self.start(out)
                self._block_start(event.get("content_block") or {}, out)
            elif kind == "content_block_delta":
                self._delta(event.get("delta") or {}, out)
            elif kind == "content_block_stop":
                self._block_stop(out)
            elif kind == "message_delta":
                self._stop_reason = (event.get("delta") or {}).get("stop_reason") or self._stop_reason
                self._usage.update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
            elif kind == "message_stop":
                self.complete(out)
            elif kind == "ping" and self.started:
                self._keepalive(out)
            elif kind == "error":
                error = event.get("error") or {}
                self.fail(str(error.get("type") or "api_error"), str(error.get("message") or "upstream error"), out)
        return out

    def _keepalive(self, out: list[bytes]) -> None:
        """Codex's idle timer counts SSE events, not bytes (an SSE comment would not reset it): a real,
        small `response.in_progress` tells it the response is still being made."""
        light = {k: self.response[k] for k in ("id", "object", "created_at", "status", "model")}
        self._emit(out, "response.in_progress", response=light)

    def start(self, out: list[bytes]) -> None:
        if self.started:
            return
        self.started = True
        self._emit(out, "response.created", response=self._snapshot())
        self._emit(out, "response.in_progress", response=self._snapshot())

    def _block_start(self, block: dict, out: list[bytes]) -> None:
        self._close_open(out)
        kind = block.get("type")
        index = self._output_index()
        if kind == "text":
            item: dict[str, Any] = {"id": self._item_id("msg"), "type": "message", "status": "in_progress", "role": "assistant",
                                    "content": []}
            self._emit(out, "response.output_item.added", output_index=index, item=dict(item))
            part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
            self._emit(out, "response.content_part.added", item_id=item["id"], output_index=index, content_index=0, part=part)
            item["content"] = [part]
            self._open, self._open_kind = item, "text"
            if block.get("text"):
                self._delta({"type": "text_delta", "text": block["text"]}, out)
        elif kind == "thinking":
            item = {"id": self._item_id("rs"), "type": "reasoning", "summary": []}
            self._emit(out, "response.output_item.added", output_index=index, item=dict(item))
            self._open, self._open_kind = item, "thinking"
            self._signature = str(block.get("signature") or "")
            if block.get("thinking"):
                self._delta({"type": "thinking_delta", "thinking": block["thinking"]}, out)
        elif kind == "redacted_thinking":
            data = str(block.get("data") or "")
            state = data if decode_state(data) is not None else encode_state(REDACTED_STATE, data)  # fcc's own: as is
            item = {"id": self._item_id("rs"), "type": "reasoning", "summary": [], "encrypted_content": state}
            self._emit(out, "response.output_item.added", output_index=index, item=dict(item))
            self._finish_item(item, out)
        elif kind == "tool_use":
            self._open = {"id": str(block.get("id") or self._item_id("call")), "name": str(block.get("name") or "")}
            self._open_kind = "tool_use"
            self._json = json.dumps(block["input"]) if block.get("input") else ""
        # server_tool_use and the like are Anthropic's own; Codex has nothing to run for them.

    def _delta(self, delta: dict, out: list[bytes]) -> None:
        item, kind = self._open, delta.get("type")
        if item is None:
            return
        index = self._output_index()
        if kind == "text_delta" and self._open_kind == "text" and delta.get("text"):
            item["content"][0]["text"] += delta["text"]
            self._emit(out, "response.output_text.delta", item_id=item["id"], output_index=index, content_index=0,
                       delta=delta["text"], logprobs=[])
        elif kind == "thinking_delta" and self._open_kind == "thinking" and delta.get("thinking"):
            if not item["summary"]:
                item["summary"].append({"type": "summary_text", "text": ""})
                self._emit(out, "response.reasoning_summary_part.added", item_id=item["id"], output_index=index,
                           summary_index=0, part={"type": "summary_text", "text": ""})
            item["summary"][0]["text"] += delta["thinking"]
            self._emit(out, "response.reasoning_summary_text.delta", item_id=item["id"], output_index=index,
                       summary_index=0, delta=delta["thinking"])
        elif kind == "signature_delta" and self._open_kind == "thinking":
            self._signature = str(delta.get("signature") or "")
        elif kind == "input_json_delta" and self._open_kind == "tool_use":
            self._json += str(delta.get("partial_json") or "")

    def _block_stop(self, out: list[bytes]) -> None:
        self._close_open(out)

    def _close_open(self, out: list[bytes]) -> None:
        item, kind = self._open, self._open_kind
        self._open = self._open_kind = None
        if item is None:
            return
        index = self._output_index()
        if kind == "text":
            part = item["content"][0]
            self._emit(out, "response.output_text.done", item_id=item["id"], output_index=index, content_index=0,
                       text=part["text"], logprobs=[])
            self._emit(out, "response.content_part.done", item_id=item["id"], output_index=index, content_index=0,
                       part=part)
            item["status"] = "completed"
            self._finish_item(item, out)
        elif kind == "thinking":
            for i, part in enumerate(item["summary"]):
                self._emit(out, "response.reasoning_summary_text.done", item_id=item["id"], output_index=index,
                           summary_index=i, text=part["text"])
                self._emit(out, "response.reasoning_summary_part.done", item_id=item["id"], output_index=index,
                           summary_index=i, part=part)
            if self._signature:
                item["encrypted_content"] = wrap_signature(self._signature)
            self._finish_item(item, out)
        elif kind == "tool_use":
            self._tool_call(item["id"], item["name"], self._json, out)

    def _finish_item(self, item: dict, out: list[bytes]) -> None:
        index = self._output_index()
        self.response["output"].append(item)
        self._emit(out, "response.output_item.done", output_index=index, item=item)

    def _tool_call(self, call_id: str, upstream_name: str, raw_json: str, out: list[bytes]) -> None:
        info = self.tool_map.lookup(upstream_name)
        try:
            arguments = json.loads(raw_json) if raw_json.strip() else {}
        except ValueError:
            arguments = None
        index = self._output_index()
        if info.kind == "custom":
            text = arguments.get(CUSTOM_INPUT) if isinstance(arguments, dict) else None
            if not isinstance(text, str):
                # The model answered a freeform tool with other JSON: hand Codex what it wrote.
                only = next(iter(arguments.values())) if isinstance(arguments, dict) and len(arguments) == 1 else None
                text = only if isinstance(only, str) else raw_json
            item: dict[str, Any] = {"id": self._item_id("ctc"), "type": "custom_tool_call", "status": "in_progress", "call_id": call_id,
                    "name": info.name, "input": ""}
            self._namespace(item, info.namespace)
            self._emit(out, "response.output_item.added", output_index=index, item=dict(item))
            self._emit(out, "response.custom_tool_call_input.delta", item_id=item["id"], output_index=index, delta=text)
            self._emit(out, "response.custom_tool_call_input.done", item_id=item["id"], output_index=index, input=text)
            item.update(status="completed", input=text)
        elif info.kind == LOCAL_SHELL:
            action = {"type": "exec", **(arguments if isinstance(arguments, dict) else {})}
            item = {"id": self._item_id("lsh"), "type": "local_shell_call", "status": "completed", "call_id": call_id, "action": action}
            self._emit(out, "response.output_item.added", output_index=index, item={**item, "status": "in_progress"})
        else:
            text = raw_json if raw_json.strip() else "{}"
            item = {"id": self._item_id("fc"), "type": "function_call", "status": "in_progress", "call_id": call_id,
                    "name": info.name, "arguments": ""}
            self._namespace(item, info.namespace)
            self._emit(out, "response.output_item.added", output_index=index, item=dict(item))
            self._emit(out, "response.function_call_arguments.delta", item_id=item["id"], output_index=index, delta=text)
            self._emit(out, "response.function_call_arguments.done", item_id=item["id"], output_index=index, arguments=text)
            item.update(status="completed", arguments=text)
        self._finish_item(item, out)

    @staticmethod
    def _namespace(item: dict, namespace: str | None) -> None:
        if namespace and namespace != DEFAULT_NAMESPACE:
            item["namespace"] = namespace

    # -------------------------------------------------------- terminals
    def complete(self, out: list[bytes]) -> None:
        if self.ended:
            return
        self.start(out)
        self._close_open(out)
        self.ended = True
        self.response["usage"] = responses_usage(self._usage)
        if self._stop_reason == "max_tokens":
            self.response["status"] = "incomplete"
            self.response["incomplete_details"] = {"reason": "max_output_tokens"}
            self._emit(out, "response.incomplete", response=self._snapshot())
            return
        self.response["status"] = "completed"
        self._emit(out, "response.completed", response=self._snapshot())

    def fail(self, error_type: str, message: str, out: list[bytes], code: str | None = None) -> None:
        if self.ended:
            return
        self.start(out)
        self._open = self._open_kind = None  # a half-made item is not handed over
        self.ended = True
        self.response["status"] = "failed"
        self.response["error"] = {"code": code or error_code(error_type, message), "message": message}
        if self._usage:
            self.response["usage"] = responses_usage(self._usage)
        self._emit(out, "response.failed", response=self._snapshot())

    def finish(self) -> list[bytes]:
        """The upstream ended without a terminal event: say so instead of leaving Codex waiting."""
        out: list[bytes] = []
        if not self.ended:
            self.fail("api_error", "the provider's stream ended before the response was complete", out)
        return out


def response_from_message(message: dict, tool_map: ToolMap | None = None, response_id: str | None = None) -> dict:
    """A final Anthropic Message (from MessageAccumulator) -> the Response object (`stream: false`)."""
    writer = ResponsesWriter(str(message.get("model") or ""), tool_map, response_id)
    events: list[Event] = [{"type": "message_start", "message": {**message, "content": []}}]
    for index, block in enumerate(message.get("content") or []):
        if not isinstance(block, dict):
            continue
        start = dict(block)
        if start.get("type") == "tool_use":
            start["input"] = {}
        events.append({"type": "content_block_start", "index": index, "content_block": start})
        if block.get("type") == "tool_use":
            events.append({"type": "content_block_delta", "index": index,
                           "delta": {"type": "input_json_delta",
                                     "partial_json": json.dumps(block.get("input") or {}, separators=(",", ":"))}})
        if block.get("type") == "thinking" and block.get("signature"):
            events.append({"type": "content_block_delta", "index": index,
                           "delta": {"type": "signature_delta", "signature": block["signature"]}})
        events.append({"type": "content_block_stop", "index": index})
    events.append({"type": "message_delta", "delta": {"stop_reason": message.get("stop_reason")}, "usage": message.get("usage") or {}})
    events.append({"type": "message_stop"})
    writer.feed(events)
    return writer.response


def openai_error_body(message: str, error_type: str, code: str | None = None, param: str | None = None) -> bytes:
    """The OpenAI error JSON (`{"error": {message, type, param, code}}`) for HTTP errors to Codex."""
    return json.dumps({"error": {"message": message, "type": error_type, "param": param, "code": code}},
                      ensure_ascii=False).encode()
