"""Dialects whose calls are bare JSON after (or without) a marker: mistral, llama, json.

These have no closing marker: a call ends where its JSON value closes, so the
region parsers track the JSON's extent incrementally (JsonExtent) instead of
searching for an end tag.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from fcc.core.text_tools.regions import (
    ACCEPT, NEED_MORE, NOT_A_CALL, PROBE_CHARS, Call, JsonExtent, Verdict, checked, json_object, loads,
)
from fcc.core.text_tools.schema import ToolSet

_JSON_NAME = re.compile(r'\s*\[?\s*\{\s*(?:"type"\s*:\s*"function"\s*,\s*)?"name"\s*:\s*"([^"\\]*)"')
_FIRST_KEY = re.compile(r'"([^"\\]*)"')
_V11_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
_CALL_ID = re.compile(r"\[CALL_ID\]([A-Za-z0-9_\-]*)")
# How much of a header may precede the JSON before it is clearly not a call.
_HEADER_CHARS = 256


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def json_name(head: str, strict: bool = False) -> str | None | bool:
    """The first call's name at the start of a JSON head; False when this is not a call's JSON."""
    stripped = head.lstrip()
    if not stripped:
        return None
    if stripped[0] not in "{[":
        return False
    inner = stripped
    if inner[0] == "[":
        inner = inner[1:].lstrip()
        if inner and inner[0] != "{":
            return False
    if inner:
        key = inner[1:].lstrip()
        if key and key[0] != '"':
            return False
        first = _FIRST_KEY.match(key)
        if strict and first and first.group(1) not in ("name", "type", "function"):
            return False  # a whole-message call starts with its name; this is some other JSON
    match = _JSON_NAME.match(stripped)
    if match:
        return match.group(1)
    # A strict caller (a whole message of JSON) gives up once the head is long enough to have shown the name.
    return False if strict and len(stripped) >= 64 else None


def call_from_object(obj: object, tools: ToolSet, dialect: str) -> Call | None:
    if not isinstance(obj, dict):
        return None
    function = obj.get("function")
    if isinstance(function, dict) and "name" not in obj:
        obj = function  # {"type": "function", "function": {"name", "arguments"}}
    arguments = obj.get("arguments", obj.get("parameters"))
    return checked(tools, obj.get("name"), arguments, dialect)


def calls_from_json(text: str, tools: ToolSet, dialect: str) -> list[Call] | None:
    value = loads(text.strip())
    if value is None:
        value = json_object(text.strip())
    items = value if isinstance(value, list) else [value]
    calls = [call_from_object(item, tools, dialect) for item in items]
    return calls if calls and all(calls) else None  # type: ignore[return-value]


class MistralRegion:
    """After `[TOOL_CALLS]`: a JSON array/object (tokenizer < v11) or `name[CALL_ID]id[ARGS]{...}` (v11+)."""

    __slots__ = ("_tools", "_parts", "_size", "_json_start", "_name", "_extent", "confirmed")

    def __init__(self, opener: str, tools: ToolSet) -> None:
        self._tools = tools
        self._parts: list[str] = []
        self._size = 0
        self._json_start: int | None = None
        self._name: str | None = None  # v11 form; None for the JSON form
        self._extent = JsonExtent()
        self.confirmed = False

    def _header(self, head: str) -> int | None | bool:
        """Offset where the JSON starts, None (need more), False (not a call)."""
        stripped = head.lstrip()
        if not stripped:
            return None
        lead = len(head) - len(stripped)
        if stripped[0] in "[{":
            return lead
        match = _V11_NAME.match(stripped)
        if match is None:
            return False
        rest = stripped[match.end() :]
        if not rest:
            return None if len(stripped) < _HEADER_CHARS else False
        name = match.group()
        if name not in self._tools:
            return False
        self._name = name
        self.confirmed = True
        call_id = _CALL_ID.match(rest)
        if call_id:
            rest = rest[call_id.end() :]
            if not rest:
                return None
        elif "[CALL_ID]".startswith(rest):
            return None
        if rest.startswith("[ARGS]"):
            rest = rest[len("[ARGS]") :]
        elif "[ARGS]".startswith(rest):
            return None
        body = rest.lstrip()
        if not body:
            return None
        if body[0] != "{":
            return False
        return len(head) - len(body)

    def feed(self, piece: str) -> Verdict:
        offset = self._size
        self._parts.append(piece)
        self._size += len(piece)
        if self._json_start is None:
            head = "".join(self._parts)
            start = self._header(head)
            if start is False:
                return NOT_A_CALL
            if start is None:
                return NEED_MORE
            self._json_start = start
            piece, offset = head[start:], start
        if not self.confirmed and self._name is None and self._size <= PROBE_CHARS + self._json_start:
            name = json_name("".join(self._parts)[self._json_start :])
            if name is False or (isinstance(name, str) and name not in self._tools):
                return NOT_A_CALL
            self.confirmed = isinstance(name, str)
        end = self._extent.feed(piece)
        if end is None:
            return NEED_MORE
        if end < 0:
            return NOT_A_CALL
        stop = offset + end
        text = "".join(self._parts)[self._json_start : stop]
        if self._name is not None:
            call = checked(self._tools, self._name, text, "mistral")
            calls = [call] if call else None
        else:
            calls = calls_from_json(text, self._tools, "mistral")
        return Verdict(ACCEPT, stop, tuple(calls)) if calls else NOT_A_CALL

    def finish(self) -> Verdict:
        return NOT_A_CALL  # the JSON never closed


class JsonSequenceRegion:
    """One or more JSON call objects: `{...}; {...}` (llama) or `{...}\\n{...}` / `[...]` (json).

    After each object the next non-space character decides: a separator means another
    object follows; a terminator token (llama's `<|eom_id|>`) ends the region after
    itself; anything else ends it (open_end) or proves it is not a call.
    """

    __slots__ = ("_tools", "_dialect", "_parts", "_size", "_objects", "_start", "_extent", "_after",
                 "_separators", "_terminators", "_open_end", "_strict", "confirmed")

    def __init__(self, tools: ToolSet, dialect: str, separators: str, terminators: tuple[str, ...],
                 open_end: bool, strict: bool) -> None:
        self._tools = tools
        self._dialect = dialect
        self._parts: list[str] = []
        self._size = 0
        self._objects: list[tuple[int, int]] = []
        self._start = 0
        self._extent = JsonExtent()
        self._after = False
        self._separators = separators
        self._terminators = terminators
        self._open_end = open_end
        self._strict = strict
        self.confirmed = False

    def feed(self, piece: str) -> Verdict:
        offset = self._size
        self._parts.append(piece)
        self._size += len(piece)
        if not self.confirmed and not self._objects and self._size - len(piece) < PROBE_CHARS:
            name = json_name("".join(self._parts)[:PROBE_CHARS], self._strict)
            if name is False or (isinstance(name, str) and name not in self._tools):
                return NOT_A_CALL
            self.confirmed = isinstance(name, str)
        pos = 0
        while True:
            if not self._after:
                end = self._extent.feed(piece[pos:])
                if end is None:
                    return NEED_MORE
                if end < 0:
                    return self._decide(None)
                pos += end
                self._objects.append((self._start, offset + pos))
                self._after = True
                continue
            # Everything since the last object: a terminator token may be split across pieces.
            last_end = self._objects[-1][1]
            tail = "".join(self._parts)[last_end:]
            stripped = tail.lstrip()
            if not stripped:
                return NEED_MORE
            at = last_end + len(tail) - len(stripped)
            char = stripped[0]
            if char in self._separators or (not self._open_end and char in "{["):
                self._after = False
                self._extent = JsonExtent()
                skip = 1 if char in self._separators else 0
                self._start = at + skip
                if self._start >= offset:
                    pos = self._start - offset
                else:  # rebase on the joined text (the separator came in an earlier piece)
                    piece, offset, pos = "".join(self._parts)[self._start :], self._start, 0
                continue
            for token in self._terminators:
                if stripped.startswith(token):
                    return self._decide(at + len(token))
                if token.startswith(stripped):
                    return NEED_MORE
            return self._decide(last_end) if self._open_end else NOT_A_CALL

    def finish(self) -> Verdict:
        if self._open_end:
            return self._decide(None)
        return self._decide(self._size) if self._after else NOT_A_CALL

    def _decide(self, end: int | None) -> Verdict:
        """The calls so far. `end` None: what follows the last whole object is not part of the region.

        An open-ended region (llama) keeps its leading valid calls and ends after them, so text
        that merely looks like a continuation (`; then...`) stays text; a whole-message region
        (json) is all calls or none.
        """
        body = "".join(self._parts)
        calls: list[Call] = []
        stop = 0
        for start, object_end in self._objects:
            found = calls_from_json(body[start:object_end], self._tools, self._dialect)
            if not found:
                if not self._open_end:
                    return NOT_A_CALL
                end = None
                break
            calls.extend(found)
            stop = object_end
        if not calls or (end is None and not self._open_end):
            return NOT_A_CALL
        return Verdict(ACCEPT, stop if end is None else end, tuple(calls))


def LlamaRegion(opener: str, tools: ToolSet) -> JsonSequenceRegion:  # noqa: N802 - a region factory
    return JsonSequenceRegion(tools, "llama", ";", ("<|eom_id|>", "<|eot_id|>"), open_end=True, strict=False)


def JsonMessageRegion(opener: str, tools: ToolSet) -> JsonSequenceRegion:  # noqa: N802
    return JsonSequenceRegion(tools, "json", ";,", (), open_end=False, strict=True)


def render_mistral(calls: Sequence[tuple[str, dict]]) -> str:
    return "".join(f"[TOOL_CALLS]{name}[ARGS]{_dumps(arguments)}" for name, arguments in calls)


def render_llama(calls: Sequence[tuple[str, dict]]) -> str:
    return "<|python_tag|>" + "; ".join(_dumps({"name": n, "parameters": a}) for n, a in calls)


def render_json(calls: Sequence[tuple[str, dict]]) -> str:
    return "\n".join(_dumps({"name": n, "arguments": a}) for n, a in calls)
