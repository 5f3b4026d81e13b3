"""bench/translate_bench.py measures a recognition that works (the benchmark itself is never a test)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import translate_bench


def test_the_text_tool_stream_is_recovered_only_with_recognition_on() -> None:
    stream = translate_bench.build_text_tool_stream()
    assert len(stream) == translate_bench.CHUNKS_PER_STREAM + 1
    translate_bench.check_text_tool_output(stream)  # raises if recognition did not (or wrongly did) act


def test_the_native_stream_translates_the_same_with_recognition_on() -> None:
    stream = translate_bench.build_stream()
    assert translate_bench.translate_once(stream) == translate_bench.translate_recognising(stream)
