"""ThinkTagSplitter: inline `<think>...</think>` reasoning split out of streamed text."""

from __future__ import annotations

import random

import pytest

from fcc.core.thinking import CLOSE_TAG, OPEN_TAG, ThinkTagSplitter

Piece = tuple[str, str]


def run_splitter(pieces: list[str]) -> list[Piece]:
    """Feed every piece, then finish; merge adjacent output of the same kind."""
    splitter = ThinkTagSplitter()
    produced: list[Piece] = []
    for piece in pieces:
        produced.extend(splitter.feed(piece))
    produced.extend(splitter.finish())
    for kind, text in produced:
        assert kind in ("thinking", "text")
        assert text, "the splitter must never produce an empty piece"
    merged: list[Piece] = []
    for kind, text in produced:
        if merged and merged[-1][0] == kind:
            merged[-1] = (kind, merged[-1][1] + text)
        else:
            merged.append((kind, text))
    return merged


def test_plain_text_passes_straight_through() -> None:
    splitter = ThinkTagSplitter()
    assert splitter.feed("Hello, world") == [("text", "Hello, world")]
    assert splitter.finish() == []


def test_tags_in_one_piece() -> None:
    assert run_splitter(["<think>plan it</think>The answer."]) == [("thinking", "plan it"), ("text", "The answer.")]


def test_captured_ollama_qwen3_split_tags() -> None:
    """inline-think-tag-streams.txt (A): `</thi` + `nk>` across chunks, blank lines before the answer."""
    pieces = ["<think>", "\nThe user wants PO", "NG.\n</thi", "nk>\n\nPONG", ""]
    assert run_splitter(pieces) == [("thinking", "\nThe user wants PONG.\n"), ("text", "PONG")]


@pytest.mark.parametrize("cut", range(1, len("<think>reason</think>answer")))
def test_any_single_cut_gives_the_same_result(cut: int) -> None:
    text = "<think>reason</think>answer"
    assert run_splitter([text[:cut], text[cut:]]) == [("thinking", "reason"), ("text", "answer")]


def test_one_character_at_a_time() -> None:
    text = "before<think>inside</think>after"
    assert run_splitter(list(text)) == [("text", "before"), ("thinking", "inside"), ("text", "after")]


def test_a_partial_open_tag_is_held_back_then_released_as_text() -> None:
    splitter = ThinkTagSplitter()
    assert splitter.feed("x <thi") == [("text", "x ")]
    assert splitter.feed("s is not a tag") == [("text", "<this is not a tag")]


def test_a_held_back_prefix_is_flushed_at_finish() -> None:
    splitter = ThinkTagSplitter()
    assert splitter.feed("ends with <") == [("text", "ends with ")]
    assert splitter.finish() == [("text", "<")]


def test_comparison_operators_are_text() -> None:
    assert run_splitter(["if a < b and b > c: </", "div> <th>"]) == [("text", "if a < b and b > c: </div> <th>")]


def test_unterminated_think_is_flushed_as_thinking() -> None:
    assert run_splitter(["<think>still reasoning when cut</th"]) == [("thinking", "still reasoning when cut</th")]


def test_orphan_close_tag_is_stripped_and_text_kept() -> None:
    assert run_splitter(["R1 forgot the opener", "</think>", "Final."]) == [("text", "R1 forgot the openerFinal.")]


def test_orphan_close_tag_split_across_pieces() -> None:
    assert run_splitter(["abc</th", "ink>def"]) == [("text", "abcdef")]


def test_leading_blank_lines_after_reasoning_are_dropped_only_before_the_first_text() -> None:
    assert run_splitter(["<think>a</think>", "\n", "\n  ", "Answer\n\n", "  indented"]) == [
        ("thinking", "a"),
        ("text", "Answer\n\n  indented"),
    ]


def test_whitespace_after_a_second_think_block_is_kept() -> None:
    assert run_splitter(["Intro.<think>more</think> Then."]) == [
        ("text", "Intro."),
        ("thinking", "more"),
        ("text", " Then."),
    ]


def test_empty_think_preamble_leaves_only_the_answer_text() -> None:
    """Qwen3 /no_think and R1 distills emit `<think>\\n\\n</think>\\n\\n` before answering."""
    result = run_splitter(["<think>", "\n\n", "</think>", "\n\n", "Hi!"])
    assert [piece for piece in result if piece[0] == "text"] == [("text", "Hi!")]
    assert all(text.strip() == "" for kind, text in result if kind == "thinking")


def test_multibyte_text_inside_and_outside() -> None:
    assert run_splitter(["<think>好的", "，让我想想</think>", "答案是 42"]) == [("thinking", "好的，让我想想"), ("text", "答案是 42")]


def test_inside_flag_tracks_the_open_tag() -> None:
    splitter = ThinkTagSplitter()
    splitter.feed("<think>x")
    assert splitter.inside
    splitter.feed("</think>")
    assert not splitter.inside


def _random_document(rng: random.Random) -> str:
    atoms = [OPEN_TAG, CLOSE_TAG, "<", ">", "</", "<t", "th", "ink>", "a", "b c", "\n", " ", "é", "<thinking>"]
    return "".join(rng.choice(atoms) for _ in range(rng.randint(1, 25)))


def _random_cuts(rng: random.Random, text: str) -> list[str]:
    cuts = sorted(rng.sample(range(1, len(text)), k=min(len(text) - 1, rng.randint(0, 8)))) if len(text) > 1 else []
    bounds = [0, *cuts, len(text)]
    return [text[start:end] for start, end in zip(bounds, bounds[1:])]


def test_output_does_not_depend_on_where_the_stream_was_cut() -> None:
    """Seeded fuzz: random tag soup, fed whole vs cut at random points, must split identically."""
    rng = random.Random(20260417)
    for _ in range(3000):
        document = _random_document(rng)
        whole = run_splitter([document])
        assert run_splitter(_random_cuts(rng, document)) == whole, document


def _tag_free_segment(rng: random.Random) -> str:
    atoms = ["<", ">", "</", "<t", "th", "ink>", "a", "b c", "\n", " ", "é", "<thinking>"]
    while True:
        segment = "".join(rng.choice(atoms) for _ in range(rng.randint(0, 6)))
        if OPEN_TAG not in segment and CLOSE_TAG not in segment:
            return segment


def test_well_formed_documents_lose_nothing_but_tags_and_leading_whitespace() -> None:
    """Seeded fuzz with a known answer: text / <think>thinking</think> / text ..., random cuts."""
    rng = random.Random(7)
    for _ in range(2000):
        texts = [_tag_free_segment(rng) for _ in range(rng.randint(1, 4))]
        thoughts = [_tag_free_segment(rng) for _ in range(len(texts) - 1)]
        document = texts[0] + "".join(OPEN_TAG + t + CLOSE_TAG + x for t, x in zip(thoughts, texts[1:]))
        result = run_splitter(_random_cuts(rng, document))
        produced_thinking = "".join(text for kind, text in result if kind == "thinking")
        produced_text = "".join(text for kind, text in result if kind == "text")
        assert produced_thinking == "".join(thoughts), document
        # Only whitespace may disappear from text (the blank lines right after reasoning).
        assert produced_text.replace(" ", "").replace("\n", "") == "".join(texts).replace(" ", "").replace("\n", ""), document
