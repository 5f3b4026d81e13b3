"""Recover tool calls that a model wrote as text, from the content stream as it arrives.

feed(text) -> pieces, each ("text", str) or ("call", Call), in stream order.
Ordinary text passes through at once and byte-exact. Only a possible call
start (a dialect's opener, or a prefix of one at the end of a chunk) is held
back while it is being decided:

  scan      text flows out; candidate positions are found with one regex search
            over the dialects' first characters, so chunks without one cost
            a single search
  prefix    the text ends with a proper prefix of an opener (`<tool_`): held
            until the next chunk decides it
  region    an opener was seen: the region's text goes to every dialect that
            uses that opener until one accepts or all reject

What is held is bounded: a region that has not named a declared tool within
Limits.unconfirmed_bytes, or that the upstream leaves without a new token for
Limits.unconfirmed_seconds (a partial opener: prefix_seconds), is released as
text. A slow local model still counts as progress, so it is not cut. A
confirmed call is bounded by confirmed_bytes only: a long Write legitimately
streams for minutes and is held like a native call (pings cover it). The core
has no clock: the engine calls flush_pending(now) while `holding`.

Whitespace-only text between calls (or between a call and the message's start
or end) is call syntax, not content: it is dropped. All other text is released
exactly as it came, including every near miss, once it is clearly not a call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from fcc.core.text_tools.dialects import Dialect
from fcc.core.text_tools.markdown import CodeContext
from fcc.core.text_tools.regions import ACCEPT, NEED, Verdict
from fcc.core.text_tools.schema import ToolSet

Piece = tuple[str, object]  # ("text", str) | ("call", Call)

# A call marker right after one of these is quoted in prose, not a call.
_QUOTES = frozenset("\"'`“‘«")


@dataclass(frozen=True, slots=True)
class Limits:
    unconfirmed_bytes: int = 8 * 1024
    confirmed_bytes: int = 2 * 1024 * 1024
    prefix_seconds: float = 2.0
    unconfirmed_seconds: float = 5.0
    whitespace_bytes: int = 4 * 1024


class _Region:
    __slots__ = ("opener", "parsers", "parts", "size")

    def __init__(self, opener: str, parsers: list) -> None:
        self.opener = opener
        self.parsers = parsers
        self.parts: list[str] = []
        self.size = 0

    @property
    def confirmed(self) -> bool:
        return any(parser.confirmed for parser in self.parsers)

    def feed(self, text: str) -> Verdict:
        self.parts.append(text)
        self.size += len(text)
        alive = []
        for parser in self.parsers:
            verdict: Verdict = parser.feed(text)
            if verdict.kind == ACCEPT:
                return verdict
            if verdict.kind == NEED:
                alive.append(parser)
        self.parsers = alive
        return Verdict(NEED) if alive else Verdict("reject")

    def finish(self) -> Verdict:
        for parser in self.parsers:
            verdict: Verdict = parser.finish()
            if verdict.kind == ACCEPT:
                return verdict
        return Verdict("reject")


@dataclass(frozen=True, slots=True)
class _Tables:
    """Per dialect set, built once: which dialects share an opener, and the trigger search."""

    openers: dict[str, tuple[Dialect, ...]]
    opener_list: tuple[str, ...]
    longest: int
    anchored: tuple[Dialect, ...]
    trigger: re.Pattern[str] | None


_TABLES: dict[tuple[str, ...], _Tables] = {}


def _tables_for(dialects: Sequence[Dialect]) -> _Tables:
    # Keyed by names: hashing the Dialect dataclasses themselves costs more than building a recogniser.
    key = tuple(d.name for d in dialects)
    tables = _TABLES.get(key)
    if tables is None:
        tables = _TABLES[key] = _tables(tuple(dialects))
    return tables


def _tables(dialects: tuple[Dialect, ...]) -> _Tables:
    openers: dict[str, list[Dialect]] = {}
    for dialect in dialects:
        for opener in dialect.openers:
            if opener:
                openers.setdefault(opener, []).append(dialect)
    # Longest first, so `<tool_call>` is never mistaken for a shorter opener it starts with.
    opener_list = tuple(sorted(openers, key=len, reverse=True))
    firsts = "".join(sorted({opener[0] for opener in openers}))
    return _Tables(
        {o: tuple(ds) for o, ds in openers.items()}, opener_list, max((len(o) for o in opener_list), default=0),
        tuple(d for d in dialects if d.anchored), re.compile("[" + re.escape(firsts) + "]") if firsts else None,
    )


class TextToolRecogniser:
    def __init__(self, dialects: Sequence[Dialect], tools: ToolSet, limits: Limits = Limits()) -> None:
        self.tools = tools
        self.limits = limits
        tables = _tables_for(dialects)
        self._openers = tables.openers
        self._opener_list = tables.opener_list
        self._longest = tables.longest
        self._anchored = tables.anchored
        self._trigger = tables.trigger
        self._context = CodeContext()
        self._pending = ""  # a proper prefix of an opener, at the end of the text so far
        self._region: _Region | None = None
        self._ws = ""  # leading whitespace of the current segment, held until text or a call decides it
        self._segment_text = False  # the current segment (since the start or the last call) has visible text
        self._seen_text = False  # any visible text in this message (anchored dialects need none before)
        self._last = ""  # the last character released as text
        self._anchor_tried = False
        # A quoted call example is text up to its closer, including openers nested in it.
        self._quoted_closers: tuple[str, ...] = ()
        self._quoted_tail = ""
        self.calls = 0
        self._hold_epoch = 0
        self._hold_seen: tuple[int, float] | None = None  # (epoch, first time flush_pending saw it)

    # ------------------------------------------------------------------ API
    @property
    def holding(self) -> bool:
        """True while text is held back to decide whether it is a call."""
        return bool(self._pending or self._region is not None)

    def feed(self, text: str) -> list[Piece]:
        if self.plain(text):
            return [("text", text)] if text else []
        out: list[Piece] = []
        if text:
            self._consume(text, out)
            if self.holding:
                self._hold_epoch += 1  # progress: the silence that releases held text starts again
        return out

    def plain(self, text: str) -> bool:
        """Fast path: True when `text` is plain visible text (no marker candidate, nothing held).

        The recogniser has then accounted for it and the caller emits it as is; nearly every
        chunk takes this path, at the cost of one regex search.
        """
        if (
            self._segment_text
            and self._region is None
            and not self._pending
            and not self._quoted_closers
            and (self._anchor_tried or self._seen_text or not self._anchored)
            and (self._trigger is None or self._trigger.search(text) is None)
        ):
            if text:
                self._context.update(text)
                self._last = text[-1]
            return True
        return False

    def flush_pending(self, now: float) -> list[Piece]:
        """Release what has been held too long (the engine calls this with its clock while `holding`)."""
        out: list[Piece] = []
        if not self.holding:
            self._hold_seen = None
            return out
        if self._hold_seen is None or self._hold_seen[0] != self._hold_epoch:
            self._hold_seen = (self._hold_epoch, now)
            return out
        held_for = now - self._hold_seen[1]
        if self._region is not None:
            if not self._region.confirmed and held_for >= self.limits.unconfirmed_seconds:
                self._consume(self._reject(out), out)
        elif self._pending and held_for >= self.limits.prefix_seconds:
            pending, self._pending = self._pending, ""
            self._text(pending, out)
        if out and self.holding:
            self._hold_epoch += 1  # what the release rescanned holds anew: its own clock
        return out

    def finish(self, truncated: bool = False) -> list[Piece]:
        """End of the message: decide what is still held. A cut-off (`truncated`) region is never a call."""
        out: list[Piece] = []
        while True:
            if self._region is not None:
                verdict = Verdict("reject") if truncated else self._region.finish()
                rest = self._accept(verdict, out) if verdict.kind == ACCEPT else self._reject(out)
                self._consume(rest, out)
                continue
            if self._pending:
                pending, self._pending = self._pending, ""
                self._text(pending, out)
                continue
            break
        if self._ws and not self.calls:
            self._emit(self._ws, out)
        self._ws = ""
        return out

    # ------------------------------------------------------------ internals
    def _consume(self, text: str, out: list[Piece]) -> None:
        while text:
            if self._region is not None:
                text = self._feed_region(text, out)
            else:
                text = self._scan(text, out)

    def _feed_region(self, text: str, out: list[Piece]) -> str:
        region = self._region
        assert region is not None
        verdict = region.feed(text)
        if verdict.kind == NEED:
            limit = self.limits.confirmed_bytes if region.confirmed else self.limits.unconfirmed_bytes
            if region.size <= limit:
                return ""
            verdict = Verdict("reject")
        if verdict.kind == ACCEPT:
            return self._accept(verdict, out)
        return self._reject(out)

    def _accept(self, verdict: Verdict, out: list[Piece]) -> str:
        region = self._region
        assert region is not None
        self._region = None
        body = "".join(region.parts)
        self._ws = ""  # whitespace between text (or another call) and this call is call syntax
        for call in verdict.calls:
            out.append(("call", call))
        self.calls += len(verdict.calls)
        self._segment_text = False
        self._last = ""
        return body[verdict.end :]

    def _reject(self, out: list[Piece]) -> str:
        """Not a call: the opener is text; what followed it is scanned again (it may hold a real call)."""
        region = self._region
        assert region is not None
        self._region = None
        body = "".join(region.parts)
        self._text(region.opener, out)  # an anchored region has none: its text is simply scanned again
        return body

    def _scan(self, text: str, out: list[Piece]) -> str:
        if self._pending:
            text = self._pending + text
            self._pending = ""
        if self._anchored and not self._seen_text and not self._anchor_tried:
            stripped = text.lstrip()
            if stripped and stripped[0] in "{[":
                lead = len(text) - len(stripped)
                self._text(text[:lead], out)
                self._anchor_tried = True  # once per message, so a rejected region is rescanned without it
                self._start_region("")
                return stripped
        trigger = self._trigger
        if trigger is None:
            self._text(text, out)
            return ""
        released = 0
        search_from = 0
        while True:
            match = trigger.search(text, search_from)
            if match is None:
                break
            at = match.start()
            if at > released:
                self._text(text[released:at], out)
                released = at
            search_from = at + 1
            if self._quoted_closers or self._context.in_code():
                continue
            opener = next((o for o in self._opener_list if text.startswith(o, at)), None)
            if opener is None:
                if len(text) - at < self._longest:
                    rest = text[at:]
                    if any(o.startswith(rest) for o in self._opener_list):
                        self._pending = rest  # decided by the next piece (quoted or not)
                        return ""
                continue
            if self._last in _QUOTES:
                # A blank line also ends it, so one unclosed quote cannot silence the rest of the message.
                closers = tuple(c for d in self._openers[opener] for c in d.closers)
                self._quoted_closers = ("\n\n", *closers) if closers else ()
                continue
            self._start_region(opener)
            return text[at + len(opener) :]
        if released < len(text):
            self._text(text[released:], out)
        return ""

    def _start_region(self, opener: str) -> None:
        dialects = self._openers[opener] if opener else self._anchored
        self._region = _Region(opener, [d.region(opener, self.tools) for d in dialects])

    def _text(self, text: str, out: list[Piece]) -> None:
        """Release text: code context and quotes are tracked on exactly what the client sees."""
        if not text:
            return
        self._context.update(text)
        self._last = text[-1]
        if self._quoted_closers:
            window = self._quoted_tail + text
            if any(closer in window for closer in self._quoted_closers):
                self._quoted_closers, self._quoted_tail = (), ""
            else:
                self._quoted_tail = window[-max(map(len, self._quoted_closers)) :]
        if not self._segment_text:
            if text.isspace():
                self._ws += text
                if len(self._ws) > self.limits.whitespace_bytes:
                    self._segment_text = True
                    self._emit(self._ws, out)
                    self._ws = ""
                return
            text, self._ws = self._ws + text, ""
            self._segment_text = True
        self._seen_text = True
        self._emit(text, out)

    @staticmethod
    def _emit(text: str, out: list[Piece]) -> None:
        if out and out[-1][0] == "text":
            out[-1] = ("text", out[-1][1] + text)  # type: ignore[operator]
        else:
            out.append(("text", text))
