"""Split inline `<think>...</think>` reasoning out of streamed text.

Models served without a reasoning parser (llama.cpp `--reasoning-format none`,
vLLM without `--reasoning-parser`, Ollama qwen3, MiniMax M2) put their
reasoning in the content. Tags can be split across chunks (`</thi` + `nk>`),
and old DeepSeek-R1 templates omit the opening tag, leaving an orphan
`</think>` (stripped; text before it was already shown as text and cannot be
taken back, which is the honest choice over holding all text back).
"""

from __future__ import annotations

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of text that is a proper prefix of tag."""
    limit = min(len(text), len(tag) - 1)
    for size in range(limit, 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0


class ThinkTagSplitter:
    """feed(text) -> [("thinking"|"text", piece), ...]; pieces are never empty."""

    __slots__ = ("_inside", "_pending", "_seen_text", "_strip_next")

    def __init__(self) -> None:
        self._inside = False
        self._pending = ""
        self._seen_text = False
        # After reasoning closes, models emit blank lines before the answer; they are not content.
        self._strip_next = False

    @property
    def inside(self) -> bool:
        return self._inside

    def feed(self, text: str) -> list[tuple[str, str]]:
        if self._pending:
            text = self._pending + text
            self._pending = ""
        elif "<" not in text and not self._inside and not self._strip_next:
            # Fast path: the overwhelmingly common plain-text chunk.
            if text:
                self._seen_text = True
                return [("text", text)]
            return []
        out: list[tuple[str, str]] = []
        while text:
            if self._inside:
                end = text.find(CLOSE_TAG)
                if end >= 0:
                    self._emit(out, "thinking", text[:end])
                    text = text[end + len(CLOSE_TAG) :]
                    self._inside = False
                    self._strip_next = not self._seen_text
                    continue
                keep = _partial_suffix(text, CLOSE_TAG)
                self._emit(out, "thinking", text[: len(text) - keep])
                self._pending = text[len(text) - keep :]
                break
            start = text.find(OPEN_TAG)
            orphan = text.find(CLOSE_TAG)
            if orphan >= 0 and (start < 0 or orphan < start):
                self._emit(out, "text", text[:orphan])
                text = text[orphan + len(CLOSE_TAG) :]
                continue
            if start >= 0:
                self._emit(out, "text", text[:start])
                text = text[start + len(OPEN_TAG) :]
                self._inside = True
                continue
            keep = max(_partial_suffix(text, OPEN_TAG), _partial_suffix(text, CLOSE_TAG))
            self._emit(out, "text", text[: len(text) - keep])
            self._pending = text[len(text) - keep :]
            break
        return out

    def finish(self) -> list[tuple[str, str]]:
        """Flush held-back characters: an unterminated think is flushed as thinking."""
        pending, self._pending = self._pending, ""
        out: list[tuple[str, str]] = []
        self._emit(out, "thinking" if self._inside else "text", pending)
        return out

    def _emit(self, out: list[tuple[str, str]], kind: str, piece: str) -> None:
        if not piece:
            return
        if kind == "text":
            if self._strip_next:
                piece = piece.lstrip()
                if not piece:
                    return
                self._strip_next = False
            self._seen_text = True
        if out and out[-1][0] == kind:
            out[-1] = (kind, out[-1][1] + piece)
        else:
            out.append((kind, piece))
