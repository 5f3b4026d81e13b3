"""The benchmark's own arithmetic and workload (the benchmark itself is never a test)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import _stats
import _workload
from _clients import StreamCheck


def test_percentile_interpolates_like_numpy():
    values = [10.0, 1.0, 4.0, 3.0, 2.0]  # unsorted on purpose
    assert _stats.percentile(values, 50) == 3.0
    assert _stats.percentile(values, 0) == 1.0
    assert _stats.percentile(values, 100) == 10.0
    assert _stats.percentile(values, 95) == pytest.approx(8.8)  # numpy.percentile(values, 95)
    assert _stats.percentile([1.0, 2.0], 50) == 1.5
    assert _stats.percentile([], 50) is None
    with pytest.raises(ValueError):
        _stats.percentile(values, 101)


def test_least_squares_recovers_fixed_and_per_chunk_cost():
    # 5 ms per request + 30 µs per chunk, measured at the benchmark's chunk counts.
    chunks = [1, 10, 100, 400] * 3
    noise = [0.02, -0.01, 0.0, -0.01] * 3
    cpu_ms = [5.0 + 0.030 * c + e for c, e in zip(chunks, noise)]
    intercept, slope = _stats.linear_fit(chunks, cpu_ms)
    assert intercept == pytest.approx(5.0, abs=0.02)
    assert slope * 1000 == pytest.approx(30.0, abs=0.2)


def test_weighted_fit_trusts_the_heavier_blocks():
    xs, ys = [0.0, 1.0, 2.0], [0.0, 1.0, 10.0]
    _, unweighted = _stats.linear_fit(xs, ys)
    _, weighted = _stats.linear_fit(xs, ys, [1000.0, 1000.0, 1.0])
    assert unweighted == pytest.approx(5.0)
    assert weighted == pytest.approx(1.0, abs=0.2)
    assert _stats.linear_fit([3.0, 3.0], [1.0, 2.0]) is None  # no spread in x


def test_ratio_and_formatting():
    assert _stats.ratio(30.0, 10.0) == 3.0
    assert _stats.ratio(1.0, None) is None and _stats.ratio(1.0, 0.0) is None
    assert _stats.fmt_ratio(0.5) == "0.50x" and _stats.fmt_ratio(150.0) == "150x" and _stats.fmt_ratio(None) == "-"


@pytest.mark.parametrize("chunks", [1, 10, 100, 400])
def test_both_upstream_streams_decode_to_the_expected_answer(chunks):
    text_pieces, per_tool = _workload.shape(chunks)
    assert text_pieces + 2 * per_tool == chunks
    want = _workload.expected(chunks)
    for dialect, events in (("openai", _workload.openai_events(chunks)), ("anthropic", _workload.anthropic_events(chunks))):
        check = StreamCheck(dialect)
        for event in events:
            check.feed(event, 0.0)
        assert check.verdict(want) is None, dialect


def test_a_wrong_answer_is_caught():
    want = _workload.expected(100)
    events = _workload.anthropic_events(100)
    check = StreamCheck("anthropic")
    for event in events[:-1]:  # no message_stop
        check.feed(event, 0.0)
    assert "without message_stop" in check.verdict(want)
    tampered = [e.replace(b'"stop_reason":"tool_use"', b'"stop_reason":"end_turn"') for e in events]
    check = StreamCheck("anthropic")
    for event in tampered:
        check.feed(event, 0.0)
    assert "stop_reason" in check.verdict(want)


def test_request_body_is_claude_code_sized():
    body = json.dumps(_workload.anthropic_body())
    assert 18_000 < len(body) < 26_000
    assert len(_workload.anthropic_body()["tools"]) == 20
