"""fcc.engine.policy: retry, fallback, continuation and commit decisions from facts (no I/O, no clock)."""

from __future__ import annotations

import pytest

from fcc.engine.policy import (
    HEADERS_AFTER,
    MAX_BREAKER,
    MAX_LEARNED_COOLDOWN,
    STRIKE_MEMORY,
    Answer,
    Failure,
    Health,
    Progress,
    Send,
    TargetState,
    after_failure,
    choose_target,
    cooldown,
    headers_due,
)

HEALTHY = TargetState()


def rate_limited(retry_after: float | None = None) -> Failure:
    return Failure("status", 429, 429, retry_after=retry_after, message="rate limited")


def server_error(status: int = 500) -> Failure:
    return Failure("status", 529 if status in (502, 503, 529) else status, status, message="boom")


REFUSED = Failure("refused", 529, message="connection refused")
HANG = Failure("no_answer", 529, message="no response within 90 s")


def first(**changes: object) -> Progress:
    values: dict[str, object] = {"index": 0, "sends": 1, "sends_here": 1, "fresh": True, "elapsed": 0.2, "headers_sent": False}
    values.update(changes)
    return Progress(**values)  # type: ignore[arg-type]


# ------------------------------------------------------------- commit ---


def test_headers_wait_for_content_or_twenty_seconds() -> None:
    assert headers_due(0.1, has_content=True)
    assert not headers_due(HEADERS_AFTER - 0.01, has_content=False)
    assert headers_due(HEADERS_AFTER, has_content=False)
    # Under the client's 30 s "slow first byte" warning (../shared/research/claude-code-client.md section 5).
    assert HEADERS_AFTER < 30


# --------------------------------------------------- transient, absorbed ---


@pytest.mark.parametrize("failure", [server_error(500), server_error(503), REFUSED, Failure("cut", 500), Failure("stream_error", 529)])
def test_a_blip_on_a_healthy_target_is_retried_once_invisibly(failure: Failure) -> None:
    decision = after_failure(failure, [HEALTHY], first())
    assert isinstance(decision, Send) and decision.index == 0 and 0 < decision.wait <= 1


def test_a_429_once_waits_its_retry_after_then_retries() -> None:
    decision = after_failure(rate_limited(3), [TargetState(cooling=3, kind="rate_limit", strikes=1)], first())
    assert decision == Send(0, 3, why=decision.why)


def test_the_second_failure_on_the_same_target_is_answered() -> None:
    decision = after_failure(server_error(500), [TargetState(strikes=2)], first(sends=2, sends_here=2, elapsed=1.0))
    assert isinstance(decision, Answer)
    # Exhausted transient trouble is 529: the client then stops after three tries.
    assert (decision.status, decision.error_type, decision.retry_after) == (529, "overloaded_error", None)


def test_a_target_that_already_failed_gets_one_send_per_client_attempt() -> None:
    # The client's own retry loop brings the next attempt; fcc must not multiply it.
    state = TargetState(cooling=5, kind="rate_limit", strikes=3)
    decision = after_failure(rate_limited(5), [state], first(fresh=False))
    assert isinstance(decision, Answer) and decision.status == 429 and decision.retry_after == 5
    assert Answer.headers(decision) == {"retry-after": "5"}
    assert isinstance(after_failure(server_error(), [TargetState(strikes=2)], first(fresh=False)), Answer)


def test_a_hang_is_not_retried_on_the_same_target() -> None:
    # It already cost a whole first-byte timeout; the client's next attempt is the retry.
    assert isinstance(after_failure(HANG, [TargetState(strikes=1)], first(elapsed=90.0, headers_sent=True)), Answer)


def test_no_same_target_retry_whose_answer_would_come_after_the_headers() -> None:
    # At 15 s, a 5 s retry-after would land past the 20 s header deadline: answer 429 now.
    decision = after_failure(rate_limited(5), [TargetState(cooling=5, kind="rate_limit", strikes=1)], first(elapsed=15.0))
    assert isinstance(decision, Answer) and decision.status == 429 and decision.retry_after == 5


def test_a_long_retry_after_is_the_clients_to_wait() -> None:
    state = TargetState(cooling=30, kind="rate_limit", strikes=1)
    decision = after_failure(rate_limited(30), [state], first())
    assert isinstance(decision, Answer) and decision.headers() == {"retry-after": "30"}


def test_a_retry_after_beyond_sixty_seconds_is_passed_on_so_the_client_stops() -> None:
    state = TargetState(cooling=120, kind="rate_limit", strikes=1)
    decision = after_failure(rate_limited(120), [state], first())
    assert isinstance(decision, Answer) and decision.headers()["retry-after"] == "120"


# ---------------------------------------------------------- not retried ---


@pytest.mark.parametrize(("status", "upstream"), [(400, 400), (403, 401), (404, 404), (413, 413), (400, 422)])
def test_client_errors_are_answered_at_once(status: int, upstream: int) -> None:
    decision = after_failure(Failure("status", status, upstream), [HEALTHY, HEALTHY], first())
    assert isinstance(decision, Answer) and decision.status == status


def test_the_providers_x_should_retry_false_is_respected_and_passed_on() -> None:
    failure = Failure("status", 529, 529, should_retry=False)
    decision = after_failure(failure, [HEALTHY, HEALTHY], first())
    assert isinstance(decision, Answer) and decision.headers() == {"x-should-retry": "false"}


def test_a_context_overflow_from_a_500_is_not_retried() -> None:
    assert isinstance(after_failure(Failure("status", 400, 500), [HEALTHY], first()), Answer)


# ------------------------------------------------------------- fallback ---


def test_a_rate_limited_primary_moves_to_the_fallback_at_once() -> None:
    targets = [TargetState(cooling=2, kind="rate_limit", strikes=1), HEALTHY]
    assert after_failure(rate_limited(2), targets, first()) == Send(1, 0.0, why="fallback")


def test_a_failing_primary_gets_its_retry_then_the_fallback() -> None:
    targets = [TargetState(strikes=1), HEALTHY]
    assert isinstance(after_failure(server_error(), targets, first()), Send)
    decision = after_failure(server_error(), [TargetState(strikes=2), HEALTHY], first(sends=2, sends_here=2))
    assert decision == Send(1, 0.0, why="fallback")


def test_a_cooling_fallback_is_skipped() -> None:
    targets = [TargetState(strikes=2), TargetState(cooling=40, kind="rate_limit", strikes=3), HEALTHY]
    decision = after_failure(server_error(), targets, first(sends=2, sends_here=2))
    assert isinstance(decision, Send) and decision.index == 2


def test_the_send_budget_caps_a_long_fallback_chain() -> None:
    targets = [TargetState(strikes=1)] * 6
    decision = after_failure(server_error(), targets, first(index=3, sends=4, sends_here=1))
    assert isinstance(decision, Answer) and decision.status == 529


def test_the_final_429_carries_the_soonest_cooldown() -> None:
    targets = [TargetState(cooling=50, kind="rate_limit", strikes=4), TargetState(cooling=7, kind="rate_limit", strikes=1)]
    decision = after_failure(rate_limited(7), targets, first(index=1, sends=2, fresh=False))
    assert isinstance(decision, Answer) and decision.retry_after == 7


# ------------------------------------------------- before any send: cooling ---


def test_a_cooling_target_is_not_called_and_the_client_hears_the_remaining_cooldown() -> None:
    decision = choose_target([TargetState(cooling=12.2, kind="rate_limit", strikes=2)])
    assert isinstance(decision, Answer) and decision.status == 429 and decision.headers() == {"retry-after": "13"}


def test_a_broken_target_left_alone_is_a_529_without_retry_after() -> None:
    # No retry-after: the client's two quick 529 retries fall inside the pause and cost nothing upstream.
    decision = choose_target([TargetState(cooling=4, kind="unavailable", strikes=3)])
    assert isinstance(decision, Answer) and (decision.status, decision.retry_after) == (529, None)


def test_a_cooling_primary_is_skipped_for_a_ready_fallback() -> None:
    assert choose_target([TargetState(cooling=30, kind="rate_limit"), HEALTHY]) == Send(1, 0.0, why="ready")


def test_a_cooldown_under_a_second_is_waited_out() -> None:
    decision = choose_target([TargetState(cooling=0.4, kind="rate_limit", strikes=1)])
    assert isinstance(decision, Send) and decision.wait == 0.4


# --------------------------------------------------------- after content ---


def test_a_cut_after_text_continues_on_the_same_target_when_it_can_prefill() -> None:
    failure = Failure("cut", 500, after_content=True)
    decision = after_failure(failure, [TargetState(can_continue=True)], first(headers_sent=True))
    assert isinstance(decision, Send) and decision.continuation and decision.index == 0


def test_a_stall_continues_on_the_fallback_first() -> None:
    failure = Failure("stall", 529, after_content=True)
    targets = [TargetState(can_continue=True), TargetState(can_continue=True)]
    decision = after_failure(failure, targets, first(headers_sent=True))
    assert isinstance(decision, Send) and decision.continuation and decision.index == 1


@pytest.mark.parametrize(
    "failure",
    [
        Failure("cut", 500, after_content=True, in_tool_call=True),  # never a tool call twice or half
        Failure("stream_error", 529, after_content=True),  # the provider said why; pass it on
    ],
)
def test_no_continuation_inside_a_tool_call_or_after_an_error_frame(failure: Failure) -> None:
    decision = after_failure(failure, [TargetState(can_continue=True)], first(headers_sent=True))
    assert isinstance(decision, Answer)


def test_no_continuation_where_the_provider_cannot_prefill_or_after_two() -> None:
    failure = Failure("cut", 500, after_content=True)
    assert isinstance(after_failure(failure, [HEALTHY], first(headers_sent=True)), Answer)
    state = TargetState(can_continue=True)
    assert isinstance(after_failure(failure, [state], first(headers_sent=True, continuations=2)), Answer)


# ------------------------------------------------------------ cooldowns ---


def test_rate_limit_cooldowns_follow_retry_after_then_grow() -> None:
    assert cooldown("rate_limit", 1, 3) == 3
    assert cooldown("rate_limit", 1, None) == 5
    assert [cooldown("rate_limit", s, 5) for s in (2, 3, 4, 5)] == [5, 30, 60, 120]
    assert cooldown("rate_limit", 40, None) == MAX_LEARNED_COOLDOWN
    assert cooldown("rate_limit", 1, 3600) == 3600  # a daily quota is the provider's word


def test_a_broken_provider_is_left_alone_a_little_longer_each_time() -> None:
    assert cooldown("unavailable", 1, None) == 0  # a blip: retry at once
    assert [cooldown("unavailable", s, None) for s in (2, 3, 4)] == [2, 4, 8]
    assert cooldown("unavailable", 30, None) == MAX_BREAKER
    assert cooldown("unavailable", 1, 12) == 12  # a 503 with retry-after


def test_health_strikes_cooldowns_and_success() -> None:
    health = Health()
    assert health.failed("nim/k", rate_limited(None), sent_at=0.0, now=0.5) == 5
    assert health.state("nim/k", 1.0) == TargetState(4.5, "rate_limit", 1, "rate limited")
    assert health.state("nim/other", 1.0) == TargetState()  # per model
    health.failed("nim/k", rate_limited(None), sent_at=6.0, now=6.2)
    assert health.failed("nim/k", rate_limited(None), sent_at=12.0, now=12.1) == 30
    assert health.cooling("nim/k", 22.1) == pytest.approx(20)
    health.succeeded("nim/k")
    assert health.state("nim/k", 22.1) == TargetState()


def test_parallel_refusals_are_one_strike() -> None:
    health = Health()
    for answered in (1.0, 1.1, 1.3):  # three requests sent at 0.9 s, refused together
        health.failed("p/m", rate_limited(None), sent_at=0.9, now=answered)
    assert health.state("p/m", 1.3).strikes == 1
    health.failed("p/m", rate_limited(None), sent_at=2.0, now=2.1)  # sent after the refusals: a new strike
    assert health.state("p/m", 2.1).strikes == 2


def test_old_strikes_are_forgotten() -> None:
    health = Health()
    health.failed("p/m", server_error(), 0.0, 0.1)
    health.failed("p/m", server_error(), 0.2, 0.3)
    assert health.state("p/m", 0.3).strikes == 2
    assert health.state("p/m", STRIKE_MEMORY + 10) == TargetState()
    health.failed("p/m", server_error(), STRIKE_MEMORY + 11, STRIKE_MEMORY + 11)
    assert health.state("p/m", STRIKE_MEMORY + 11).strikes == 1


def test_a_shorter_cooldown_never_shortens_a_longer_one() -> None:
    health = Health()
    health.failed("p/m", rate_limited(60), 0.0, 0.0)
    health.failed("p/m", rate_limited(1), 1.0, 1.0)
    assert health.cooling("p/m", 2.0) == pytest.approx(58)


# ------------------------------------------- the client's whole retry cycle ---


def _client_cycle(failure: Failure, client_attempts: int, gap: float) -> int:
    """Upstream sends over a client that retries `client_attempts` times, `gap` s apart
    (at least the retry-after it was given), all against one always-failing target."""
    health, now, sends = Health(), 0.0, 0
    for _ in range(client_attempts):
        started, sends_here, decision = now, 0, choose_target([health.state("t", now)], 0, 0.0)
        fresh = health.state("t", now).strikes < 2
        while isinstance(decision, Send):
            now += decision.wait
            sends += 1
            sends_here += 1
            health.failed("t", failure, now, now + 0.05)
            now += 0.05
            progress = Progress(0, sends_here, sends_here, fresh, now - started, headers_sent=False)
            decision = after_failure(failure, [health.state("t", now)], progress)
        if decision.retry_after is not None and decision.retry_after > 60:
            break  # the client gives up at once
        now += max(gap, decision.retry_after or 0.0) * 1.1
    return sends


def test_always_429_costs_at_most_one_send_per_client_attempt_plus_one() -> None:
    # Claude Code: 11 attempts against 429, honouring retry-after (was 44 sends with 4 per attempt).
    assert _client_cycle(rate_limited(5), 11, gap=1.0) <= 12
    assert _client_cycle(rate_limited(None), 11, gap=1.0) <= 12


def test_always_500_or_down_costs_at_most_one_send_per_client_attempt() -> None:
    # 529 makes the client stop after 3 attempts, 0.7 s and 1.1 s apart.
    assert _client_cycle(server_error(500), 3, gap=0.7) <= 3
    assert _client_cycle(REFUSED, 3, gap=0.7) <= 3
