"""Building the upstream HTTP request for a target, and the pooled httpx clients.

Clients live in this package module so they survive the entry script reloading.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from fcc.config import Target
from fcc.core.body_json import encode_body
from fcc.core.anthropic_api import ANTHROPIC_HOST, ANTHROPIC_VERSION
from fcc.core.credentials import CLIENT_AUTH_HEADERS
from fcc.core.profiles import uses_client_credentials
from fcc.core.dialects.anthropic_native import translate_native_request
from fcc.core.dialects.openai_chat_request import translate_request
from fcc.core.dialects.openai_responses_request import translate_to_responses
from fcc.core.dialects.openai_responses_stream import passthrough_body
from fcc.core.tools import ToolIdCodec

USER_AGENT = "fcc/0.1 (+mitmproxy addon)"
# Client headers that may travel to a genuine Anthropic upstream (never to anyone else).
_ANTHROPIC_FORWARD = ("anthropic-beta", "anthropic-version")

_CLIENTS: dict[str, httpx.AsyncClient] = {}
# Replay mode answers from recordings through this transport instead of the network.
_TRANSPORT: httpx.AsyncBaseTransport | None = None


def use_transport(transport: httpx.AsyncBaseTransport | None) -> None:
    """Route every upstream call through `transport` (None: the network again)."""
    global _TRANSPORT
    if transport is not _TRANSPORT:
        _TRANSPORT = transport
        _CLIENTS.clear()  # the old clients are dropped; new ones pick up the transport


def client_for(target: Target) -> httpx.AsyncClient:
    profile = target.profile
    key = f"{profile.id}|{profile.base_url}"
    client = _CLIENTS.get(key)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(connect=profile.connect_timeout, read=None, write=30.0, pool=30.0),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16, keepalive_expiry=60.0),
            follow_redirects=False,
            trust_env=False,  # fcc may itself be the process's HTTPS_PROXY
            transport=_TRANSPORT,
        )
        _CLIENTS[key] = client
    return client


async def close_clients() -> None:
    for client in list(_CLIENTS.values()):
        await client.aclose()
    _CLIENTS.clear()


def is_genuine_anthropic(target: Target) -> bool:
    """Anthropic's API: the built-in `anthropic` provider (its base URL may point at a gateway in
    front of Anthropic, FCC_ANTHROPIC_BASE_URL) or any Messages endpoint on api.anthropic.com."""
    profile = target.profile
    return profile.transport == "anthropic_messages" and (
        uses_client_credentials(profile) or ANTHROPIC_HOST in profile.base_url
    )


def build_request(
    target: Target,
    request: dict,
    reasoning: str,
    client_headers: Mapping[str, str],
    environ: dict[str, str] | None = None,
    responses_body: dict | None = None,
    *,
    continuation: bool = False,
) -> tuple[httpx.Request, dict, list[str]]:
    """(httpx request, the JSON body sent, secrets used) for one attempt at one target.

    `continuation`: the request ends with a partial assistant turn (fcc.core.continuation)
    that the provider must continue, as its profile's `prefill` says."""
    profile = target.profile
    headers = {
        "content-type": "application/json",
        "accept": "text/event-stream",
        "accept-encoding": "identity",
        "user-agent": USER_AGENT,
    }
    key = profile.api_key(environ)
    secrets: list[str] = []
    shared_tools = False  # the body's tools are translate_tools' memo entries, shared turn to turn
    if profile.transport == "anthropic_messages":
        genuine = is_genuine_anthropic(target)
        body = translate_native_request(
            request, target.model, reasoning=reasoning, max_tokens_cap=profile.max_tokens_cap, genuine_anthropic=genuine
        )
        body["stream"] = True
        url = f"{profile.base_url}/v1/messages"
        headers["anthropic-version"] = client_headers.get("anthropic-version") or ANTHROPIC_VERSION
        if genuine:
            url += "?beta=true"
            if client_headers.get("anthropic-beta"):
                headers["anthropic-beta"] = client_headers["anthropic-beta"]
            if key is None:
                # No key configured: the client's own Anthropic credentials, to Anthropic only.
                for name in CLIENT_AUTH_HEADERS:
                    if client_headers.get(name):
                        headers[name] = client_headers[name]
                        secrets.append(client_headers[name])
    elif profile.transport == "openai_responses":
        if responses_body is not None:
            body = passthrough_body(responses_body, target.model)  # the client's own dialect: sent as it came
        else:
            body = translate_to_responses(request, profile, target.model, reasoning=reasoning)
        url = f"{profile.base_url}/responses"
    else:
        codec = ToolIdCodec(profile.tool_id_format)
        body = translate_request(request, profile, target.model, reasoning=reasoning, codec=codec)
        shared_tools = True
        url = f"{profile.base_url}/chat/completions"
        if continuation:
            _mark_prefill(body, profile.prefill)
    if key is not None:
        secrets.append(key)
        if profile.auth_style == "x-api-key":
            headers["x-api-key"] = key
        elif profile.auth_style == "bearer":
            headers["authorization"] = f"Bearer {key}"
    if profile.session_header and client_headers.get("x-claude-code-session-id"):
        headers[profile.session_header] = client_headers["x-claude-code-session-id"]
    content = encode_body(body, shared_tools=shared_tools)
    return httpx.Request("POST", url, headers=headers, content=content), body, secrets


def _mark_prefill(body: dict, prefill: str) -> None:
    """Tell an OpenAI-style server that the final assistant message is to be continued."""
    messages = body.get("messages") or []
    if not messages or messages[-1].get("role") != "assistant":
        return
    if prefill == "continue_final_message":
        body["continue_final_message"] = True
        body["add_generation_prompt"] = False
    elif prefill == "prefix_flag":
        messages[-1]["prefix"] = True
    elif prefill == "partial_flag":
        messages[-1]["partial"] = True
