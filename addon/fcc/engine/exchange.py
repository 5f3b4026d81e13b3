"""The upstream exchange: admission, send, retry or fall back before commit,
translate incrementally, and stream the Anthropic answer to the client.

"Commit" is the first content block reaching the client. Until then a failed
attempt (429, 5xx, refused connection, timeout, an early cut or an in-stream
error) is retried or moved to the next fallback without the client seeing
anything but a delay, and `ping` events keep a streaming client's watchdog
fed while it waits. After commit a failure becomes one final `event: error`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

import httpx

from fcc.engine import admission
from fcc.config import Target
from fcc.core.dialects.client_writers import AnthropicClientWriter, ClientWriter, ResponsesClientWriter
from fcc.core.events import (
    MessageAccumulator,
    message_start_event,
)
from fcc.core.credentials import masked_headers, redact, redact_bytes
from fcc.core.errors import STATUS_BY_ERROR_TYPE, AnthropicError, make_error, map_upstream_error, parse_retry_after
from fcc.core.dialects.base import StreamReader, StreamSetup
from fcc.core.dialects.readers import reader_for
from fcc.engine.records import Attempt, RequestRecord, Trace
from fcc.engine.sidecar import ResponseWriter
from fcc.engine.upstream import build_request, client_for
from fcc.engine.watchdog import IdleWatchdog

log = logging.getLogger("fcc")

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})
MAX_ATTEMPTS = 4  # across all targets of one request
KEEPALIVE_AFTER = 4.0  # a streaming client hears message_start + pings after this long
PING_EVERY = 10.0
MAX_RETRY_WAIT = 30.0  # longer provider waits move on to the fallback or give up
# Answer (success or a clear error) before Claude Code's own 300 s watchdog fires.
REQUEST_DEADLINE = 270.0
ERROR_BODY_LIMIT = 64 * 1024
TRACE_LIMIT = 2 * 1024 * 1024
SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}


def client_writer(record: RequestRecord) -> ClientWriter:
    """How this request's answer is encoded for its client."""
    if record.responses is not None:
        return ResponsesClientWriter(record.route.client_model, record.responses, "resp_" + record.message_id[4:])
    return AnthropicClientWriter()


class _Failure(Exception):
    def __init__(self, error: AnthropicError, retryable: bool, cooldown: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.retryable = retryable
        self.cooldown = cooldown


class Exchange:
    """One client request against its route's targets."""

    def __init__(self, record: RequestRecord, trace: Trace, out: ResponseWriter) -> None:
        self.record = record
        self.trace = trace
        self.out = out
        self.client = client_writer(record)
        self.started_stream = False  # headers + message_start sent
        self.committed = False  # content reached the client
        self._write_lock = asyncio.Lock()
        self._last_write = time.monotonic()
        # A text-tool reader also produces events from the keepalive (held text timing out):
        # one lock keeps both producers' deliveries in production order.
        self._deliver_lock = asyncio.Lock()
        self._ordered = False
        # (reader, held, accumulator) of the attempt streaming now
        self._live: tuple[StreamReader, list[dict], MessageAccumulator | None] | None = None

    # -------------------------------------------------------------- writing
    async def _write(self, pieces: list[bytes]) -> None:
        async with self._write_lock:
            if pieces:
                await self.out.write(b"".join(pieces))  # one HTTP chunk, one socket write
            self._last_write = time.monotonic()

    async def _begin_stream(self) -> None:
        if self.started_stream:
            return
        self.started_stream = True
        self.trace.answered(200)
        async with self._write_lock:
            await self.out.start(200, {**SSE_HEADERS, "request-id": "req_" + self.record.message_id[4:]}, stream=True)
        await self._write(self.client.encode([_message_start(self.record)]))

    async def _keepalive(self) -> None:
        """Streaming clients abort after 300 s of silence; never let them hear it."""
        begin_at = time.monotonic() + KEEPALIVE_AFTER
        while True:
            await asyncio.sleep(1.0)
            # Held text (a possible tool call) has its own, shorter time bound: checked from the start.
            await self._flush_held_text()
            if not self.started_stream:
                if time.monotonic() >= begin_at and not self.committed:
                    await self._begin_stream()
                continue
            if time.monotonic() - self._last_write >= PING_EVERY:
                await self._write([self.client.ping()])

    async def _flush_held_text(self) -> None:
        """Text held back as a possible tool call is released once it has waited too long."""
        live = self._live
        if live is None or not live[0].holding:
            return
        reader, held, accumulator = live
        await self._deliver(reader.flush_pending(time.monotonic()), held, accumulator, reader)

    # ------------------------------------------------------------------ run
    async def run(self) -> None:
        keepalive = asyncio.ensure_future(self._keepalive()) if self.record.stream else None
        try:
            await self._run_attempts()
        finally:
            if keepalive is not None:
                keepalive.cancel()

    async def _run_attempts(self) -> None:
        targets = list(self.record.route.targets)
        deadline = self.trace.started + REQUEST_DEADLINE
        last: _Failure | None = None
        attempt_count = 0
        target_index = 0
        while target_index < len(targets) and attempt_count < MAX_ATTEMPTS:
            target = targets[target_index]
            cooling = admission.MODELS.cooling_for(target.slug)
            if cooling > MAX_RETRY_WAIT and target_index + 1 < len(targets):
                # This model keeps refusing; let the next target answer instead of waiting.
                last = _Failure(make_error(429, f"{target.slug} is rate-limited for {cooling:.0f} s more",
                                           retry_after=min(cooling, 60.0)), True, cooling)
                target_index += 1
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 1.0:
                break
            attempt_count += 1
            try:
                await self._attempt(target, remaining)
                self.trace.served(target.slug)
                admission.MODELS.succeeded(target.slug)
                return
            except _Failure as failure:
                last = failure
                if self.committed or not failure.retryable:
                    break
                if failure.error.status == 429:
                    admission.MODELS.rate_limited(target.slug, failure.cooldown)
                wait = _backoff(attempt_count, failure.cooldown)
                long_cooldown = failure.cooldown is not None and failure.cooldown > MAX_RETRY_WAIT
                if failure.error.status == 429 and not long_cooldown and target_index + 1 < len(targets):
                    long_cooldown = True  # a rate-limited target: let the fallback answer now
                if long_cooldown or _same_target_exhausted(attempt_count, target_index, targets):
                    target_index += 1  # move on to the fallback instead of waiting
                    wait = 0.2 if target_index < len(targets) else wait
                wait = min(wait, MAX_RETRY_WAIT)
                if time.monotonic() + wait > deadline:
                    break
                if target_index < len(targets) and attempt_count < MAX_ATTEMPTS:
                    log.info("fcc: %s failed (%s); retrying in %.1f s", target.slug, failure.error.message, wait)
                    await asyncio.sleep(wait)
        error = last.error if last else make_error(504, "fcc: no upstream answered in time", error_type="timeout_error")
        if error.status == 429 and "retry-after" not in error.headers:
            # Tell the client how long fcc's own cooldown still runs, so its retry lands after it.
            wait = max((_gate(t).wait_estimate() for t in targets), default=0.0)
            error.headers["retry-after"] = str(max(1, min(60, round(wait or 5.0))))
        if last is not None and last.retryable and error.status >= 500 and error.status != 529:
            # fcc already retried; 529 lets the client give up after 3 tries (or switch to
            # --fallback-model) instead of hammering a broken provider for three minutes.
            error = make_error(529, error.message, error_type="overloaded_error", retry_after=None)
        await self._fail(error)

    async def _fail(self, error: AnthropicError) -> None:
        self.trace.finish(f"error {error.status} {error.type}")
        if self.started_stream:
            # Headers are out: the only honest signal left is a final error event.
            await self._write(self.client.stream_error(error))
            return
        streamed = self.client.failure_stream(error) if self.record.stream else None
        if streamed is not None:  # some clients read a failure best from a stream
            await self._begin_stream()
            await self._write(streamed)
            return
        status, headers, body = self.client.error_answer(error)
        self.trace.answered(status)
        async with self._write_lock:
            await self.out.whole(status, headers, body)

    async def _attempt(self, target: Target, time_left: float) -> None:
        gate = _gate(target)
        cooling = gate.cooldown_until - time.monotonic()
        if cooling > MAX_RETRY_WAIT:
            # The provider asked for a long pause: say so now rather than hold the client silently.
            error = make_error(429, f"{target.slug}: the provider asked fcc to wait {cooling:.0f} s",
                               retry_after=cooling)
            raise _Failure(error, retryable=True, cooldown=cooling)
        try:
            async with gate.slot(max_wait=time_left) as slot:
                await self._send(target, gate, slot, time_left)
        except admission.AdmissionTimeout as exc:
            error = make_error(429, f"{target.slug}: {exc}", retry_after=min(exc.wait, 60.0))
            raise _Failure(error, retryable=True, cooldown=exc.wait) from None

    async def _send(self, target: Target, gate: admission.ProviderGate, slot: admission.Slot, time_left: float) -> None:
        profile = target.profile
        record = self.record
        request, _body, secrets = build_request(target, record.request, record.route.reasoning, record.client_headers,
                                                responses_body=record.responses.body if record.responses else None)
        attempt = self.trace.begin_attempt(
            Attempt(target.slug, str(request.url), masked_headers(request.headers), request.content)
        )
        client = client_for(target)
        try:
            first_byte_timeout = min(profile.first_byte_timeout, max(1.0, time_left))
            response = await asyncio.wait_for(client.send(request, stream=True), first_byte_timeout)
        except TimeoutError:
            attempt.error = f"no response within {first_byte_timeout:.0f} s"
            raise _Failure(make_error(529, f"{target.slug}: {attempt.error}"), retryable=True) from None
        except httpx.HTTPError as exc:
            attempt.error = redact(f"{type(exc).__name__}: {exc}", tuple(secrets))
            message = f"{target.slug} is not reachable at {profile.base_url} ({attempt.error})"
            raise _Failure(make_error(529, message), retryable=True) from None
        try:
            attempt.status = response.status_code
            attempt.response_headers = dict(response.headers)
            if response.status_code != 200:
                await self._upstream_status(target, response, attempt, gate, secrets)
            slot.settle(True)  # the provider accepted the request: it is healthy again
            await self._stream(target, response, attempt, secrets, first_byte_timeout)
        finally:
            self._live = None
            await response.aclose()

    async def _upstream_status(
        self, target: Target, response: httpx.Response, attempt: Attempt, gate: admission.ProviderGate, secrets: list[str]
    ) -> None:
        body = bytearray()
        try:
            async with asyncio.timeout(10):
                async for chunk in response.aiter_raw():
                    body += chunk
                    if len(body) > ERROR_BODY_LIMIT:
                        break
        except (TimeoutError, httpx.HTTPError):
            pass
        attempt.raw += redact_bytes(bytes(body), secrets)  # a provider may echo the key back in its error
        error = map_upstream_error(
            response.status_code, bytes(body), dict(response.headers),
            provider=target.profile.id, model=target.model, secrets=tuple(secrets),
        )
        attempt.error = error.message
        retry_after = parse_retry_after(dict(response.headers))
        if response.status_code == 429:
            gate.cool_down(retry_after if retry_after is not None else 5.0)
        retryable = response.status_code in RETRYABLE_STATUS and error.status != 400
        raise _Failure(error, retryable, retry_after)

    def _reader(self, target: Target) -> StreamReader:
        record = self.record
        # message_start is fcc's own (sent early or at commit): the reader never sends one.
        setup = StreamSetup(record.route.client_model, record.message_id, record.input_estimate, target.profile,
                            target.model, record.request, message_started=True)
        reader = reader_for(setup)
        self._ordered = reader.needs_clock
        return reader

    async def _stream(
        self, target: Target, response: httpx.Response, attempt: Attempt, secrets: list[str], first_chunk_timeout: float
    ) -> None:
        profile = target.profile
        reader = self._reader(target)
        held: list[dict] = []
        accumulator = MessageAccumulator() if not self.record.stream else None
        if accumulator is not None:
            accumulator.add([_message_start(self.record)])
        self._live = (reader, held, accumulator)
        chunks = response.aiter_raw()
        loop = asyncio.get_running_loop()
        # Some servers send headers at once and the first token only after the model loads.
        timeout = max(first_chunk_timeout, profile.idle_timeout)
        events: list[dict] = []
        try:
            # One lazy timer per stream (fcc.engine.watchdog): a chunk only stores its arrival time.
            async with IdleWatchdog(timeout) as watchdog:
                first = True
                async for chunk in chunks:
                    watchdog.last = loop.time()
                    if first:
                        first = False
                        timeout = profile.idle_timeout
                        watchdog.restart(timeout)
                    if len(attempt.raw) < TRACE_LIMIT:
                        attempt.raw += chunk
                    attempt.chunk_times.append((time.monotonic() - attempt.started, len(chunk)))
                    events = reader.feed(chunk)
                    if events:
                        watchdog.paused = True  # the timer covers upstream silence, not a slow client
                        await self._deliver(events, held, accumulator, reader)
                        watchdog.paused = False
                        watchdog.last = loop.time()
            events = reader.finish()
        except TimeoutError:
            attempt.error = f"upstream went silent for {timeout:.0f} s"
            events = reader.fail("overloaded_error", f"{target.slug}: {attempt.error}")
        except httpx.HTTPError as exc:
            attempt.error = redact(f"connection lost mid-stream: {type(exc).__name__}: {exc}", tuple(secrets))
            events = reader.fail("api_error", f"{target.slug}: {attempt.error}")
        await self._deliver(events, held, accumulator, reader, final=True)
        self.trace.add_usage(reader.usage)
        if reader.error is not None and not self.committed:
            error_type, message = reader.error
            status = STATUS_BY_ERROR_TYPE.get(error_type, 500)
            raise _Failure(make_error(status, message, error_type=error_type), retryable=status != 400)
        if accumulator is not None:
            await self._answer_json(accumulator)
        self.trace.finish("ok")

    async def _deliver(
        self, events: list[dict], held: list[dict], accumulator: MessageAccumulator | None, reader: StreamReader,
        final: bool = False,
    ) -> None:
        if not events:
            return
        if not self._ordered:
            await self._deliver_now(events, held, accumulator, reader, final)
            return
        async with self._deliver_lock:
            await self._deliver_now(events, held, accumulator, reader, final)

    async def _deliver_now(
        self, events: list[dict], held: list[dict], accumulator: MessageAccumulator | None, reader: StreamReader,
        final: bool,
    ) -> None:
        if accumulator is not None:
            accumulator.add(events)
            return
        if self.committed:
            await self._write(self.client.encode(events))
            return
        held.extend(events)
        # An error before any content is not committed: the attempt is retried instead.
        if reader.error is None and (reader.has_content or final):
            self.committed = True
            await self._begin_stream()
            await self._write(self.client.encode(held))
            held.clear()

    async def _answer_json(self, accumulator: MessageAccumulator) -> None:
        """`stream:false`: the whole message at once (upstreams are always streamed)."""
        message = accumulator.message or {}
        self.committed = True
        self.trace.answered(200)
        body = self.client.json_body(message)
        headers = {"content-type": "application/json", "request-id": "req_" + self.record.message_id[4:]}
        async with self._write_lock:
            await self.out.whole(200, headers, body)


def _message_start(record: RequestRecord) -> dict:
    return message_start_event(record.message_id, record.route.client_model, record.input_estimate)


def _gate(target: Target) -> admission.ProviderGate:
    profile = target.profile
    return admission.gate_for(profile.id, profile.requests_per_minute, profile.max_concurrency)


def _backoff(attempt: int, retry_after: float | None) -> float:
    base = min(8.0, 0.5 * (2 ** (attempt - 1))) * (1 + random.random() * 0.25)
    return max(base, retry_after or 0.0)


def _same_target_exhausted(attempt_count: int, target_index: int, targets: list[Target]) -> bool:
    """With fallbacks configured, give each target two tries before moving on."""
    return len(targets) > 1 and attempt_count >= 2 * (target_index + 1)
