"""Record mode (`--set fcc_record=recordings/NAME`): every exchange fcc handles
becomes one readable YAML file, with secrets scrubbed before anything is written.

One file per client request, `NNNN-<kind>-<status>.yaml`:

    fcc_recording: 1
    recorded_at: 2026-11-21T18:31:54Z
    message_id: msg_...            # the id fcc gave the answer (replay reuses it)
    handled: engine                # engine (routed) | local (answered by fcc) | passthrough (no route)
    summary: {...}                 # the one-line log as data: route, status, usage, cost
    client_request:  {method, path, headers, body}
    attempts:                      # one per upstream try, in order
      - target: vllm/qwen3
        request:  {method, url, headers, body}
        response: {status, headers, chunks: [{t: 0.0123, text: "..."}]}   # t: seconds since the attempt began
        error: null
    client_response: {status, headers, body}

A body is `{json: <value>}` when it is JSON, `{text: "..."}` when it is UTF-8,
else `{base64: "..."}`; a chunk is `{t, text}` or `{t, base64}`. The exact
bytes of a JSON request body are not kept (replay re-encodes it); response
bytes are kept exactly. The same directory gets a scrubbed copy of the
routes.yaml in use, so `--set fcc_replay=recordings/NAME` finds its routes.

Scrubbed: credential headers (authorization, x-api-key, cookies, ...),
`metadata.user_id`, the values of credential-looking environment variables and
of the client's own token wherever they occur, and every string that looks
like a key (`fcc.core.credentials.redact`).
"""

from __future__ import annotations

import base64
import datetime
import json
import logging
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from fcc.core.catalog import CATALOG
from fcc.core.credentials import CREDENTIAL_HEADERS, MASKED, REDACTED, TOKEN_HEADERS, bearer_token, redact
from fcc.record.copying import CopyingStream
from fcc.engine.records import RequestRecord, Trace

log = logging.getLogger("fcc")

FORMAT_VERSION = 1
ROUTES_COPY = "routes.yaml"
_SECRET_ENV = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)$", re.IGNORECASE)
_FILE_NAME = re.compile(r"^(\d{4,})-.*\.ya?ml$")
MIN_SECRET_LENGTH = 8  # shorter values (e.g. ANTHROPIC_AUTH_TOKEN=dummy) would mangle ordinary words

ACTIVE: Recorder | None = None  # set by the addon's configure; survives a reload of the entry script


# ------------------------------------------------------------------ scrubbing
def environment_secrets(environ: Mapping[str, str] | None = None, key_names: Iterable[str] = ()) -> set[str]:
    """Values of environment variables that hold credentials: every catalog and configured
    provider key variable, and anything named like *_KEY / *_TOKEN / *_SECRET."""
    env = os.environ if environ is None else environ
    names = {p.api_key_env for p in CATALOG.values() if p.api_key_env} | set(key_names)
    names |= {name for name in env if _SECRET_ENV.search(name)}
    return {env[name].strip() for name in names if env.get(name, "").strip()}


class Scrubber:
    """Removes credentials from headers, JSON and text. Deterministic, so scrubbed
    recordings and live requests normalise to the same match keys."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        unique = {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}
        self.secrets = tuple(sorted(unique, key=len, reverse=True))

    def with_secrets(self, extra: Iterable[str]) -> Scrubber:
        return Scrubber((*self.secrets, *extra))

    def text(self, value: str) -> str:
        return redact(value, self.secrets)

    def headers(self, items: Iterable[tuple[str, str]]) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, value in items:
            lowered = name.lower()
            value = REDACTED if lowered in CREDENTIAL_HEADERS and value != MASKED else self.text(value)
            out[lowered] = f"{out[lowered]}, {value}" if lowered in out else value
        return out

    def json(self, value: Any, key: str | None = None, parent: str | None = None) -> Any:
        if isinstance(value, dict):
            return {k: self.json(v, k, key) for k, v in value.items()}
        if isinstance(value, list):
            return [self.json(v, None, key) for v in value]
        if isinstance(value, str):
            if key == "user_id" and parent == "metadata":
                return REDACTED
            return self.text(value)
        return value

    def body(self, data: bytes | None, *, as_json: bool = True) -> dict | None:
        if data is None:
            return None
        if as_json and data.strip()[:1] in (b"{", b"["):
            try:
                return {"json": self.json(json.loads(data))}
            except ValueError:
                pass
        return encode_bytes(data, self)

    def chunks(self, parts: list[tuple[float, bytes]]) -> list[dict]:
        """Timed response pieces, each scrubbed. A secret split across two pieces
        is caught on the joined body; then the body is kept as one piece."""
        joined = b"".join(data for _, data in parts)
        scrubbed = [(t, _scrub_bytes(data, self)) for t, data in parts]
        rejoined = b"".join(data for _, data in scrubbed)
        if _scrub_bytes(rejoined, self) != rejoined:
            last = parts[-1][0] if parts else 0.0
            scrubbed = [(last, _scrub_bytes(joined, self))]
        return [{"t": round(t, 4), **encode_bytes(data)} for t, data in scrubbed]


def _scrub_bytes(data: bytes, scrubber: Scrubber) -> bytes:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data  # binary pieces (a UTF-8 sequence cut by the network) are checked on the joined body
    cleaned = scrubber.text(text)
    return data if cleaned == text else cleaned.encode("utf-8")


def encode_bytes(data: bytes, scrubber: Scrubber | None = None) -> dict:
    """{text: str} for UTF-8, {base64: str} otherwise (exact bytes either way)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}
    return {"text": scrubber.text(text) if scrubber else text}


def decode_body(body: Mapping[str, Any] | None) -> bytes:
    """The bytes a recorded body stands for (JSON re-encoded compactly)."""
    if not body:
        return b""
    if "json" in body:
        return json.dumps(body["json"], ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if "text" in body:
        return str(body["text"]).encode("utf-8")
    if "base64" in body:
        return base64.b64decode(body["base64"])
    return b""


def decode_chunks(chunks: Iterable[Mapping[str, Any]] | None) -> list[tuple[float, bytes]]:
    return [(float(c.get("t") or 0.0), decode_body(c)) for c in (chunks or ())]


# ------------------------------------------------------------------- YAML I/O
class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    pass


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Multi-line text (SSE bodies, prompts) as literal blocks; PyYAML falls back to a
    # quoted scalar whenever a block would not round-trip exactly.
    style = "|" if "\n" in value and len(value) < 1_000_000 else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def dump_document(doc: Mapping[str, Any]) -> str:
    return yaml.dump(dict(doc), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)


def load_document(path: Path) -> dict:
    with open(path, encoding="utf-8") as handle:
        doc = yaml.load(handle, Loader=_Loader)
    if not isinstance(doc, dict) or doc.get("fcc_recording") != FORMAT_VERSION:
        raise ValueError(f"{path}: not an fcc recording (version {FORMAT_VERSION})")
    return doc


def recording_files(path: Path) -> list[Path]:
    """The exchange files of a recording directory (or the one file given), in order."""
    if path.is_file():
        return [path]
    return sorted(p for p in path.iterdir() if p.is_file() and _FILE_NAME.match(p.name))


# ---------------------------------------------------------------- the record
def snapshot_request(flow) -> dict:
    """The client's request as it arrived (taken before the addon rewrites it). Kept in the
    addon's per-flow state, never in flow.metadata; scrubbed when the exchange is written."""
    request = flow.request
    return {
        "method": request.method,
        "path": request.path,
        "http_version": request.http_version,
        "headers": list(request.headers.items(multi=True)),
        "body": request.raw_content,
    }


def exchange_document(
    flow,
    scrubber: Scrubber,
    client_request: dict | None = None,
    request: RequestRecord | None = None,
    trace: Trace | None = None,
) -> dict:
    client = client_request or snapshot_request(flow)
    tokens = []
    for name, value in client["headers"]:
        if name.lower() in TOKEN_HEADERS:
            tokens.append(bearer_token(value))
    scrub = scrubber.with_secrets(tokens)
    if request is not None:
        handled = "engine"
    elif flow.server_conn is not None and flow.server_conn.timestamp_start:
        handled = "passthrough"  # no route: the request went to the reverse target as it was
    else:
        handled = "local"  # answered by fcc itself (count_tokens, models, a request error)
    doc: dict[str, Any] = {
        "fcc_recording": FORMAT_VERSION,
        "recorded_at": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "message_id": request.message_id if request is not None else None,
        "handled": handled,
        "user": flow.metadata.get("fcc_user"),  # the name only: tokens are never recorded
        "summary": scrub.json(_plain(flow.metadata.get("fcc_summary"))),
        "client_request": {
            "method": client["method"],
            "path": client["path"],
            "headers": scrub.headers(client["headers"]),
            "body": scrub.body(client["body"]),
        },
        "attempts": [_attempt_document(a, scrub) for a in (trace.attempts if trace is not None else [])],
        "client_response": None,
    }
    response = flow.response
    if response is not None:
        body = response.raw_content
        if body is None and isinstance(response.stream, CopyingStream):
            body = response.stream.copy()
        doc["client_response"] = {
            "status": response.status_code,
            "headers": scrub.headers(response.headers.items(multi=True)),
            # Exact bytes (never re-encoded JSON): replay output is compared byte for byte.
            "body": scrub.body(body, as_json=False),
        }
    if flow.error is not None:
        doc["client_error"] = scrub.text(flow.error.msg)
    return doc


def _attempt_document(attempt, scrub: Scrubber) -> dict:
    raw = bytes(attempt.raw)
    parts: list[tuple[float, bytes]] = []
    offset = 0
    for t, size in attempt.chunk_times:
        if offset >= len(raw):
            break
        parts.append((t, raw[offset : offset + size]))
        offset += size
    if offset < len(raw):  # an error body is read without chunk timing
        parts.append((parts[-1][0] if parts else 0.0, raw[offset:]))
    complete = sum(size for _, size in attempt.chunk_times) <= len(raw) or not attempt.chunk_times
    return {
        "target": attempt.target,
        "request": {
            "method": "POST",
            "url": scrub.text(attempt.url),
            "headers": scrub.headers(attempt.request_headers.items()),
            "body": scrub.body(bytes(attempt.request_body)),
        },
        "response": None
        if attempt.status is None
        else {
            "status": attempt.status,
            "headers": scrub.headers(attempt.response_headers.items()),
            "chunks": scrub.chunks(parts),
            **({} if complete else {"truncated": True}),
        },
        "error": scrub.text(attempt.error) if attempt.error else None,
    }


def _plain(value: Any) -> Any:
    """JSON-safe copy (metadata may hold tuples or other odd types)."""
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return None


class Recorder:
    """Writes one file per exchange into `directory`, numbering after any files already there."""

    def __init__(self, directory: Path, environ: Mapping[str, str] | None = None, key_names: Iterable[str] = ()) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        existing = [int(m.group(1)) for p in directory.iterdir() if (m := _FILE_NAME.match(p.name))]
        self._next = max(existing, default=0) + 1
        self.scrubber = Scrubber(environment_secrets(environ, key_names))

    def copy_routes(self, source: str) -> None:
        """A scrubbed copy of the routes file, so a replay can use the same routes."""
        path = Path(source)
        target = self.directory / ROUTES_COPY
        if target.exists() or not path.is_file():
            return
        target.write_text(self.scrubber.text(path.read_text(encoding="utf-8")), encoding="utf-8")

    def record(
        self,
        flow,
        client_request: dict | None = None,
        request: RequestRecord | None = None,
        trace: Trace | None = None,
    ) -> Path | None:
        if flow.metadata.get("fcc_recorded"):
            return None
        flow.metadata["fcc_recorded"] = True
        try:
            doc = exchange_document(flow, self.scrubber, client_request, request, trace)
            number = self._next
            self._next += 1
            path = self.directory / f"{number:04d}-{_kind(flow, request)}-{_status(doc)}.yaml"
            temporary = path.with_suffix(".tmp")
            temporary.write_text(dump_document(doc), encoding="utf-8")
            temporary.replace(path)
            return path
        except Exception:  # recording is a side job; never fail a request over it
            log.exception("fcc: could not record %s", flow.request.path)
            return None


def _kind(flow, request: RequestRecord | None) -> str:
    if request is not None:
        return re.sub(r"[^a-z0-9_]+", "_", str(request.request_class).lower()) or "messages"
    original = str(flow.metadata.get("fcc_original_url") or flow.request.path)
    tail = original.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return re.sub(r"[^a-z0-9_]+", "_", tail.lower()) or "request"


def _status(doc: Mapping[str, Any]) -> str:
    response = doc.get("client_response")
    return str(response["status"]) if response else "error"


def record(
    flow,
    client_request: dict | None = None,
    request: RequestRecord | None = None,
    trace: Trace | None = None,
) -> None:
    """The addon's hook: write the exchange when record mode is on."""
    if ACTIVE is not None and "fcc_original_url" in flow.metadata:
        ACTIVE.record(flow, client_request, request, trace)


def configure(options, updated: set[str], config) -> None:
    """Validate `fcc_record` and start (or stop) recording. Raises ValueError with one clear line."""
    global ACTIVE
    if "fcc_record" not in updated and not (ACTIVE is not None and "fcc_config" in updated):
        return
    value = options.fcc_record.strip()
    if not value:
        ACTIVE = None
        return
    directory = Path(value).expanduser()
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"fcc_record: {value!r} exists and is not a directory")
    replaying = getattr(options, "fcc_replay", "").strip()
    if replaying and Path(replaying).expanduser().resolve() == directory.resolve():
        raise ValueError("fcc_record: cannot record into the directory being replayed")
    try:
        key_names = [p.api_key_env for p in config.providers.values() if p.api_key_env] if config else []
        recorder = Recorder(directory, key_names=key_names)
        recorder.copy_routes(config.source if config else "")
    except OSError as exc:
        raise ValueError(f"fcc_record: cannot write to {value!r}: {exc.strerror or exc}") from None
    ACTIVE = recorder
    log.info("fcc: recording every exchange into %s", directory)
