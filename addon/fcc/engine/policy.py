"""Retry, fallback, continuation and commit decisions, as pure functions of facts.

Nothing here does I/O or reads a clock. The exchange (fcc/engine/exchange.py)
gathers the facts (how an attempt failed, what the provider asked for, how many
sends this request made, what fcc knows about each target's health, how long
the request has run) and does what the decision says. `Health` is the one
cooldown book: per target, consecutive failures ("strikes") and how long the
target is left alone; its methods take `now` so tests can run it in
microseconds.

Claude Code retries on its own (../shared/research/claude-code-client.md section 5):
11 attempts for 429 and 5xx, honouring `retry-after` up to 60 s; 3 attempts in
all for 529; none after `x-should-retry: false` or a `retry-after` over 60.
fcc's retries multiply with those, so the budget is shared:

- a target that was healthy when the request began (at most one recent blip) gets
  one invisible retry for a transient failure (429 once, 500 once, a reset), so a
  blip never reaches the client;
- a target that already failed twice in a row gets one send per client attempt;
- a target that is cooling down is not called: a fallback answers, or the client
  gets the cooldown at once (429 + `retry-after`, or 529 while a broken provider
  is left alone), and its own retry loop does the waiting;
- fcc only waits on the same target when the retry's outcome can still be an
  HTTP status (before the headers are due): after the headers, a failure can
  only be an `event: error`, which costs the client a non-streaming redo.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from fcc.core.errors import CLIENT_MAX_RETRY_AFTER, ERROR_TYPE_BY_STATUS

# How an attempt ended badly.
#   status        the provider answered with an HTTP error status
#   refused       no connection (refused, DNS, TLS, reset before an answer)
#   no_answer     no response (or no first chunk) within the first-byte timeout
#   stream_error  an error frame inside a 200 stream
#   cut           the stream ended early (reset, chunked body cut, no finish)
#   stall         the stream went silent for longer than the idle timeout
FailureKind = Literal["status", "refused", "no_answer", "stream_error", "cut", "stall"]
# Why a target is cooling: the provider refused (rate limit) or failed (unavailable).
CoolingKind = Literal["", "rate_limit", "unavailable"]

# Response headers wait this long for content, under the client's 30 s "slow first byte"
# warning; then message_start and pings keep its 300 s idle watchdog fed.
HEADERS_AFTER = 20.0
PING_EVERY = 10.0
# Answer (success or a clear error) before Claude Code's own 300 s watchdog fires.
REQUEST_DEADLINE = 270.0
# A same-target retry is worth waiting for only if its answer comes before the headers
# are due (so a second failure is still an HTTP status) and the wait is short; a longer
# wait is the client's to make: it honours retry-after up to 60 s.
SAME_TARGET_MAX_WAIT = 10.0
ANSWER_MARGIN = 3.0
# A cooldown this short is waited out in admission rather than answered.
WAIT_IN_GATE = 1.0
MAX_SENDS = 4  # per client request, all targets together
MAX_CONTINUATIONS = 2

# Cooldown book.
DEFAULT_RATE_LIMIT_COOLDOWN = 5.0  # a 429 without retry-after
STRIKE_MEMORY = 300.0  # strikes older than this are forgotten
MAX_LEARNED_COOLDOWN = 900.0
MAX_BREAKER = 30.0

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed attempt, as facts."""

    kind: FailureKind
    status: int  # the Anthropic status the client would see for it (fcc.core.errors mapping)
    upstream_status: int | None = None  # the provider's HTTP status, when it answered with one
    retry_after: float | None = None  # seconds the provider asked for
    should_retry: bool | None = None  # the provider's own x-should-retry
    after_content: bool = False  # content had reached the client
    in_tool_call: bool = False  # the stream broke inside a tool call
    prefillable: bool = True  # what the client has ends in text a prefill can carry on
    message: str = ""

    @property
    def transient(self) -> bool:
        if self.should_retry is False:
            return False
        if self.kind == "status":
            return self.upstream_status in RETRYABLE_STATUS and self.status not in (400, 403, 404, 413)
        if self.kind == "stream_error":
            return self.status in (429, 500, 529)
        return True

    @property
    def cooling_kind(self) -> CoolingKind:
        return "rate_limit" if self.status == 429 else "unavailable"


@dataclass(frozen=True, slots=True)
class TargetState:
    """What fcc knows about one target when deciding."""

    cooling: float = 0.0  # seconds of cooldown left
    kind: CoolingKind = ""
    strikes: int = 0  # consecutive recent failures
    reason: str = ""  # the latest failure, for messages
    can_continue: bool = False  # the provider continues a prefilled assistant turn


@dataclass(frozen=True, slots=True)
class Progress:
    """Where one client request stands."""

    index: int  # the target just tried
    sends: int  # upstream sends so far, all targets
    sends_here: int  # sends to targets[index]
    fresh: bool  # targets[index] had at most one recent strike when this request first tried it
    elapsed: float  # seconds since the client's request arrived
    headers_sent: bool  # response headers (and message_start) are out
    continuations: int = 0


@dataclass(frozen=True, slots=True)
class Send:
    """Send to targets[index] after `wait` seconds (continuing the partial answer if asked)."""

    index: int
    wait: float = 0.0
    continuation: bool = False
    why: str = ""


@dataclass(frozen=True, slots=True)
class Answer:
    """Stop and tell the client: an HTTP error before the headers, one `event: error` after."""

    status: int
    error_type: str
    retry_after: float | None = None
    should_retry: bool | None = None
    why: str = ""

    def headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.retry_after is not None:
            headers["retry-after"] = str(max(1, math.ceil(self.retry_after - 1e-6)))
        if self.should_retry is not None:
            headers["x-should-retry"] = "true" if self.should_retry else "false"
        return headers


Decision = Send | Answer


# ------------------------------------------------------------- decisions ---


def headers_due(elapsed: float, has_content: bool) -> bool:
    """Commit: headers go out with the first content, or once waiting would alarm the client."""
    return has_content or elapsed >= HEADERS_AFTER


def backoff(sends_here: int) -> float:
    """Between two sends to one target: 0.5 s, 1 s, 2 s ... (capped; admission adds cooldowns)."""
    return min(8.0, 0.5 * 2 ** max(0, sends_here - 1))


def choose_target(targets: Sequence[TargetState], start: int = 0, elapsed: float = 0.0) -> Decision:
    """The first target from `start` that may be called now; else the answer the cooldowns give."""
    for index in range(start, len(targets)):
        state = targets[index]
        if state.cooling <= WAIT_IN_GATE:
            if elapsed + state.cooling >= REQUEST_DEADLINE:
                break
            return Send(index, state.cooling, why="ready" if state.cooling <= 0 else "short cooldown")
    return _from_cooldowns(targets[start:] or targets)


def after_failure(failure: Failure, targets: Sequence[TargetState], progress: Progress) -> Decision:
    """What to do once an attempt failed (its strike is already in `targets`)."""
    here = targets[progress.index]
    if failure.after_content:
        return _after_content(failure, targets, progress)
    if not failure.transient:
        should_retry = False if failure.should_retry is False else None
        return Answer(failure.status, _type(failure.status), failure.retry_after, should_retry, why="not retryable")
    if progress.sends >= MAX_SENDS:
        return _exhausted(failure, targets, progress, "fcc's send budget for this request is spent")
    # Same target again: a blip on a target that was healthy, if the wait is short.
    allowed_here = 2 if progress.fresh and failure.kind != "no_answer" else 1
    has_fallback = any(state.cooling <= WAIT_IN_GATE for state in targets[progress.index + 1 :])
    wait = max(backoff(progress.sends_here), here.cooling)
    answer_in_time = progress.headers_sent or progress.elapsed + wait + ANSWER_MARGIN <= HEADERS_AFTER
    rate_limited_with_fallback = failure.status == 429 and has_fallback
    if (
        progress.sends_here < allowed_here
        and wait <= SAME_TARGET_MAX_WAIT
        and answer_in_time
        and not rate_limited_with_fallback
        and progress.elapsed + wait < REQUEST_DEADLINE
    ):
        return Send(progress.index, wait, why="one invisible retry on a target that was healthy")
    # A fallback that may be called now.
    nxt = choose_target(targets, progress.index + 1, progress.elapsed)
    if isinstance(nxt, Send):
        return Send(nxt.index, nxt.wait, why="fallback")
    return _exhausted(failure, targets, progress, "")


def _after_content(failure: Failure, targets: Sequence[TargetState], progress: Progress) -> Decision:
    """Content was sent: only a continuation can still give the client one clean message."""
    if (
        failure.kind in ("cut", "stall")
        and not failure.in_tool_call
        and failure.prefillable
        and progress.continuations < MAX_CONTINUATIONS
        and progress.sends < MAX_SENDS
        and progress.elapsed < REQUEST_DEADLINE - 10
    ):
        # The same target first when it merely dropped the connection; a stalled one is skipped.
        order = list(range(progress.index, len(targets))) + list(range(0, progress.index))
        if failure.kind == "stall":
            order = order[1:] + order[:1]
        for index in order:
            state = targets[index]
            if state.can_continue and state.cooling <= WAIT_IN_GATE:
                return Send(index, state.cooling, continuation=True, why=f"continue after a {failure.kind}")
    why = "cut inside a tool call" if failure.in_tool_call else "no continuation possible"
    return Answer(failure.status, _type(failure.status), why=why)


def _exhausted(failure: Failure, targets: Sequence[TargetState], progress: Progress, why: str) -> Answer:
    """Every option is used up: the most useful honest status for the client's own loop."""
    if failure.status == 429:
        # The client's retry should land when fcc would call a target again.
        cooling = [state.cooling for state in targets if state.cooling > 0]
        retry_after = min(cooling) if cooling else (failure.retry_after or DEFAULT_RATE_LIMIT_COOLDOWN)
        return Answer(429, "rate_limit_error", retry_after, why=why or "rate limited")
    # An exhausted transient failure is 529: the client gives up after three tries (or
    # switches to --fallback-model) instead of retrying a broken provider for minutes.
    hint = failure.retry_after if failure.retry_after and failure.retry_after <= CLIENT_MAX_RETRY_AFTER else None
    return Answer(529, "overloaded_error", hint, why=why or "transient failures exhausted")


def _from_cooldowns(targets: Sequence[TargetState]) -> Answer:
    """Every target is cooling: answer at once instead of calling a provider that will refuse."""
    soonest = min(targets, key=lambda state: state.cooling)
    if soonest.kind == "rate_limit":
        return Answer(429, "rate_limit_error", soonest.cooling, why="cooling down after rate limits")
    # A broken provider is left alone briefly; no retry-after, so the client's quick 529
    # retries fall inside the pause and cost no upstream request.
    return Answer(529, "overloaded_error", None, why="left alone after repeated failures")


def _type(status: int) -> str:
    return "overloaded_error" if status == 529 else ERROR_TYPE_BY_STATUS.get(status, "api_error")


# ------------------------------------------------------------ cooldowns ---


def cooldown(kind: CoolingKind, strikes: int, retry_after: float | None) -> float:
    """How long a target is left alone after its `strikes`-th consecutive failure.

    Rate limits: what the provider asked for (5 s if it did not say), and from the third
    strike a learned pause that doubles from 30 s (free tiers limit some models per
    hour, which no retry-after reveals). Other failures: nothing for a blip, then a
    breaker of 2, 4, 8 ... s (at most 30), or the provider's retry-after if longer.
    """
    if kind == "rate_limit":
        learned = 0.0 if strikes < 3 else min(MAX_LEARNED_COOLDOWN, 30.0 * 2 ** (strikes - 3))
        asked = retry_after if retry_after is not None else DEFAULT_RATE_LIMIT_COOLDOWN
        return max(asked, learned)
    breaker = 0.0 if strikes < 2 else min(MAX_BREAKER, 2.0 ** (strikes - 1))
    return max(breaker, retry_after or 0.0)


@dataclass(slots=True)
class _Record:
    strikes: int = 0
    last: float = -math.inf  # when the latest strike was recorded
    until: float = 0.0
    kind: CoolingKind = ""
    reason: str = ""


class Health:
    """The cooldown book: per target key (provider/model), strikes and cooldowns."""

    def __init__(self) -> None:
        self._records: dict[str, _Record] = {}

    def failed(self, key: str, failure: Failure, sent_at: float, now: float) -> float:
        """Record a failure of a send made at `sent_at`; returns the cooldown it set (seconds).

        A send that was already in flight when the previous failure was recorded is part
        of the same refusal (a burst of parallel requests), not one more strike.
        """
        record = self._records.setdefault(key, _Record())
        if now - record.last > STRIKE_MEMORY:
            record.strikes = 0
        if record.strikes == 0 or sent_at >= record.last:
            record.strikes += 1
        record.last = now
        pause = cooldown(failure.cooling_kind, record.strikes, failure.retry_after)
        if now + pause >= record.until:
            record.until = now + pause
            record.kind = failure.cooling_kind if pause > 0 else record.kind
        record.reason = failure.message
        return pause

    def hold(self, key: str, seconds: float, now: float, kind: CoolingKind = "rate_limit") -> None:
        """A pause the provider asked for outside a failure (never shortens one already set)."""
        record = self._records.setdefault(key, _Record(last=now))
        if seconds > 0 and now + seconds > record.until:
            record.until = now + seconds
            record.kind = kind

    def succeeded(self, key: str) -> None:
        self._records.pop(key, None)

    def state(self, key: str, now: float, can_continue: bool = False) -> TargetState:
        record = self._records.get(key)
        if record is None or now - record.last > STRIKE_MEMORY and now >= record.until:
            return TargetState(can_continue=can_continue)
        cooling = max(0.0, record.until - now)
        return TargetState(cooling, record.kind if cooling > 0 else "", record.strikes, record.reason, can_continue)

    def cooling(self, key: str, now: float) -> float:
        record = self._records.get(key)
        return max(0.0, record.until - now) if record is not None else 0.0

    def clear(self) -> None:
        self._records.clear()
