"""The mitmproxy addon: options and hooks. It wires things together and decides
nothing about protocols; every translation lives in `fcc.core`.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from mitmproxy import ctx, exceptions, http

from fcc import users
from fcc.engine.exchange import Exchange
from fcc.engine import metrics, quota, shared_state, upstream
from fcc.engine.records import RequestRecord, Trace
from fcc import claude_code
from fcc import codex
from fcc.config import Config, ConfigError, load_config
from fcc.core.local_answers import count_tokens_body, estimate_input_tokens, estimate_parts, models_body
from fcc.core.anthropic_api import ANTHROPIC_HOST
from fcc.core.client_request import parse_request
from fcc.core.credentials import CLIENT_AUTH_HEADERS, CREDENTIAL_HEADERS
from fcc.core.dialects.responses_stream import openai_error_body
from fcc.core.errors import AnthropicError, make_error
from fcc.core.events import new_message_id
from fcc.router import RouteError, route_request
from fcc import limits, model_picker
from fcc.engine import calibration, model_lists
from fcc.mitm import contentviews
from fcc.mitm import inspector
from fcc.mitm.flowstate import STATES, FlowState
from fcc.record import recording
from fcc.record.copying import COPY_LIMIT, CopyingStream
from fcc.record import replay
from fcc.mitm import runtime
from fcc.mitm import startup

log = logging.getLogger("fcc")
# httpx logs every request at INFO; fcc's own one line per request says more.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)  # else ~12 debug records per upstream request

MESSAGES = "/v1/messages"
COUNT_TOKENS = "/v1/messages/count_tokens"
MODELS = "/v1/models"
RESPONSES = codex.RESPONSES
# Paths of Anthropic's own API: only these may reach Anthropic with the client's credentials.
# Anything else (OpenAI's /v1/chat/completions, a typo) is answered here, never forwarded.
_ANTHROPIC_PATHS = ("/v1/messages", "/v1/models", "/v1/complete", "/v1/files", "/v1/skills", "/v1/organizations",
                    "/v1/mcp_servers", "/v1/environments", "/v1/sessions", "/v1/agents", "/v1/oauth", "/api/")
_OPENAI_PATHS = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses", "/chat/completions",
                 "/responses")
# Headers kept from the client for the upstream exchange; credentials among them
# are only ever used for a genuine Anthropic upstream.
_CLIENT_HEADERS = (
    "anthropic-beta", "anthropic-version", *CLIENT_AUTH_HEADERS,
    "x-claude-code-session-id", "x-claude-code-agent-id", "x-claude-code-request-class", "x-claude-1p-request-class",
)


def _show_original_url(flow: http.HTTPFlow) -> None:
    """A routed client flow shows the URL the client used; an upstream flow (fcc.mitm.inspector)
    the provider's URL."""
    original = flow.metadata.get("fcc_original_url") or (flow.metadata.get("fcc_attempt") or {}).get("url")
    if isinstance(original, str) and original and flow.request.url != original:
        flow.request.url = original


def _message_id(flow: http.HTTPFlow) -> str:
    """Replay mode: the message id the answer had when it was recorded; else a new one."""
    return replay.recorded_message_id(flow.request.raw_content) or new_message_id()


def _starting_up() -> bool:
    """True while mitmproxy's start-up error check is watching the log.

    A problem found then is logged as one line, and mitmproxy exits non-zero because of
    it; raising instead would print a traceback around that line. Later (e.g. the
    mitmweb options editor) a raise rolls the change back, which is what a user wants.
    """
    check = ctx.master.addons.get("errorcheck")
    handler = getattr(check, "logger", None)
    return handler is not None and handler in logging.getLogger().handlers


class FccAddon:
    def __init__(self) -> None:
        self.config: Config | None = None
        self._config_failed = False
        self.flows = STATES

    # ---------------------------------------------------------------- setup
    def load(self, loader) -> None:
        loader.add_option("fcc_config", str, "", "Path to routes.yaml (default: ./routes.yaml, then the repo's).")
        loader.add_option("fcc_max_flows", str, "200", "Flows mitmweb keeps before dropping the oldest.")
        loader.add_option("fcc_state_dir", str, "", "Where fcc keeps learned state (token calibration): "
                          "default $FCC_STATE_DIR, $XDG_CACHE_HOME/fcc or ~/.cache/fcc.")
        loader.add_option("fcc_record", str, "", "Record every exchange, secrets scrubbed, as one YAML file each into this directory.")
        loader.add_option("fcc_replay", str, "", "Answer upstream calls from this recording (directory or file) instead of the network.")
        loader.add_option("fcc_replay_speed", str, "original", "Replay timing: original (as recorded) or fast.")
        contentviews.register()

    def configure(self, updated: set[str]) -> None:
        if "fcc_max_flows" in updated:
            value = ctx.options.fcc_max_flows
            if not value.isdigit() or int(value) < 1:
                message = f"fcc_max_flows: expected a positive whole number, got {value!r}"
                if not _starting_up():
                    raise exceptions.OptionsError(message)
                log.error("fcc: %s", message)
        if "fcc_state_dir" in updated:
            state_dir = ctx.options.fcc_state_dir
            calibration.use(Path(state_dir).expanduser() if state_dir else calibration.default_dir())
        if ("fcc_config" in updated or "fcc_replay" in updated or self.config is None) and not self._config_failed:
            try:
                self.config = load_config(ctx.options.fcc_config or replay.routes_file(ctx.options.fcc_replay))
            except ConfigError as exc:
                if not _starting_up():
                    raise exceptions.OptionsError(f"fcc: {exc}") from None  # a later change: roll it back
                log.error("fcc: %s", exc)
                self._config_failed = True
        try:
            replay.configure(ctx.options, updated)
            recording.configure(ctx.options, updated, self.config)
            quota.configure(self.config)
        except ValueError as exc:
            if not _starting_up():
                raise exceptions.OptionsError(str(exc)) from None
            log.error("fcc: %s", exc)
        startup.apply_defaults(updated)  # mode, 127.0.0.1:8082, lazy; last, once problems are known: fcc/mitm/startup.py

    async def running(self) -> None:
        deferred = sorted(getattr(ctx.options, "deferred", {}) or {})
        if deferred:
            log.error("fcc: unknown options: %s", ", ".join(deferred))
        config = self.config
        if config is not None:
            # Users' tokens protect a non-loopback listener as well as the single FCC_AUTH_TOKEN does.
            startup.check_running(config.auth_token or ("users" if config.users else None))
        sidecar = await runtime.sidecar(self._serve_exchange)
        routes = ", ".join(f"{name} -> {r.target.slug}" for name, r in (config.tiers.items() if config else []))
        log.info("fcc addon active: config %s; routes: %s; engine on 127.0.0.1:%d",
                 config.source if config else "-", routes or "none (all requests pass through to Anthropic)", sidecar.port)

    async def done(self) -> None:
        runtime.report_usage()
        calibration.current().save()
        await quota.settled()
        await shared_state.shutdown()
        contentviews.unregister()
        if ctx.master.should_exit.is_set():
            # mitmproxy is exiting. (A reload of the entry script calls done too; then the engine,
            # process-wide, keeps serving the flows in flight for the new addon object.)
            await runtime.stop_sidecar()
            await upstream.close_clients()

    # ---------------------------------------------------------------- hooks
    def _handles(self, flow: http.HTTPFlow) -> str | None:
        path = flow.request.path.split("?", 1)[0].rstrip("/")
        if path not in (MESSAGES, COUNT_TOKENS, MODELS, RESPONSES):
            return None
        mode = getattr(flow.client_conn.proxy_mode, "type_name", "")
        if mode != "reverse" and flow.request.pretty_host != ANTHROPIC_HOST:
            return None
        if (path == MODELS) != (flow.request.method == "GET") or flow.request.method not in ("GET", "POST"):
            return None
        return path

    @staticmethod
    def _foreign_to_anthropic(flow: http.HTTPFlow) -> bool:
        """A request about to go to Anthropic (the default reverse target, or its host in intercept
        mode) although its path is not Anthropic's API: the client's credentials belong elsewhere.
        Another reverse target the user chose gets what is sent to it."""
        host = flow.request.host.lower().rstrip(".")
        if flow.response is not None or not (host == "anthropic.com" or host.endswith(".anthropic.com")):
            return False
        path = flow.request.path.split("?", 1)[0]
        return not any(path == prefix.rstrip("/") or path.startswith(prefix.rstrip("/") + "/") for prefix in _ANTHROPIC_PATHS)

    def _refuse_foreign(self, flow: http.HTTPFlow) -> None:
        path = flow.request.path.split("?", 1)[0]
        message = f"fcc: {flow.request.method} {path} is not served here (fcc serves /v1/messages and /v1/responses)"
        if any(path.startswith(prefix) for prefix in _OPENAI_PATHS):
            self._answer_openai(flow, 404, message, "not_found")
        else:
            self._answer(flow, make_error(404, message, should_retry=False))

    async def request(self, flow: http.HTTPFlow) -> None:
        if not flow.live:
            # Read from a file (`mitmproxy -r`): nothing to send. In reverse mode mitmproxy has just
            # pointed the flow at the reverse target; show where it really went.
            _show_original_url(flow)
            return
        path = self._handles(flow)
        config = self.config
        if path is None or (config is None and path != RESPONSES):
            if self._foreign_to_anthropic(flow):
                self._refuse_foreign(flow)  # the client's credentials are not Anthropic's to see
            return
        for key in ("fcc_summary", "fcc_upstream_flows", "fcc_recorded", "fcc_local_error", "fcc_response_truncated"):
            flow.metadata.pop(key, None)  # a flow replayed from mitmweb is a new exchange
        flow.metadata["fcc_original_url"] = flow.request.url
        if recording.ACTIVE is not None:
            self.flows.open(flow.id).client_request = recording.snapshot_request(flow)
        if config is None:
            self._answer_openai(flow, 500, "fcc: routes.yaml failed to load; see fcc's log", "server_error")
            return
        user = users.authenticate(flow.request.headers, config.users, config.auth_token)
        if isinstance(user, AnthropicError):
            if path == RESPONSES:
                self._answer_openai(flow, 403, user.message.replace("ANTHROPIC_AUTH_TOKEN", "the Codex provider's env_key"),
                                    "invalid_api_key")
                return
            self._answer(flow, user)
            return
        flow.metadata["fcc_user"] = user.name
        if path == RESPONSES:
            await self._responses(flow, config, user)
            return
        if path == MODELS:
            listed = await model_lists.current(config)
            entries = model_picker.entries(config, listed, lambda target: limits.limits(target, config, model_lists.lookup))
            flow.response = http.Response.make(200, models_body(entries), {"content-type": "application/json"})
            return
        request, error = parse_request(flow.request.raw_content, count_tokens=path == COUNT_TOKENS)
        if error is not None:
            self._answer(flow, error)
            return
        assert request is not None
        if path == COUNT_TOKENS:
            body = count_tokens_body(request, calibration.count_tokens(request, config))
            flow.response = http.Response.make(200, body, {"content-type": "application/json"})
            return
        headers = {name: flow.request.headers[name] for name in _CLIENT_HEADERS if name in flow.request.headers}
        if user is not users.LOCAL:
            headers.pop("authorization", None)  # fcc's own proxy token: never sent on, not even to Anthropic
            headers.pop("x-api-key", None)
        facts = claude_code.describe(request, headers)
        estimate = estimate_input_tokens(request)
        try:
            route = route_request(request, facts, config, estimate)
        except RouteError as exc:
            self._answer(flow, make_error(400, f"fcc: {exc}", should_retry=False))
            return
        if route is None:
            return  # no route: the request goes to the reverse target (Anthropic) untouched
        fitted = limits.fit(route, calibration.current().calibrated(route.primary.slug, estimate_parts(request)), config, model_lists.lookup)
        if isinstance(fitted, AnthropicError):
            self._answer(flow, fitted)  # Claude Code compacts on exactly this answer
            return
        route = fitted
        record = RequestRecord(
            request=request,
            route=route,
            stream=bool(request.get("stream")),
            client_headers=headers,
            input_estimate=estimate,
            request_class=route.request_class,
            message_id=_message_id(flow),
        )
        await self._redirect(flow, record, user)

    async def _responses(self, flow: http.HTTPFlow, config: Config, user: users.User) -> None:
        """`POST /v1/responses` (the Codex CLI): translated to the internal request, run by the same engine."""
        headers = {name.lower(): value for name, value in flow.request.headers.items()}
        prepared = codex.prepare(flow.request.raw_content, headers, config)
        if isinstance(prepared, codex.ResponsesRefusal):
            self._answer_openai(flow, prepared.status, prepared.message, prepared.code, prepared.param)
            return
        record = RequestRecord(
            request=prepared.request,
            route=prepared.route,
            stream=bool(prepared.request.get("stream")),
            client_headers=prepared.client_headers,
            input_estimate=estimate_input_tokens(prepared.request),
            request_class="codex",
            message_id=_message_id(flow),
            responses=prepared.context,
        )
        await self._redirect(flow, record, user)

    async def _redirect(self, flow: http.HTTPFlow, record: RequestRecord, user: users.User) -> None:
        """Hand the request to the engine (once the user may have it): the flow now fetches its answer from the sidecar."""
        admitted = await quota.admit(user, record.route)
        if isinstance(admitted, AnthropicError):
            if record.responses is None:
                self._answer(flow, admitted)
                return
            status, headers, body = codex.failure_answer(admitted, record.route.client_model, record.stream)
            flow.response = http.Response.make(status, body, headers)
            flow.metadata["fcc_local_error"] = admitted.message
            return
        record = dataclasses.replace(record, route=admitted)
        sidecar = await runtime.sidecar(self._serve_exchange)
        state = self.flows.open(flow.id)
        state.record, state.trace = record, Trace()
        flow.marked = ":arrows_counterclockwise:"
        who = "" if user is users.LOCAL else f" user={user.name}"  # filterable: ~comment "user=alice"
        flow.comment = f"fcc {record.request_class}: {record.route.describe()}{who}"
        flow.request.url = sidecar.url(sidecar.issue(state))
        for name in CREDENTIAL_HEADERS:
            flow.request.headers.pop(name, None)  # the sidecar needs no credentials
        flow.request.headers["accept-encoding"] = "identity"
        # The plan travels by token: the sidecar never reads the body, so mitmproxy sends none (no
        # 20-30 KB write and parse per turn). The client's body is put back before anyone shows it.
        framing = [(name, flow.request.headers[name]) for name in _FRAMING if name in flow.request.headers]
        state.held_body = (flow.request.raw_content, framing)
        for name, _ in framing:
            flow.request.headers.pop(name, None)
        flow.request.raw_content = b""
        flow.request.headers["content-length"] = "0"

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        state = self.flows.get(flow.id)
        if state is not None:
            _restore_body(flow, state)
        if state is not None and state.routed and flow.response is not None:
            if flow.response.headers.get("content-type", "").startswith("text/event-stream"):
                flow.response.stream = CopyingStream()

    def response(self, flow: http.HTTPFlow) -> None:
        state = self.flows.close(flow.id)
        if state is not None and state.routed and flow.response is not None:
            stream = flow.response.stream
            if isinstance(stream, CopyingStream):
                # raw_content, not content: setting content adds a content-length the client never saw.
                flow.response.raw_content = stream.copy()
                if stream.truncated:  # what flow files and the inspector show is cut short
                    flow.metadata["fcc_response_truncated"] = COPY_LIMIT
        self._ended(flow, state)

    def error(self, flow: http.HTTPFlow) -> None:
        state = self.flows.close(flow.id)
        if state is not None and state.trace is not None:
            state.trace.finish(f"client gone: {flow.error.msg if flow.error else 'error'}")
        self._ended(flow, state)

    @staticmethod
    def _ended(flow: http.HTTPFlow, state: FlowState | None) -> None:
        """The flow as it is saved (mitmproxy's save addon runs after this one): the client's URL,
        plain metadata; its upstream side in mitmweb and in flow files; record mode's file."""
        # Show (and let mitmweb replay) what the client sent, not the engine's one-time URL.
        _show_original_url(flow)
        if state is None:
            return  # not fcc's (or read from a file)
        _restore_body(flow, state)
        if state.record is not None and state.trace is not None:
            runtime.finish_exchange(state.record, state.trace, flow)
            inspector.show_upstream(flow, state.trace)
        recording.record(flow, state.client_request, state.record, state.trace)

    # -------------------------------------------------------------- helpers
    async def _serve_exchange(self, state: FlowState, writer, disconnected) -> None:
        assert state.record is not None and state.trace is not None
        exchange = Exchange(state.record, state.trace, writer)
        try:
            await exchange.run()
        except Exception as exc:  # an engine bug must still end in an answer shaped for the client
            log.exception("fcc: exchange failed")
            error = make_error(500, f"fcc internal error: {type(exc).__name__}: {exc}")
            if not writer.headers_sent:
                await writer.whole(*exchange.client.error_answer(error))
            else:
                for piece in exchange.client.stream_error(error):
                    await writer.write(piece)

    @staticmethod
    def _answer_openai(flow: http.HTTPFlow, status: int, message: str, code: str | None, param: str | None = None) -> None:
        """An error for an OpenAI-API client (Codex), in the body shape it reads."""
        kind = "invalid_request_error" if status in (400, 404) else "server_error" if status >= 500 else "permission_error"
        body = openai_error_body(message, kind, code, param)
        flow.response = http.Response.make(status, body, {"content-type": "application/json"})
        flow.metadata["fcc_local_error"] = message
        user = flow.metadata.get("fcc_user", "-")
        metrics.refused(status, code or kind, user)
        log.info("fcc: %s %s -> %d %s user=%s", flow.request.method, flow.request.path, status, message, user)

    @staticmethod
    def _answer(flow: http.HTTPFlow, error: AnthropicError) -> None:
        flow.response = http.Response.make(error.status, error.body_bytes(), error.response_headers())
        flow.metadata["fcc_local_error"] = error.message
        user = flow.metadata.get("fcc_user", "-")
        metrics.refused(error.status, error.type, user)
        log.info("fcc: %s %s -> %d %s user=%s", flow.request.method, flow.request.path, error.status, error.message, user)


_FRAMING = ("content-length", "transfer-encoding")


def _restore_body(flow: http.HTTPFlow, state: FlowState) -> None:
    """The client's request as it came (mitmweb, flow files, replay): the sidecar leg sent no body."""
    if state.held_body is None:
        return
    body, framing = state.held_body
    state.held_body = None
    flow.request.raw_content = body
    flow.request.headers.pop("content-length", None)
    for name, value in framing:
        flow.request.headers[name] = value
