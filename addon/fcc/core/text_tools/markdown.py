"""Is the next character inside Markdown code? (a fenced block or an inline code span)

A call format shown in a code block or in `inline code` is an example, not a
call. The tracker sees the released text once, in order, and keeps just enough
state: fence open, the inline span's backtick-run length, the backtick run at
the end of the text so far (it may continue in the next piece), whether the
current line is still blank (fences open only at a line start).
"""

from __future__ import annotations

import re

_RUNS = re.compile(r"`+")


class CodeContext:
    __slots__ = ("fence", "inline", "_run", "_run_at_start", "_blank")

    def __init__(self) -> None:
        self.fence = 0  # backticks of the open fence, 0 when none
        self.inline = 0  # backticks of the open inline span, 0 when none
        self._run = 0  # a backtick run touching the end of the text so far
        self._run_at_start = False
        self._blank = True  # nothing but spaces so far on this line

    def in_code(self) -> bool:
        self._close_run()
        return bool(self.fence or self.inline)

    def update(self, text: str) -> None:
        if "`" not in text and "\n" not in text:
            if text:
                self._close_run()
                if self._blank and not text.isspace():
                    self._blank = False
            return
        first = True
        for line in text.split("\n"):
            if not first:
                self._close_run()
                self.inline = 0  # an unmatched backtick does not silence the rest of the message
                self._blank = True
            first = False
            if line:
                self._segment(line)

    def _segment(self, line: str) -> None:
        pos = 0
        for match in _RUNS.finditer(line):
            start, end = match.span()
            if start > pos or (start == 0 and self._run == 0):
                self._close_run()
                before = line[pos:start]
                at_start = self._blank and (not before or before.isspace())
                if before and not before.isspace():
                    self._blank = False
                self._run_at_start = at_start
            self._run += end - start
            pos = end
            if end < len(line):
                self._close_run()
                self._blank = False
        tail = line[pos:]
        if tail:
            self._close_run()
            if self._blank and not tail.isspace():
                self._blank = False

    def _close_run(self) -> None:
        run = self._run
        if not run:
            return
        self._run = 0
        if self.fence:
            if run >= self.fence and self._run_at_start:
                self.fence = 0
        elif self.inline:
            if run == self.inline:
                self.inline = 0
        elif run >= 3 and self._run_at_start:
            self.fence = run
        else:
            self.inline = run
        self._blank = False
