"""Building blocks for dialect parsers: verdicts, JSON extents, marker-delimited regions.

A region is the text after a dialect's opening marker. Its parser is fed that
text piece by piece as it streams and answers, each time, one of:
  NEED    not decided yet (keep holding)
  REJECT  this is not a call in my dialect (release it as text)
  ACCEPT  a complete, valid call (or calls) ending `end` characters into the region
Parsers see every byte once: searches resume where they stopped, so a long
argument (a whole file for Write) costs linear time however finely it is chunked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from fcc.core.text_tools.schema import ToolSet
from fcc.core.tools import parse_tool_arguments

NEED = "need"
REJECT = "reject"
ACCEPT = "accept"

# While no declared tool name has been seen, only this much of a region is probed for one.
PROBE_CHARS = 512


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    arguments: dict
    dialect: str


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: str
    end: int = 0
    calls: tuple[Call, ...] = ()


NEED_MORE = Verdict(NEED)
NOT_A_CALL = Verdict(REJECT)


def json_object(text: str) -> dict | None:
    """Arguments text -> a dict, with the same cheap repairs as native tool calls; None if hopeless."""
    value, ok = parse_tool_arguments(text)
    return value if ok and isinstance(value, dict) else None


def loads(text: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def checked(tools: ToolSet, name: object, arguments: object, dialect: str) -> Call | None:
    """A Call when `name` is declared and `arguments` pass its schema; else None."""
    if not isinstance(name, str):
        return None
    spec = tools.get(name)
    if spec is None:
        return None
    if isinstance(arguments, str):
        arguments = json_object(arguments) if arguments.strip() else {}
    if arguments is None:
        arguments = {}
    if not spec.accepts(arguments):
        return None
    return Call(name, arguments, dialect)  # type: ignore[arg-type]


_JSON_STOPS = re.compile(r'["\\{}\[\]]')


class JsonExtent:
    """Where one JSON object/array ends, found incrementally (string- and escape-aware).

    feed(piece) -> index just past the closing bracket within `piece`, None while
    open, -1 when the first non-space character cannot start an object or array.
    """

    __slots__ = ("depth", "in_string", "escaped", "started")

    def __init__(self) -> None:
        self.depth = 0
        self.in_string = False
        self.escaped = False
        self.started = False

    def feed(self, piece: str) -> int | None:
        pos = 0
        size = len(piece)
        if not self.started:
            stripped = size - len(piece.lstrip())
            if stripped == size:
                return None
            if piece[stripped] not in "{[":
                return -1
            self.started = True
            pos = stripped
        if self.escaped:
            if pos >= size:
                return None
            pos += 1
            self.escaped = False
        search = _JSON_STOPS.search
        while True:
            match = search(piece, pos)
            if match is None:
                return None
            at = match.start()
            char = piece[at]
            pos = at + 1
            if self.in_string:
                if char == "\\":
                    if pos >= size:
                        self.escaped = True
                        return None
                    pos += 1
                elif char == '"':
                    self.in_string = False
            elif char == '"':
                self.in_string = True
            elif char in "{[":
                self.depth += 1
            elif char in "}]":
                self.depth -= 1
                if self.depth <= 0:
                    return pos


# probe(head) -> a name, None (cannot tell yet) or False (not this dialect).
Probe = Callable[[str], "str | None | bool"]
# parse(body, tools) -> the calls in a complete region body, or None.
Parse = Callable[[str, ToolSet], "list[Call] | None"]


class MarkedRegion:
    """A region closed by an end marker (`</tool_call>`, `<|tool_calls_section_end|>`, ...)."""

    __slots__ = ("_ends", "_probe", "_parse", "_tools", "_parts", "_size", "_tail", "_keep", "confirmed", "_at_finish")

    def __init__(self, ends: tuple[str, ...], probe: Probe, parse: Parse, tools: ToolSet, *,
                 at_finish: Parse | None = None) -> None:
        self._ends = ends
        self._probe = probe
        self._parse = parse
        self._tools = tools
        self._parts: list[str] = []
        self._size = 0
        self._tail = ""
        self._keep = max(len(end) for end in ends) - 1
        self.confirmed = False
        # Without its end marker, a region is a call only if this (stricter) parse accepts it at the
        # end of the message: no repair may complete a cut-off argument (half a command must not run).
        self._at_finish = at_finish

    def feed(self, piece: str) -> Verdict:
        window_start = self._size - len(self._tail)
        window = self._tail + piece
        self._parts.append(piece)
        self._size += len(piece)
        if not self.confirmed and window_start < PROBE_CHARS:
            head = "".join(self._parts)[:PROBE_CHARS]
            name = self._probe(head)
            if name is False:
                return NOT_A_CALL
            if isinstance(name, str):
                if name not in self._tools:
                    return NOT_A_CALL
                self.confirmed = True
        best = -1
        best_end = ""
        for end in self._ends:
            at = window.find(end)
            if at >= 0 and (best < 0 or at < best):
                best, best_end = at, end
        if best < 0:
            self._tail = window[-self._keep :] if self._keep else ""
            return NEED_MORE
        body_end = window_start + best
        return self._decide("".join(self._parts)[:body_end], body_end + len(best_end))

    def finish(self) -> Verdict:
        if self._at_finish is None:
            return NOT_A_CALL
        body = "".join(self._parts)
        return self._decide(body, len(body), self._at_finish)

    def _decide(self, body: str, end: int, parse: Parse | None = None) -> Verdict:
        calls = (parse or self._parse)(body, self._tools)
        if not calls:
            return NOT_A_CALL
        return Verdict(ACCEPT, end, tuple(calls))
