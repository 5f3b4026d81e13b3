"""The upstream exchange: admission, send, retry, fall back or continue, translate
incrementally, and stream the answer to the client.

"Commit" is the first content block reaching the client. Until then a failed
attempt is retried or moved to a fallback without the client seeing anything
but a delay; the response headers wait for that content or for
policy.HEADERS_AFTER seconds (then message_start and pings keep the client's
watchdog fed), so a failure decided before them is an HTTP status the client's
own retry loop understands. After commit a cut or stalled text answer may be
continued (fcc.core.continuation); otherwise a failure is one final
`event: error`. What to do after each failure is fcc.engine.policy's decision;
this module gathers the facts and does it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import NoReturn

import httpx

from fcc.config import Target
from fcc.core.continuation import Splice, Transcript, continuation_request
from fcc.engine import admission, policy
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

# The cooldown book the policy decides from (per target: strikes, cooldowns).
HEALTH = policy.Health()
ERROR_BODY_LIMIT = 64 * 1024
TRACE_LIMIT = 2 * 1024 * 1024
SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}


def client_writer(record: RequestRecord) -> ClientWriter:
    """How this request's answer is encoded for its client."""
    if record.responses is not None:
        return ResponsesClientWriter(record.route.client_model, record.responses, "resp_" + record.message_id[4:])
    return AnthropicClientWriter()


class _Failed(Exception):
    """One attempt failed: the policy's facts and the error the client would see."""

    def __init__(self, failure: policy.Failure, error: AnthropicError) -> None:
        super().__init__(error.message)
        self.failure = failure
        self.error = error


class Exchange:
    """One client request against its route's targets."""

    def __init__(self, record: RequestRecord, trace: Trace, out: ResponseWriter) -> None:
        self.record = record
        self.trace = trace
        self.out = out
        self.client = client_writer(record)
        self.started_stream = False  # headers + message_start sent
        self.committed = False  # content reached the client
        self.transcript = Transcript()  # what the client has of the message
        self._write_lock = asyncio.Lock()
        self._last_write = time.monotonic()
        # A text-tool reader also produces events from the keepalive (held text timing out):
        # one lock keeps both producers' deliveries in production order.
        self._deliver_lock = asyncio.Lock()
        self._ordered = False
        # (reader, held, accumulator, splice) of the attempt streaming now
        self._live: tuple[StreamReader, list[dict], MessageAccumulator | None, Splice | None] | None = None

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
        """Headers wait for content as long as the client is patient; then pings feed its watchdog."""
        begin_at = time.monotonic() + policy.HEADERS_AFTER
        while True:
            await asyncio.sleep(1.0)
            # Held text (a possible tool call) has its own, shorter time bound: checked from the start.
            await self._flush_held_text()
            if not self.started_stream:
                if time.monotonic() >= begin_at and not self.committed:
                    await self._begin_stream()
                continue
            if time.monotonic() - self._last_write >= policy.PING_EVERY:
                await self._write([self.client.ping()])

    async def _flush_held_text(self) -> None:
        """Text held back as a possible tool call is released once it has waited too long."""
        live = self._live
        if live is None or not live[0].holding:
            return
        reader, held, accumulator, splice = live
        await self._deliver(reader.flush_pending(time.monotonic()), held, accumulator, reader, splice)

    # ------------------------------------------------------------------ run
    async def run(self) -> None:
        keepalive = asyncio.ensure_future(self._keepalive()) if self.record.stream else None
        try:
            await self._run_attempts()
        finally:
            if keepalive is not None:
                keepalive.cancel()

    def _states(self, targets: list[Target]) -> list[policy.TargetState]:
        now = time.monotonic()
        # Continuation splices Anthropic events into a streaming client's message.
        splices = self.record.stream and self.record.responses is None
        return [HEALTH.state(t.slug, now, can_continue=splices and t.profile.prefill != "none") for t in targets]

    def _elapsed(self) -> float:
        return time.monotonic() - self.trace.started

    async def _run_attempts(self) -> None:
        targets = list(self.record.route.targets)
        sends_here = [0] * len(targets)
        fresh: list[bool | None] = [None] * len(targets)
        sends = continuations = 0
        last: _Failed | None = None
        note = ""  # why fcc answers without a send, when it does
        decision: policy.Decision = policy.choose_target(self._states(targets), 0, self._elapsed())
        while isinstance(decision, policy.Send):
            if decision.wait > 0:
                await asyncio.sleep(decision.wait)
            index = decision.index
            target = targets[index]
            if fresh[index] is None:
                # One earlier blip does not cost the next request its retry; two in a row do.
                fresh[index] = HEALTH.state(target.slug, time.monotonic()).strikes < 2
            sent_at = time.monotonic()
            try:
                await self._attempt(target, continuation=decision.continuation)
                self.trace.served(target.slug)
                HEALTH.succeeded(target.slug)
                return
            except admission.AdmissionTimeout as exc:
                # Not sent: a quota window or a cooldown grew while this request waited.
                nxt = policy.choose_target(self._states(targets), index + 1, self._elapsed()) if index + 1 < len(targets) else None
                decision = nxt if isinstance(nxt, policy.Send) else policy.Answer(429, "rate_limit_error", exc.wait)
                note = f"fcc: {target.slug}: {exc}"
                continue
            except _Failed as failed:
                last = failed
                sends += 1
                sends_here[index] += 1
                if failed.failure.transient:
                    HEALTH.failed(target.slug, failed.failure, sent_at, time.monotonic())
                progress = policy.Progress(
                    index, sends, sends_here[index], bool(fresh[index]), self._elapsed(), self.started_stream, continuations
                )
                decision = policy.after_failure(failed.failure, self._states(targets), progress)
                if isinstance(decision, policy.Send):
                    continuations += decision.continuation
                    log.info("fcc: %s failed (%s); %s: %s in %.1f s", target.slug, failed.error.message, decision.why,
                             targets[decision.index].slug, decision.wait)
        await self._answer(decision, last, targets, note)

    async def _answer(self, decision: policy.Answer, last: _Failed | None, targets: list[Target], note: str) -> None:
        if note:
            message, headers = note, {}
        elif last is not None:
            message = last.error.message
            headers = dict(last.error.headers) if last.error.status == decision.status else {}
        else:
            state = min(self._states(targets), key=lambda s: s.cooling)
            slug = targets[0].slug if len(targets) == 1 else "every target of this route"
            what = "rate-limited" if decision.status == 429 else "failing"
            message = f"fcc: {slug} is {what}; not calling it for {state.cooling:.0f} s" + (
                f" (last: {state.reason})" if state.reason else "")
            headers = {}
        headers.update(decision.headers())
        await self._fail(AnthropicError(decision.status, decision.error_type, message, headers))

    async def _fail(self, error: AnthropicError) -> None:
        self.trace.finish(f"error {error.status} {error.type}")
        self.trace.failed(error.type, error.message)
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

    async def _attempt(self, target: Target, continuation: bool) -> None:
        gate = _gate(target)
        time_left = policy.REQUEST_DEADLINE - self._elapsed()
        async with gate.slot(max_wait=time_left) as slot:
            await self._send(target, gate, slot, policy.REQUEST_DEADLINE - self._elapsed(), continuation)

    async def _send(
        self, target: Target, gate: admission.ProviderGate, slot: admission.Slot, time_left: float, continuation: bool
    ) -> None:
        profile = target.profile
        record = self.record
        body, dropped = record.request, ""
        if continuation:
            body, dropped = continuation_request(
                record.request, self.transcript.text, strip_trailing_space=profile.transport == "anthropic_messages")
        request, _body, secrets = build_request(target, body, record.route.reasoning, record.client_headers,
                                                responses_body=record.responses.body if record.responses else None,
                                                continuation=continuation)
        attempt = self.trace.begin_attempt(
            Attempt(target.slug, str(request.url), masked_headers(request.headers), request.content, continuation=continuation)
        )
        client = client_for(target)
        first_byte_timeout = min(profile.first_byte_timeout, max(1.0, time_left))
        try:
            response = await asyncio.wait_for(client.send(request, stream=True), first_byte_timeout)
        except TimeoutError:
            attempt.error = f"no response within {first_byte_timeout:.0f} s"
            _failed("no_answer", 529, f"{target.slug}: {attempt.error}")
        except httpx.HTTPError as exc:
            attempt.error = redact(f"{type(exc).__name__}: {exc}", tuple(secrets))
            _failed("refused", 529, f"{target.slug} is not reachable at {profile.base_url} ({attempt.error})")
        try:
            attempt.status = response.status_code
            attempt.response_headers = dict(response.headers)
            if response.status_code != 200:
                await self._upstream_status(target, response, attempt, gate, secrets)
            slot.settle(True)  # the provider accepted the request: it is healthy again
            splice = Splice(self.transcript, dropped) if continuation else None
            await self._stream(target, response, attempt, secrets, first_byte_timeout, splice)
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
            # The gate lets one probe through after the pause and shares it with other replicas.
            gate.cool_down(retry_after if retry_after is not None else policy.DEFAULT_RATE_LIMIT_COOLDOWN)
        should_retry = {"true": True, "false": False}.get(response.headers.get("x-should-retry", "").lower())
        failure = policy.Failure("status", error.status, response.status_code, retry_after=retry_after,
                                 should_retry=should_retry, message=error.message)
        raise _Failed(failure, error)

    def _reader(self, target: Target) -> StreamReader:
        record = self.record
        # message_start is fcc's own (sent early or at commit): the reader never sends one.
        setup = StreamSetup(record.route.client_model, record.message_id, record.input_estimate, target.profile,
                            target.model, record.request, message_started=True)
        reader = reader_for(setup)
        self._ordered = reader.needs_clock
        return reader

    async def _stream(
        self, target: Target, response: httpx.Response, attempt: Attempt, secrets: list[str],
        first_chunk_timeout: float, splice: Splice | None,
    ) -> None:
        profile = target.profile
        reader = self._reader(target)
        held: list[dict] = []
        accumulator = MessageAccumulator() if not self.record.stream else None
        if accumulator is not None:
            accumulator.add([_message_start(self.record)])
        self._live = (reader, held, accumulator, splice)
        chunks = response.aiter_raw()
        loop = asyncio.get_running_loop()
        # Some servers send headers at once and the first token only after the model loads.
        timeout = max(first_chunk_timeout, profile.idle_timeout)
        events: list[dict] = []
        kind: policy.FailureKind | None = None
        chunked = False
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
                    chunked = True
                    events = reader.feed(chunk)
                    if reader.error is not None:
                        kind = "stream_error"
                        break
                    if events:
                        watchdog.paused = True  # the timer covers upstream silence, not a slow client
                        await self._deliver(events, held, accumulator, reader, splice)
                        watchdog.paused = False
                        watchdog.last = loop.time()
            if kind is None:
                events = reader.finish()
                kind = "cut" if reader.error is not None else None
        except TimeoutError:
            attempt.error = f"upstream went silent for {timeout:.0f} s"
            events = reader.fail("overloaded_error", f"{target.slug}: {attempt.error}")
            kind = "stall" if chunked else "no_answer"
        except httpx.HTTPError as exc:
            attempt.error = redact(f"connection lost mid-stream: {type(exc).__name__}: {exc}", tuple(secrets))
            events = reader.fail("api_error", f"{target.slug}: {attempt.error}")
            kind = "cut"
        # The reader's own error event is held back: the policy decides what the client hears.
        await self._deliver([e for e in events if e.get("type") != "error"], held, accumulator, reader, splice,
                            final=reader.error is None)
        self.trace.add_usage(reader.usage)
        if reader.error is not None:
            error_type, message = reader.error
            attempt.error = attempt.error or message
            after = self.committed
            _failed(kind or "stream_error", 529 if kind == "stall" else STATUS_BY_ERROR_TYPE.get(error_type, 500), message,
                    after_content=after, in_tool_call=bool(getattr(reader, "pending_tool_call", False)),
                    prefillable=after and self.transcript.continuable())
        if splice is not None:
            partial = len(self.transcript.text) - len(splice.text)
            self.trace.note(f"continued on {target.slug} after {partial} chars")
            log.info("fcc: %s continued the cut answer (%d more chars)", target.slug, len(splice.text))
        if accumulator is not None:
            await self._answer_json(accumulator)
        self.trace.finish("ok")

    async def _deliver(
        self, events: list[dict], held: list[dict], accumulator: MessageAccumulator | None, reader: StreamReader,
        splice: Splice | None = None, final: bool = False,
    ) -> None:
        if splice is not None:
            events = splice.feed(events)
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
            self.transcript.add(events)
            await self._write(self.client.encode(events))
            return
        held.extend(events)
        # An error before any content is not committed: the attempt is retried instead.
        if reader.error is None and (reader.has_content or final):
            self.committed = True
            await self._begin_stream()
            self.transcript.add(held)
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


def _failed(kind: policy.FailureKind, status: int, message: str, **facts: object) -> NoReturn:
    error_type = "overloaded_error" if status == 529 else {429: "rate_limit_error", 400: "invalid_request_error"}.get(status, "api_error")
    failure = policy.Failure(kind, status, message=message, **facts)  # type: ignore[arg-type]
    raise _Failed(failure, make_error(status, message, error_type=error_type))
