"""Every complete OpenAI-style stream in wire-samples/, replayed through the translator.

Each capture is fed in several chunkings (whole body, per line, every 1, 7 and
64 bytes). The produced bytes are read strictly, checked against the event
grammar, and parsed by the official `anthropic` SDK (its SSE decoder and
`accumulate_event`). The final message is compared with the truth written
down by hand from each capture below -- never computed by the code under test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from fcc.core.tools import decode_state
from tests.protocol.test_stream_rules import (
    CHUNKINGS,
    Replay,
    block_summary,
    replay_pieces,
    usage_of,
)
from tests.support.wire_samples import WireSample, complete_streams, get_sample, sample_params

ToolUse = tuple[str, str, str, dict[str, Any]]  # ("tool_use", id, name, input)


@dataclass(frozen=True)
class Truth:
    """What a capture says the assistant turn was."""

    # Content blocks in order: ("text", text), ("thinking", text), ("tool_use", id, name, input).
    content: list[tuple[Any, ...]]
    stop_reason: str | None = None
    # (input_tokens excluding cached, output_tokens, cache_read_input_tokens)
    usage: tuple[int, int, int] | None = None
    # For captures that end in an in-stream error: the Anthropic error type and a phrase of its message.
    error_type: str | None = None
    error_phrase: str | None = None
    # Provider state that must ride in a thinking signature: (kind, payload) after decode_state.
    thinking_state: tuple[str, Any] | None = field(default=None)


OPENROUTER_CLAUDE_THINKING = (
    "The user is asking for weather information in Florence, Italy. I have access to a weather function "
    'that takes a location parameter. I should call the weather function with "Florence, Italy" or '
    '"Florence" as the location.\n\nLet me call the weather function with the location being Florence, '
    'Italy (or I could try just "Florence" - but "Florence, Italy" would be more specific and accurate).'
)
OPENROUTER_CLAUDE_SIGNATURE = (
    "Eq0ECkgIDRABGAIqQM/zwzd9QrbMZ79kRrc7C/5+aoKK90YBv7ZbImUoagaaGZvOU3SP14cZRUHB0b+fLRHRC8LLhfcfaQiGOGAxwdoSDIbgptNVmRLyYm/"
    "sdhoMI7e1X+W59yUjKZVlIjAqlULqwvQixLC+CkI+RvLV4hHztMBsL/kzC5raPmOTiEVmCaQ5c7W4fXO3Mon1cZAqkgNVe2nmngGw6pcyT7NffJiTFdTsCn"
    "g7MUiRRJEF/ewiBLEFGMIPyMN/yUsjQnMewYzwYtsnaf3NGiv15hJ3xrAwdn0YW5k6oU5Fw33QYby3cMAxJxO/Pfz4vQEqEz01veyKIUoIN1ohc/ntl59HQC"
    "BxblYiiOvenqc7FZXtTSamyK5aXDaV7chH1xYJYffZGDs4RBYEObRjWADgTi4r01G3RdXMA9UAPbJ2w4y0u85g18EFnIiqfJbm3TfQXtevWaRT8lFV8gaSqj"
    "zpqq0a6V3RbZWT/I2iJOVrWxRlVcZWR1/vaR9HkaJsz0d1Gi25UrfJHxsB4QnZKfvDHQ6DrX79FHPvGmfwvUb/BOxjrtARlnKKiMzd15nT9XiDhc1PuUKv7+"
    "4mM8XIlG47FQGcGO4MSZMr5hFQsYTlYPx/WfNKrayx+WJ3qPVelJ78+BFLzaoZ2JFjEQJqS+ULV1ZOjkYZNE5Ab/kjUpu6YklsKvdzjfdtBLA94m5g5L4zk6"
    "ygJMBjCIQ6ziSW4AAzYQeJjnyJOwYYAQ=="
)

# Written by reading each capture. Token counts: Anthropic input_tokens = prompt_tokens - cached tokens.
TRUTH: dict[str, Truth] = {
    "openai-chat-parallel-tool-calls-stream#main": Truth(
        content=[
            ("tool_use", "call_ehIWdjL1abZk1h8FWGLQ0Hie", "add", {"a": 2, "b": 3}),
            ("tool_use", "call_fBSgA47J5VeONggizTIvl7AH", "multiply", {"a": 2, "b": 3}),
        ],
        stop_reason="tool_use",
        usage=(106, 50, 0),
    ),
    "deepseek-chat-tool-call-stream#main": Truth(
        content=[
            ("text", "I'll check the current weather in Tokyo for you."),
            ("tool_use", "call_00_Sq0n5HVeFHkS1mBrIGbwBQcK", "get_weather", {"location": "Tokyo"}),
        ],
        stop_reason="tool_use",
        usage=(161 - 128, 25, 128),
    ),
    "deepseek-reasoner-reasoning-content-stream#main": Truth(
        content=[
            (
                "thinking",
                'Hmm, the user just said "Hello!" with an exclamation mark, which suggests a friendly and '
                "enthusiastic tone. This is a simple greeting, so no complex analysis is needed. \n\n"
                "The best response would be to mirror their energy with an equally warm and welcoming reply.",
            ),
            ("text", "Hello! 😊 It's wonderful to meet you!"),
        ],
        stop_reason="end_turn",
        # The capture disagrees with itself: prompt_tokens_details.cached_tokens is 0 while the
        # DeepSeek-native prompt_cache_hit_tokens is 1 (hit 1 + miss 5 = 6). The OpenAI-standard
        # field is taken as the cached count; either way input + cache_read must equal 6.
        usage=(6, 169, 0),
    ),
    "inline-think-tag-streams#A": Truth(
        content=[("thinking", "\nThe user wants PONG.\n"), ("text", "PONG")],
        stop_reason="end_turn",
        usage=(14, 120, 0),
    ),
    "mistral-tool-call-stream#main": Truth(
        content=[("tool_use", "gSIMJiOkT", "weather", {"location": "San Francisco"})],
        stop_reason="tool_use",
        usage=(124, 22, 0),
    ),
    "mistral-tool-call-stream#second": Truth(
        content=[("tool_use", "chatcmpl-tool-9f149c74c42f265b", "webSearchTool", {"query": "current Berlin weather"})],
        stop_reason="tool_use",
        usage=(171 - 128, 14, 128),
    ),
    "ollama-v1-tool-call-whole-stream#A": Truth(
        content=[("tool_use", "call_1zprp9v2", "get_secret_word", {})],
        stop_reason="tool_use",
        usage=(210, 31, 0),
    ),
    "openrouter-claude-reasoning-tool-stream#main": Truth(
        content=[
            ("thinking", OPENROUTER_CLAUDE_THINKING),
            ("tool_use", "toolu_bdrk_01N8hD5cYDw4WfvnjKXAkA2W", "weather", {"location": "Florence, Italy"}),
        ],
        stop_reason="tool_use",
        usage=(607, 143, 0),
        thinking_state=(
            "reasoning_details",
            [
                {
                    "type": "reasoning.text",
                    "text": OPENROUTER_CLAUDE_THINKING,
                    "format": "anthropic-claude-v1",
                    "index": 0,
                    "signature": OPENROUTER_CLAUDE_SIGNATURE,
                }
            ],
        ),
    ),
    # In-stream error captures: the text streamed so far, then an SDK-raised error.
    "anthropic-and-openai-midstream-error#B": Truth(
        content=[("text", 'The question "')],
        error_type="api_error",
        error_phrase="The server had an error while processing your request. Sorry about that!",
    ),
}

# Whole error frames the loader counts as fragments (a documented frame; an observed frame the
# author line-wrapped). Each is still a complete in-stream failure and is replayed the same way.
ERROR_FRAME_TRUTH: dict[str, Truth] = {
    "openrouter-in-stream-error#A": Truth(content=[], error_type="rate_limit_error", error_phrase="Rate limit exceeded"),
    "openrouter-in-stream-error#B": Truth(content=[], error_type="api_error", error_phrase="MALFORMED_FUNCTION_CALL"),
}


def _is_complete_openai_stream(sample: WireSample) -> bool:
    return sample.dialect == "openai_chat" and sample.is_stream and sample.complete


def _is_error_frame(sample: WireSample) -> bool:
    return sample.id in ERROR_FRAME_TRUTH


def summarise(message: Any) -> list[tuple[Any, ...]]:
    """block_summary plus tool ids, in the Truth format."""
    summary: list[tuple[Any, ...]] = []
    for block, short in zip(message.content, block_summary(message)):
        summary.append(("tool_use", block.id, block.name, block.input) if block.type == "tool_use" else short)
    return summary


def check_against_truth(result: Replay, truth: Truth) -> None:
    if truth.error_type is not None:
        names = result.names()
        assert names[-1] == "error", names
        assert "message_stop" not in names and "message_delta" not in names
        error = result.error  # raised by the SDK's own stream machinery
        assert error.type == truth.error_type
        assert truth.error_phrase and truth.error_phrase in result.events[-1].data["error"]["message"]
        snapshot = result.outcome.snapshot
        assert snapshot is not None, "message_start must precede the error"
        assert summarise(snapshot) == truth.content
        return
    message = result.message
    assert summarise(message) == truth.content
    assert message.stop_reason == truth.stop_reason
    assert truth.usage is not None
    assert usage_of(message) == truth.usage
    if truth.thinking_state is not None:
        thinking = next(block for block in message.content if block.type == "thinking")
        assert decode_state(thinking.signature) == truth.thinking_state


def test_every_complete_openai_stream_has_written_truth() -> None:
    """A new capture without a hand-written expectation fails here instead of being skipped."""
    found = {sample.id for sample in complete_streams("openai_chat")}
    assert found == set(TRUTH), f"missing truth: {found - set(TRUTH)}; stale truth: {set(TRUTH) - found}"
    for sample_id in ERROR_FRAME_TRUTH:
        file, label = sample_id.split("#")
        assert get_sample(f"{file}.txt", label).is_stream


@pytest.mark.parametrize("chunking", list(CHUNKINGS))
@pytest.mark.parametrize("sample", sample_params(_is_complete_openai_stream))
def test_complete_stream_matches_the_capture(sample: WireSample, chunking: str) -> None:
    result = replay_pieces(CHUNKINGS[chunking](sample.body))
    check_against_truth(result, TRUTH[sample.id])


@pytest.mark.parametrize("chunking", list(CHUNKINGS))
@pytest.mark.parametrize("sample", sample_params(_is_error_frame))
def test_in_stream_error_frame_matches_the_capture(sample: WireSample, chunking: str) -> None:
    result = replay_pieces(CHUNKINGS[chunking](sample.body))
    check_against_truth(result, ERROR_FRAME_TRUTH[sample.id])


@pytest.mark.parametrize("sample", sample_params(lambda s: _is_complete_openai_stream(s) or _is_error_frame(s)))
def test_every_chunking_gives_the_same_bytes_and_final_message(sample: WireSample) -> None:
    results = {name: replay_pieces(split(sample.body)) for name, split in CHUNKINGS.items()}
    reference = results["whole"]
    for name, result in results.items():
        assert result.body == reference.body, f"{name} chunking produced different bytes"
        if reference.outcome.error is None:
            assert result.message.model_dump() == reference.message.model_dump(), name
        else:
            assert result.error.type == reference.error.type, name
            assert result.outcome.snapshot.model_dump() == reference.outcome.snapshot.model_dump(), name
