"""Loader for the real Claude Code request captures in ../shared/claude-code/captures.

Each `.jsonl` file holds one JSON object per request the Claude Code CLI sent
(method, path, headers as an ordered list of pairs, parsed body). Bodies that
the research tooling replaced with `{"_research_identical_to_seq": N}` are
resolved back to the body they duplicate, so every record carries a real body.

The captures are not shipped with the repository: `captures_dir()` skips a
test locally and fails it under CI (see wire_samples.require_shared).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.support.wire_samples import MISSING_SHARED_REASON, require_shared, shared_dir

CAPTURES_SUBDIR = Path("claude-code") / "captures"
MISSING_CAPTURES_REASON = "../shared/claude-code/captures not found: captures are not shipped with the repo"


@dataclass(frozen=True)
class CapturedRequest:
    file: str
    seq: int | None
    method: str
    path: str
    headers: dict[str, str]  # lowercased names, as the addon hands them to classify()
    body: Any

    @property
    def endpoint(self) -> str:
        return self.path.split("?", 1)[0]

    @property
    def is_messages(self) -> bool:
        return self.method == "POST" and self.endpoint == "/v1/messages" and isinstance(self.body, dict)

    @property
    def is_count_tokens(self) -> bool:
        return self.method == "POST" and self.endpoint == "/v1/messages/count_tokens" and isinstance(self.body, dict)

    @property
    def raw(self) -> bytes:
        """The body as the bytes the client sent (re-serialised)."""
        return json.dumps(self.body).encode()


def captures_dir() -> Path:
    shared = require_shared()
    directory = shared / CAPTURES_SUBDIR
    if directory.is_dir():
        return directory
    if os.environ.get("CI"):
        pytest.fail(MISSING_CAPTURES_REASON, pytrace=False)
    pytest.skip(MISSING_CAPTURES_REASON)


def _optional_dir() -> Path | None:
    shared = shared_dir()
    if shared is None or not (shared / CAPTURES_SUBDIR).is_dir():
        return None
    return shared / CAPTURES_SUBDIR


def capture_file_params() -> list[Any]:
    """One pytest.param per capture file, usable at collection time.

    Without the captures: one placeholder, skipped locally; under CI it runs
    and fails on first use (a collection error would hide the other results).
    """
    directory = _optional_dir()
    if directory is None:
        marks = () if os.environ.get("CI") else (pytest.mark.skip(reason=MISSING_SHARED_REASON),)
        return [pytest.param("<captures missing>", id="captures-missing", marks=marks)]
    return [pytest.param(path.name, id=path.stem) for path in sorted(directory.glob("*.jsonl"))]


def load_capture(name: str) -> list[CapturedRequest]:
    directory = captures_dir()
    if name == "<captures missing>":
        pytest.fail(MISSING_CAPTURES_REASON, pytrace=False)
    if not name.endswith(".jsonl"):
        name += ".jsonl"
    return list(_load(directory.resolve() / name))


@cache
def _load(path: Path) -> tuple[CapturedRequest, ...]:
    records: list[CapturedRequest] = []
    bodies_by_seq: dict[Any, Any] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        body = record.get("body")
        if isinstance(body, dict) and set(body) == {"_research_identical_to_seq"}:
            body = bodies_by_seq.get(body["_research_identical_to_seq"], body)
        bodies_by_seq[record.get("seq")] = body
        raw_headers = record.get("headers") or []
        pairs = raw_headers.items() if isinstance(raw_headers, dict) else raw_headers
        records.append(
            CapturedRequest(
                file=path.name,
                seq=record.get("seq"),
                method=str(record.get("method") or ""),
                path=str(record.get("path") or ""),
                headers={str(name).lower(): str(value) for name, value in pairs},
                body=body,
            )
        )
    return tuple(records)


def message_requests(name: str) -> list[CapturedRequest]:
    """Every POST /v1/messages of a capture file, in the order sent."""
    return [record for record in load_capture(name) if record.is_messages]


def count_tokens_requests(name: str) -> list[CapturedRequest]:
    return [record for record in load_capture(name) if record.is_count_tokens]
