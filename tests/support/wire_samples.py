"""Loader for the real provider streams captured in ../shared/wire-samples.

Each sample file is a `#` header (SOURCE / NOTE / REQUEST ...) followed by one
or more sections introduced by `# ---- <title> ----`. A section is either a
whole recorded body, or a fragment (first chunks only, abbreviated, pretty-
printed, documented rather than captured). Fragments are still loaded -- their
single chunks are useful to a decoder test -- but `complete` is False so no
test mistakes them for a full stream.

`body` is the section reconstructed as the bytes a client would read on the
wire; `raw_text` keeps the section exactly as the file has it, and
`normalisations` says what differs between the two and why.

The samples are not shipped with the repository. Tests call `require_shared()`
(or use `sample_params()`), which skips locally and fails under CI.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from collections.abc import Callable

import pytest

if TYPE_CHECKING:
    from tests.support.error_bodies import ProviderErrorBody

Dialect = Literal["openai_chat", "anthropic", "responses", "error_bodies"]

MISSING_SHARED_REASON = "../shared not found: wire samples are not shipped with the repo"
SHARED_DIR_ENV = "FCC_SHARED_DIR"

_SECTION_MARKER = re.compile(r"^# ---- (?P<title>.*?) ----\s*$")
_SECTION_LETTER = re.compile(r"^\((?P<letter>[A-Z])\)")
# Words in a section title that mean "not one whole body as the server sent it".
_FRAGMENT_TITLE_WORDS = (
    "fragment",
    "abbreviated",
    "not parseable",
    "pretty-printed",
    "first",
    "documented",
    "truncated",
    "chunks verbatim",
)
# File headers saying the fixture format dropped the SSE framing of each line
# (the Vercel AI SDK `.chunks.txt` format); the wire had `data: ` + blank line
# per chunk and a final `data: [DONE]`.
_STRIPPED_PREFIX_HINTS = ("prefixes stripped", "wraps each line as `data:")
_FILE_IS_FRAGMENTS_HINT = "FRAGMENTS, not one complete stream"


@dataclass(frozen=True)
class WireSample:
    """One section of one wire-sample file."""

    file: str
    label: str
    title: str
    dialect: Dialect
    body: bytes
    raw_text: str
    complete: bool
    is_stream: bool
    parseable: bool
    status: int
    notes: str
    normalisations: tuple[str, ...] = ()
    no_done_reason: str | None = None

    @property
    def id(self) -> str:
        """Stable, readable pytest id such as `mistral-tool-call-stream#second`."""
        return f"{self.file.removesuffix('.txt')}#{self.label}"

    @property
    def ends_with_done(self) -> bool:
        return self.body.rstrip(b"\r\n").endswith(b"data: [DONE]")

    def data_payloads(self) -> list[str]:
        """The `data:` payload of every SSE event (multi-line data joined by \\n)."""
        return [payload for _, payload in sse_events(self.body)]

    def json_frames(self) -> list[Any]:
        """Every payload that parses as JSON ([DONE] and junk are left out)."""
        if not self.is_stream:
            whole = try_json(self.body.decode())
            if whole is not None:
                return [whole]
            # Error-body sections may hold one body per line.
            return [parsed for line in self.body.decode().splitlines() if (parsed := try_json(line)) is not None]
        frames = []
        for payload in self.data_payloads():
            parsed = try_json(payload)
            if parsed is not None:
                frames.append(parsed)
        return frames


def sse_events(body: bytes) -> list[tuple[str | None, str]]:
    """Split an SSE body into (event name, data) pairs; comments are dropped.

    Deliberately tiny and strict-enough for fixtures; the product has its own
    incremental parser, and tests should not depend on it to read samples.
    """
    events: list[tuple[str | None, str]] = []
    for block in re.split(r"\r?\n\r?\n", body.decode()):
        event_name: str | None = None
        data_lines: list[str] = []
        for line in block.splitlines():
            if line.startswith("event:"):
                event_name = line[len("event:") :].strip()
            elif line.startswith("data:"):
                data_lines.append(line[len("data:") :].removeprefix(" "))
        if data_lines:
            events.append((event_name, "\n".join(data_lines)))
    return events


def shared_dir() -> Path | None:
    """Locate the shared research directory: $FCC_SHARED_DIR or <repo>/../shared."""
    override = os.environ.get(SHARED_DIR_ENV)
    candidate = Path(override) if override else repo_root().parent / "shared"
    return candidate if (candidate / "wire-samples").is_dir() else None


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def require_shared() -> Path:
    """Return the shared dir, or skip the test -- except under CI, where a
    missing fixture set must be a failure rather than a silently green run."""
    found = shared_dir()
    if found is not None:
        return found
    if os.environ.get("CI"):
        pytest.fail(MISSING_SHARED_REASON, pytrace=False)
    pytest.skip(MISSING_SHARED_REASON)


def load_samples(directory: Path | None = None) -> list[WireSample]:
    """Every section of every wire-sample file, sorted by file then section."""
    base = directory if directory is not None else require_shared() / "wire-samples"
    return list(_load_samples_cached(base.resolve()))


def sample_params(
    accept: Callable[[WireSample], bool] = lambda sample: True,
) -> list[Any]:
    """`pytest.param`s for @pytest.mark.parametrize, one per accepted sample.

    Usable at collection time: when the samples are absent it yields one
    placeholder param, skipped locally; under CI the test runs and fails on its
    first use of the placeholder (a collection error would hide the module's
    other results).
    """
    found = shared_dir()
    if found is None:
        marks = () if os.environ.get("CI") else (pytest.mark.skip(reason=MISSING_SHARED_REASON),)
        return [pytest.param(MissingSharedSample(), id="wire-samples-missing", marks=marks)]
    return [pytest.param(sample, id=sample.id) for sample in load_samples(found / "wire-samples") if accept(sample)]


class MissingSharedSample:
    """Stands in for a WireSample when ../shared is absent; any use fails the test."""

    def __getattr__(self, name: str) -> Any:
        pytest.fail(MISSING_SHARED_REASON, pytrace=False)


def complete_streams(dialect: Dialect) -> list[WireSample]:
    return [s for s in load_samples() if s.dialect == dialect and s.is_stream and s.complete]


def get_sample(file: str, label: str) -> WireSample:
    for sample in load_samples():
        if sample.file == file and sample.label == label:
            return sample
    raise KeyError(f"no wire sample {file}#{label}")


@lru_cache(maxsize=4)
def _load_samples_cached(directory: Path) -> tuple[WireSample, ...]:
    samples: list[WireSample] = []
    for path in sorted(directory.glob("*.txt")):
        samples.extend(parse_sample_file(path.name, path.read_text(encoding="utf-8")))
    return tuple(samples)


# ---------------------------------------------------------------- parsing ---


@dataclass
class _Section:
    title: str
    comment_lines: list[str]
    body_lines: list[str]


def split_sections(text: str) -> tuple[list[str], list[_Section]]:
    """(file header lines, sections). `#` lines inside a section are its own notes."""
    header: list[str] = []
    sections: list[_Section] = []
    for line in text.splitlines(keepends=True):
        marker = _SECTION_MARKER.match(line.rstrip("\r\n"))
        if marker:
            sections.append(_Section(marker.group("title"), [], []))
        elif not sections:
            header.append(line.rstrip("\r\n"))
        elif line.startswith("#"):
            sections[-1].comment_lines.append(line.rstrip("\r\n"))
        else:
            sections[-1].body_lines.append(line)
    return header, sections


def section_label(title: str, position: int) -> str:
    letter = _SECTION_LETTER.match(title)
    if letter:
        return letter.group("letter")
    if title.upper().startswith("SECOND RECORDING"):
        return "second"
    return "main" if position == 0 else f"section{position + 1}"


def parse_sample_file(file_name: str, text: str) -> list[WireSample]:
    header, sections = split_sections(text)
    header_text = "\n".join(header)
    file_is_fragments = _FILE_IS_FRAGMENTS_HINT in header_text
    is_error_file = file_name.startswith("provider-error-bodies")
    samples: list[WireSample] = []
    for position, section in enumerate(sections):
        raw_text = "".join(section.body_lines)
        if not raw_text.strip():
            continue  # e.g. documented-headers-only blocks; their text stays in notes
        # A second recording carries its own SOURCE/NOTE lines and a title
        # that does not repeat the file header's framing hints.
        own_notes = "\n".join(section.comment_lines)
        stripped_prefixes = any(h in header_text or h in section.title or h in own_notes for h in _STRIPPED_PREFIX_HINTS)
        samples.append(
            _build_sample(
                file_name=file_name,
                label=section_label(section.title, position),
                title=section.title,
                raw_text=raw_text,
                notes="\n".join(filter(None, [header_text, f"# ---- {section.title} ----", own_notes])),
                stripped_prefixes=stripped_prefixes,
                declared_fragment=file_is_fragments or _title_says_fragment(section.title),
                is_error_file=is_error_file,
            )
        )
    return samples


def _title_says_fragment(title: str) -> bool:
    lowered = title.lower()
    return any(word in lowered for word in _FRAGMENT_TITLE_WORDS)


def _build_sample(
    *,
    file_name: str,
    label: str,
    title: str,
    raw_text: str,
    notes: str,
    stripped_prefixes: bool,
    declared_fragment: bool,
    is_error_file: bool,
) -> WireSample:
    status = status_in_title(title)
    if is_error_file:
        return WireSample(
            file=file_name, label=label, title=title, dialect="error_bodies",
            body=raw_text.strip("\n").encode(), raw_text=raw_text,
            complete=not declared_fragment, is_stream=False,
            parseable=all(try_json(line) is not None for line in raw_text.splitlines() if line.strip()),
            status=status or 400, notes=notes,
        )  # fmt: skip

    body, normalisations, is_stream = _wire_body(raw_text, stripped_prefixes)
    dialect = _detect_dialect(body, is_stream, status)
    if is_stream:
        payloads = [payload for _, payload in sse_events(body)]
        parseable = bool(payloads) and all(p == "[DONE]" or try_json(p) is not None for p in payloads)
    else:
        parseable = try_json(body.decode()) is not None
    complete = parseable and not declared_fragment and (not is_stream or _stream_has_ending(body, dialect))
    return WireSample(
        file=file_name, label=label, title=title, dialect=dialect, body=body, raw_text=raw_text,
        complete=complete, is_stream=is_stream, parseable=parseable, status=status or 200, notes=notes,
        normalisations=tuple(normalisations),
        no_done_reason=_no_done_reason(body, dialect, is_stream, complete),
    )  # fmt: skip


def _wire_body(raw_text: str, stripped_prefixes: bool) -> tuple[bytes, list[str], bool]:
    """Rebuild the on-the-wire bytes of a section: (body, what changed, is SSE)."""
    lines = [line.rstrip("\r\n") for line in raw_text.splitlines()]
    content = [line for line in lines if line.strip()]
    looks_like_sse = any(line.startswith(("data:", "event:", ":")) for line in content)
    if looks_like_sse:
        return _normalise_sse(raw_text)
    if content and all(try_json(line) is not None for line in content):
        # One JSON chunk per line: either a fixture format that stripped the
        # framing, or a single quoted chunk. Either way the wire had `data: `.
        events = "".join(f"data: {line}\n\n" for line in content)
        if stripped_prefixes:
            return (events + "data: [DONE]\n\n").encode(), ["re-added `data: ` framing and final `data: [DONE]` (fixture format stripped them)"], True
        if len(content) == 1 and _looks_like_chunk(content[0]):
            return events.encode(), ["wrapped the quoted chunk as an SSE `data:` event"], True
        return raw_text.strip("\n").encode(), [], False
    compact = "".join(line.strip() for line in content)
    if try_json(compact) is not None:
        # Line-wrapped by whoever quoted it; the wire had it on one line.
        if _looks_like_chunk(compact):
            return f"data: {compact}\n\n".encode(), ["joined the author's line-wrapping into one `data:` line"], True
        return compact.encode(), ["joined the author's line-wrapping"], False
    return raw_text.encode(), [], False


def _normalise_sse(raw_text: str) -> tuple[bytes, list[str], bool]:
    """Keep a verbatim SSE body; only repair what a quoting author lost."""
    normalisations: list[str] = []
    lines = raw_text.splitlines(keepends=True)
    rebuilt: list[str] = []
    for index, line in enumerate(lines):
        rebuilt.append(line)
        following = lines[index + 1] if index + 1 < len(lines) else ""
        # Two self-contained JSON `data:` lines back to back would be one event
        # with invalid joined data; published curl output dropped the blank line.
        if _is_whole_json_data_line(line) and _is_whole_json_data_line(following):
            rebuilt.append("\n")
            if not normalisations:
                normalisations.append("restored the blank line between events that the quoted output dropped")
    text = "".join(rebuilt)
    if not text.endswith("\n\n"):
        text = text.rstrip("\n") + "\n\n"
        normalisations.append("terminated the last event with a blank line")
    return text.encode(), normalisations, True


def _is_whole_json_data_line(line: str) -> bool:
    return line.startswith("data:") and try_json(line[len("data:") :].strip()) is not None


def _looks_like_chunk(text: str) -> bool:
    """A streamed chat chunk (has `delta`s), as opposed to a whole non-stream body."""
    parsed = try_json(text)
    if not isinstance(parsed, dict):
        return False
    if parsed.get("object") == "chat.completion.chunk":
        return True
    choices = parsed.get("choices")
    return isinstance(choices, list) and any(isinstance(choice, dict) and "delta" in choice for choice in choices)


def _detect_dialect(body: bytes, is_stream: bool, status: int | None) -> Dialect:
    if is_stream:
        event_names = [name for name, _ in sse_events(body) if name]
        if any(name.startswith("response.") for name in event_names):
            return "responses"
        if event_names:
            return "anthropic"
        return "openai_chat"
    parsed = try_json(body.decode())
    if status and status >= 400 or (isinstance(parsed, dict) and "error" in parsed and "choices" not in parsed):
        return "error_bodies"
    return "openai_chat"


def _stream_has_ending(body: bytes, dialect: Dialect) -> bool:
    """Did the recorded stream end, normally or by an explicit error frame?"""
    events = sse_events(body)
    if not events:
        return False
    last_name, last_data = events[-1]
    names = {name for name, _ in events}
    if dialect == "anthropic":
        return "message_stop" in names or last_name == "error"
    if dialect == "responses":
        return bool(names & {"response.completed", "response.failed", "response.incomplete", "error"})
    last_json = try_json(last_data)
    return last_data == "[DONE]" or (isinstance(last_json, dict) and "error" in last_json and not last_json.get("choices"))


def _no_done_reason(body: bytes, dialect: Dialect, is_stream: bool, complete: bool) -> str | None:
    if dialect != "openai_chat" or body.rstrip(b"\r\n").endswith(b"data: [DONE]"):
        return None
    if not complete:
        return "fragment: not a whole stream"
    if not is_stream:
        return "non-streaming JSON body"
    return "stream ends with an in-stream error frame; the provider sends no [DONE] after it"


def status_in_title(title: str) -> int | None:
    match = re.search(r"\b([1-5]\d\d)s?\b", title)
    return int(match.group(1)) if match else None


def try_json(text: str) -> Any | None:
    try:
        return json.loads(text)
    except ValueError:
        return None


def provider_error_bodies(directory: Path | None = None) -> list[ProviderErrorBody]:
    """Individual error bodies (provider, status, body) from provider-error-bodies-429-400.txt."""
    # Imported here because error_bodies builds on this module's section parser.
    from tests.support.error_bodies import load_provider_error_bodies

    base = directory if directory is not None else require_shared() / "wire-samples"
    return load_provider_error_bodies(base)
