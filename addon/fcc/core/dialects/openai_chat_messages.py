"""Anthropic conversation turns -> OpenAI chat messages.

Claude Code's history has shapes strict chat templates reject: user turns that
hold tool results followed by text, assistant turns with only tool calls or
only thinking, mid-conversation system turns, and consecutive same-role turns.
This module produces a conversation every OpenAI-style template accepts.
"""

from __future__ import annotations

from typing import Any

from fcc.core.profiles import Profile
from fcc.core.sse import dumps
from fcc.core.text_tools.replay import result_text, split_recovered
from fcc.core.tools import ToolIdCodec, decode_state

BILLING_PREFIX = "x-anthropic-billing-header:"
# Sent as the tool message for a call whose result is missing (an interrupted turn);
# strict providers reject a tool call that has no answer.
MISSING_RESULT = "[no result: the tool call was interrupted before it returned]"
# Mistral forbids `user` right after `tool`; this bridges the two.
BRIDGE_TEXT = "Tool results received."


def is_billing_block(text: str) -> bool:
    return text.lstrip().startswith(BILLING_PREFIX)


def flatten_text(content: object) -> str:
    """Text of a string or a list of blocks (non-text blocks described in words)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict):
            kind = block.get("type")
            if kind == "text":
                parts.append(block.get("text") or "")
            elif kind == "tool_reference":
                parts.append(f"[tool loaded: {block.get('tool_name', '')}]")
            elif kind == "image":
                parts.append("[image]")
            elif kind == "document":
                parts.append(_document_text(block))
            elif kind == "search_result":
                body = flatten_text(block.get("content"))
                parts.append(f"[{block.get('title', '')}]({block.get('source', '')})\n{body}")
    return "\n".join(part for part in parts if part)


def _document_text(block: dict) -> str:
    source = block.get("source") or {}
    title = block.get("title") or "document"
    if source.get("type") == "text":
        return f"<document title=\"{title}\">\n{source.get('data', '')}\n</document>"
    if source.get("type") == "content":
        return f"<document title=\"{title}\">\n{flatten_text(source.get('content'))}\n</document>"
    if source.get("type") == "url":
        return f"[document: {title} at {source.get('url', '')}]"
    return f"[document '{title}' ({source.get('media_type', 'binary')}) omitted: this provider takes no file input]"


def image_part(block: dict) -> dict | None:
    source = block.get("source") or {}
    if source.get("type") == "base64" and source.get("data"):
        url = f"data:{source.get('media_type', 'image/png')};base64,{source['data']}"
    elif source.get("type") == "url" and source.get("url"):
        url = source["url"]
    else:
        return None
    return {"type": "image_url", "image_url": {"url": url}}


class MessageBuilder:
    """Stateful over one conversation: tracks open tool calls between turns."""

    def __init__(self, profile: Profile, codec: ToolIdCodec) -> None:
        self.profile = profile
        self.codec = codec
        self.messages: list[dict] = []
        self._open_calls: list[str] = []  # provider ids awaiting a result, in call order
        self._text_calls: dict = {}  # client id -> dialect: recovered calls replayed as text (text_tools.replay)

    def build(self, turns: list) -> list[dict]:
        for turn in turns:
            if not isinstance(turn, dict):
                continue
            role = turn.get("role")
            if role == "assistant":
                self._close_open_calls()
                self._assistant(turn.get("content"))
            elif role == "user":
                self._user(turn.get("content"))
            # role "system" turns were folded into the system prompt by the caller.
        self._close_open_calls()
        return _merge_same_role(self.messages)

    # ----------------------------------------------------------------- user
    def _user(self, content: object) -> None:
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        if not isinstance(content, list):
            return
        parts: list[dict] = []
        tool_images: list[dict] = []
        for block in content:
            if isinstance(block, str):
                block = {"type": "text", "text": block}
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "tool_result":
                tool_images.extend(self._tool_result(block))
            elif kind == "text":
                if block.get("text"):
                    parts.append({"type": "text", "text": block["text"]})
            elif kind == "image":
                part = image_part(block) if self.profile.images else None
                parts.append(part or {"type": "text", "text": "[image omitted: this provider takes no images]"})
            elif kind in ("document", "search_result", "tool_reference"):
                parts.append({"type": "text", "text": flatten_text([block])})
        self._close_open_calls()
        parts = tool_images + parts
        if not parts:
            return
        if self.messages and self.messages[-1]["role"] == "tool" and self.profile.no_user_after_tool:
            self.messages.append({"role": "assistant", "content": BRIDGE_TEXT})
        self.messages.append({"role": "user", "content": self._user_content(parts)})

    def _user_content(self, parts: list[dict]) -> str | list[dict]:
        if self.profile.string_content_only or all(part["type"] == "text" for part in parts):
            return "\n\n".join(part["text"] if part["type"] == "text" else "[image]" for part in parts)
        return parts

    def _tool_result(self, block: dict) -> list[dict]:
        """Append the tool message; return image parts that must travel in a user turn."""
        client_id = str(block.get("tool_use_id") or "")
        provider_id = self.codec.encode(client_id)
        content = block.get("content")
        images: list[dict] = []
        if isinstance(content, list):
            for item in content:
                if isinstance(item, dict) and item.get("type") == "image" and self.profile.images:
                    part = image_part(item)
                    if part:
                        images.append(part)
        text = flatten_text(content)
        if images:
            text = (text + "\n" if text else "") + f"[{len(images)} image(s) from this tool result follow]"
        if block.get("is_error"):
            text = f"[tool error] {text}" if text else "[tool error]"
        if client_id in self._text_calls:
            return [{"type": "text", "text": result_text(self._text_calls.pop(client_id), text or "(empty)")}, *images]
        if provider_id not in self._open_calls:
            # A result with no matching call: keep it visible as user text rather than break the template.
            images.insert(0, {"type": "text", "text": f"[tool result {client_id}]\n{text}"})
            return images
        self._open_calls.remove(provider_id)
        self.messages.append({"role": "tool", "tool_call_id": provider_id, "content": text or "(empty)"})
        return images

    def _close_open_calls(self) -> None:
        for provider_id in self._open_calls:
            self.messages.append({"role": "tool", "tool_call_id": provider_id, "content": MISSING_RESULT})
        self._open_calls = []

    # ------------------------------------------------------------ assistant
    def _assistant(self, content: object) -> None:
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        if not isinstance(content, list):
            return
        texts: list[str] = []
        thinking: list[str] = []
        details: list = []
        signatures: dict[str, str] = {}
        calls: list[dict] = []
        for block in content:
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "text" and block.get("text"):
                texts.append(block["text"])
            elif kind == "thinking":
                if block.get("thinking"):
                    thinking.append(block["thinking"])
                state = decode_state(block.get("signature"))
                if state and state[0] == "reasoning_details" and isinstance(state[1], list):
                    details.extend(state[1])
            elif kind == "redacted_thinking":
                state = decode_state(block.get("data"))
                if state and state[0] == "thought_signatures" and isinstance(state[1], dict):
                    signatures.update(state[1])
                elif state and state[0] == "reasoning_details" and isinstance(state[1], list):
                    details.extend(state[1])
            elif kind == "tool_use":
                calls.append(block)
        message: dict = {"role": "assistant"}
        text = "".join(texts) if len(texts) == 1 else "\n\n".join(texts)
        replay = self.profile.reasoning_replay
        reasoning_text = "\n\n".join(thinking)
        if replay == "think_tags" and reasoning_text:
            text = f"<think>\n{reasoning_text}\n</think>\n\n{text}"
        calls, written, recovered = split_recovered(calls, self.profile.text_tool_replay)
        if written:
            text = f"{text}\n{written}" if text else written
            self._text_calls.update(recovered)
        tool_calls = [self._tool_call(block, signatures) for block in calls]
        if text:
            message["content"] = text
        else:
            empty = self.profile.empty_assistant_content
            if not tool_calls or empty == "space":
                message["content"] = " " if tool_calls else ""
            elif empty == "null":
                message["content"] = None
            elif empty == "empty":
                message["content"] = ""
        if tool_calls:
            message["tool_calls"] = tool_calls
        if replay == "reasoning_content":
            message["reasoning_content"] = reasoning_text
        elif replay == "reasoning" and reasoning_text:
            message["reasoning"] = reasoning_text
        elif replay == "reasoning_details" and details:
            message["reasoning_details"] = details
        if not text and not tool_calls:
            return  # nothing a provider can take (e.g. a thinking-only turn with replay dropped)
        self.messages.append(message)

    def _tool_call(self, block: dict, signatures: dict[str, str]) -> dict:
        client_id = str(block.get("id") or "")
        provider_id = self.codec.encode(client_id)
        self._open_calls.append(provider_id)
        arguments = block.get("input")
        call: dict = {
            "id": provider_id,
            "type": "function",
            "function": {"name": block.get("name") or "", "arguments": dumps(arguments if arguments is not None else {})},
        }
        if self.profile.thought_signatures and client_id in signatures:
            call["extra_content"] = {"google": {"thought_signature": signatures[client_id]}}
        return call


def _merge_same_role(messages: list[dict]) -> list[dict]:
    """Strict templates need alternating turns: fold consecutive user (or assistant) turns."""
    merged: list[dict] = []
    for message in messages:
        previous = merged[-1] if merged else None
        role = message["role"]
        if previous is None or previous["role"] != role or role not in ("user", "assistant"):
            merged.append(message)
            continue
        if role == "assistant" and (previous.get("tool_calls") and message.get("content")):
            merged.append(message)  # text after tool calls stays its own turn
            continue
        previous["content"] = _join_content(previous.get("content"), message.get("content"))
        if message.get("tool_calls"):
            previous["tool_calls"] = (previous.get("tool_calls") or []) + message["tool_calls"]
        for key in ("reasoning_content", "reasoning"):
            if message.get(key):
                previous[key] = (previous.get(key) or "") + message[key]
    return merged


def _join_content(first: object, second: object) -> object:
    if not first:
        return second
    if not second:
        return first
    if isinstance(first, str) and isinstance(second, str):
        return f"{first}\n\n{second}"
    return as_blocks(first) + as_blocks(second)


def as_blocks(content: Any) -> list[Any]:
    """Message content as a list of blocks (a string is one text block)."""
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
