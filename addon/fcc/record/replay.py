"""Replay mode (`--set fcc_replay=recordings/NAME`): the engine's upstream calls
are answered from a recording instead of the network.

An httpx transport (`ReplayTransport`) is plugged into `upstream.client_for`, so
everything above it (admission, retry, translation, streaming) runs for real.
A request is matched to a recorded attempt by a stable key: the URL path plus
a hash of the upstream JSON body, scrubbed the way recordings are and with
volatile fields removed. When no key matches, the next unused attempt for the
same path is taken (a session replays in order). When nothing is left, the
answer is an HTTP 400 naming the recording -- never a hang.

The client-visible message id is taken from the matching recorded exchange,
so a replay is byte-identical to the recorded session. Timing is the recorded
one (`fcc_replay_speed=original`, chunk by chunk) or none (`fast`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from fcc.engine import upstream
from fcc.record.recording import Scrubber, decode_body, decode_chunks, load_document, recording_files

log = logging.getLogger("fcc")

SPEEDS = ("original", "fast")
# Fields that change between runs of the same conversation, or that recordings scrub.
VOLATILE_FIELDS = frozenset({"metadata", "user", "prompt_cache_key", "safety_identifier", "session_id", "stream_options"})
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "content-encoding", "connection", "keep-alive"})

ACTIVE: Cassette | None = None  # set by the addon's configure; survives a reload of the entry script


def body_key(body: bytes | Any) -> str:
    """Hash of a JSON body, normalised: scrubbed, volatile fields removed, keys sorted."""
    if isinstance(body, (bytes, bytearray)):
        try:
            value: Any = json.loads(body) if body.strip() else None
        except ValueError:
            return "raw:" + hashlib.sha256(bytes(body)).hexdigest()[:16]
    else:
        value = body
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if k not in VOLATILE_FIELDS}
    value = Scrubber().json(value)
    canonical = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def url_path(url: str) -> str:
    return urllib.parse.urlsplit(url).path or "/"


@dataclass
class RecordedAttempt:
    source: str
    number: int  # 1-based within its exchange
    target: str
    path: str
    key: str
    status: int | None
    headers: dict[str, str]
    chunks: list[tuple[float, bytes]]
    error: str | None
    used: bool = False


@dataclass
class RecordedExchange:
    source: str
    key: str
    message_id: str | None
    attempts: list[RecordedAttempt] = field(default_factory=list)
    used: bool = False


class Cassette:
    """A recording directory (or one exchange file), indexed for matching."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.exchanges: list[RecordedExchange] = []
        self.attempts: list[RecordedAttempt] = []
        files = recording_files(path) if path.exists() else []
        if not files:
            raise ValueError(f"{path}: no recordings (NNNN-*.yaml files) found")
        for file in files:
            doc = load_document(file)
            client = doc.get("client_request") or {}
            exchange = RecordedExchange(file.name, body_key(decode_body(client.get("body"))), doc.get("message_id"))
            for number, attempt in enumerate(doc.get("attempts") or [], 1):
                request = attempt.get("request") or {}
                response = attempt.get("response")
                recorded = RecordedAttempt(
                    source=file.name,
                    number=number,
                    target=str(attempt.get("target") or ""),
                    path=url_path(str(request.get("url") or "")),
                    key=body_key(decode_body(request.get("body"))),
                    status=int(response["status"]) if response else None,
                    headers=dict((response or {}).get("headers") or {}),
                    chunks=decode_chunks((response or {}).get("chunks")),
                    error=attempt.get("error"),
                )
                exchange.attempts.append(recorded)
                self.attempts.append(recorded)
            self.exchanges.append(exchange)

    def __len__(self) -> int:
        return len(self.exchanges)

    def message_id_for(self, client_body: bytes | None) -> str | None:
        """The recorded message id of the exchange this client request replays."""
        candidates = [e for e in self.exchanges if not e.used and e.message_id]
        key = body_key(client_body or b"")
        chosen = next((e for e in candidates if e.key == key), None) or (candidates[0] if candidates else None)
        if chosen is None:
            return None
        chosen.used = True
        return chosen.message_id

    def match(self, path: str, body: bytes) -> RecordedAttempt | None:
        key = body_key(body)
        unused = [a for a in self.attempts if not a.used and a.path == path]
        chosen = next((a for a in unused if a.key == key), None) or (unused[0] if unused else None)
        if chosen is not None:
            chosen.used = True
        return chosen

    def describe_miss(self, path: str, body: bytes) -> str:
        left = sum(1 for a in self.attempts if not a.used)
        return (
            f"fcc replay: no recorded upstream answer left for POST {path} (body key {body_key(body)}) "
            f"in {self.path} ({len(self.attempts)} recorded attempts, {left} unused). "
            "Record the session again with --set fcc_record=DIR."
        )


_ENGINE_ERROR = re.compile(r"^(?:connection lost mid-stream: )?(\w+): (.*)$", re.S)


def recorded_failure(error: str) -> BaseException:
    """The exception that makes the engine describe a failure exactly as it was recorded.

    The engine words them "no response within N s" / "upstream went silent for N s"
    (its own timeouts) and "[connection lost mid-stream: ]<httpx error type>: <message>".
    """
    if error.startswith(("no response within", "upstream went silent")):
        return TimeoutError()
    match = _ENGINE_ERROR.match(error)
    if match:
        kind = getattr(httpx, match.group(1), None)
        if isinstance(kind, type) and issubclass(kind, httpx.HTTPError):
            return kind(match.group(2))
    return httpx.RemoteProtocolError(f"replayed failure: {error}")


class _RecordedStream(httpx.AsyncByteStream):
    def __init__(self, attempt: RecordedAttempt, speed: str, started: float) -> None:
        self._attempt = attempt
        self._speed = speed
        self._started = started

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for at, data in self._attempt.chunks:
            if self._speed == "original":
                delay = self._started + at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            if data:
                yield data
        error = self._attempt.error
        if error and self._attempt.status == 200:
            # The recorded stream broke here; break the replay the same way.
            raise recorded_failure(error)


class ReplayTransport(httpx.AsyncBaseTransport):
    """Answers every request from the cassette; never touches the network."""

    def __init__(self, cassette: Cassette, speed: str = "original") -> None:
        if speed not in SPEEDS:
            raise ValueError(f"replay speed must be one of {', '.join(SPEEDS)}")
        self.cassette = cassette
        self.speed = speed

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        started = time.monotonic()
        body = await request.aread()
        path = request.url.path
        attempt = self.cassette.match(path, body)
        if attempt is None:
            message = self.cassette.describe_miss(path, body)
            log.warning("%s", message)
            payload = json.dumps({"error": {"message": message, "type": "invalid_request_error", "code": "fcc_replay_miss"}})
            return httpx.Response(
                400,
                headers={"content-type": "application/json", "x-should-retry": "false"},
                stream=httpx.ByteStream(payload.encode()),  # a stream: the engine reads it with aiter_raw
                request=request,
            )
        if attempt.status is None:
            # No answer was recorded: the connection itself failed.
            raise recorded_failure(attempt.error or "ConnectError: no response was recorded")
        headers = [(k, v) for k, v in attempt.headers.items() if k.lower() not in _FRAMING_HEADERS]
        return httpx.Response(
            attempt.status,
            headers=headers,
            stream=_RecordedStream(attempt, self.speed, started),
            request=request,
        )


def load(path: Path, speed: str) -> ReplayTransport:
    return ReplayTransport(Cassette(path), speed)


def recorded_message_id(client_body: bytes | None) -> str | None:
    """Replay mode: the message id the answer to this request had when it was recorded."""
    if ACTIVE is None:
        return None
    return ACTIVE.message_id_for(client_body) or None


def routes_file(value: str) -> str:
    """The routes.yaml a recording carries, used when fcc_config is not set."""
    if not value.strip():
        return ""
    path = Path(value.strip()).expanduser()
    directory = path if path.is_dir() else path.parent
    candidate = directory / "routes.yaml"
    return str(candidate) if candidate.is_file() else ""


def configure(options, updated: set[str]) -> None:
    """Validate `fcc_replay` / `fcc_replay_speed` and plug the replay transport in (or out).
    Raises ValueError with one clear line."""
    global ACTIVE
    if "fcc_replay_speed" in updated and options.fcc_replay_speed not in SPEEDS:
        raise ValueError(f"fcc_replay_speed: expected one of {', '.join(SPEEDS)}, got {options.fcc_replay_speed!r}")
    if not updated & {"fcc_replay", "fcc_replay_speed"}:
        return
    value = options.fcc_replay.strip()
    if not value:
        ACTIVE = None
        upstream.use_transport(None)
        return
    path = Path(value).expanduser()
    if not path.exists():
        raise ValueError(f"fcc_replay: {value!r} does not exist")
    try:
        transport = load(path, options.fcc_replay_speed)
    except Exception as exc:  # unreadable YAML, a foreign file: one line, then mitmdump exits
        raise ValueError(f"fcc_replay: {' '.join(str(exc).split())}") from None
    ACTIVE = transport.cassette
    upstream.use_transport(transport)
    log.info("fcc: replaying %d recorded exchanges from %s (%s speed); no upstream is contacted",
             len(transport.cassette), path, options.fcc_replay_speed)
