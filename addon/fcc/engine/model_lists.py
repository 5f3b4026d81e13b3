"""The models each routed provider reports (`GET <base>/models`), for Claude Code's /model picker.

Fetched when a client first asks fcc for `GET /v1/models` (Claude Code does at
start-up with discovery on) and again once a list is older than REFRESH_AFTER, so
fcc itself starts without waiting for, or sending anything to, any provider; the
client's request waits at most a moment for a fetch in flight and otherwise gets
what is known (the list is there for its next start). A failed fetch keeps
the last good list. Lists are bounded (MAX_MODELS per provider) because some
providers report hundreds of models. Context windows and output caps are kept
where the provider says them (OpenRouter `context_length`, vLLM `max_model_len`, ...).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass

import httpx

from fcc.config import Config, Target
from fcc.core.profiles import Profile
from fcc.engine.upstream import ANTHROPIC_VERSION, USER_AGENT, client_for

log = logging.getLogger("fcc")

REFRESH_AFTER = 600.0
RETRY_AFTER_FAILURE = 60.0
FETCH_TIMEOUT = 8.0
MAX_MODELS = 300
MAX_BODY = 4 * 1024 * 1024
# Fields providers use for a model's context window / output cap, most specific first.
_WINDOW_KEYS = ("context_length", "context_window", "max_model_len", "max_context_length", "max_input_tokens",
                "input_token_limit", "n_ctx", "n_ctx_train")
_OUTPUT_KEYS = ("max_completion_tokens", "max_output_tokens", "output_token_limit", "max_tokens")


@dataclass(frozen=True)
class ListedModel:
    provider: str
    model: str
    display_name: str = ""
    context_window: int | None = None
    max_output_tokens: int | None = None

    @property
    def slug(self) -> str:
        return f"{self.provider}/{self.model}"


@dataclass
class _Entry:
    models: tuple[ListedModel, ...] = ()
    fetched_at: float = 0.0  # monotonic time of the last good fetch
    tried_at: float = 0.0
    error: str = ""
    task: asyncio.Task | None = None


_LISTS: dict[str, _Entry] = {}


def _positive_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and value > 0:
        return int(value)
    if isinstance(value, str) and value.isdigit() and int(value) > 0:
        return int(value)
    return None


def _first(item: dict, keys: tuple[str, ...]) -> int | None:
    places = [item, item.get("top_provider"), item.get("meta"), item.get("limits")]
    for place in places:
        if isinstance(place, dict):
            for key in keys:
                found = _positive_int(place.get(key))
                if found is not None:
                    return found
    return None


def parse_models(provider: str, payload: object) -> tuple[ListedModel, ...]:
    """An OpenAI (`{"data": [...]}`), Anthropic or Ollama-style (`{"models": [...]}`) list -> models."""
    if isinstance(payload, dict):
        items = payload.get("data") if isinstance(payload.get("data"), list) else payload.get("models")
    else:
        items = payload
    out: list[ListedModel] = []
    seen: set[str] = set()
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        model = item.get("id") or item.get("name") or item.get("model")
        if not isinstance(model, str) or not model.strip():
            continue
        model = model.strip().removeprefix("models/")  # Gemini's OpenAI-compatible list says models/<id>
        if model in seen:
            continue
        seen.add(model)
        name = item.get("display_name") or item.get("name")
        out.append(ListedModel(
            provider=provider, model=model,
            display_name=name if isinstance(name, str) and name != model else "",
            context_window=_first(item, _WINDOW_KEYS), max_output_tokens=_first(item, _OUTPUT_KEYS),
        ))  # fmt: skip
        if len(out) >= MAX_MODELS:
            break
    return tuple(out)


def _request(profile: Profile) -> httpx.Request | None:
    headers = {"accept": "application/json", "user-agent": USER_AGENT, "accept-encoding": "identity"}
    key = profile.api_key()
    if profile.api_key_env and profile.auth_style != "none" and key is None:
        return None  # no key where fcc runs: nothing to ask with (and no client credentials here)
    if profile.transport == "anthropic_messages":
        url = f"{profile.base_url}/v1/models?limit=1000"
        headers["anthropic-version"] = ANTHROPIC_VERSION
    else:
        url = f"{profile.base_url}/models"
    if key is not None:
        if profile.auth_style == "x-api-key":
            headers["x-api-key"] = key
        elif profile.auth_style == "bearer":
            headers["authorization"] = f"Bearer {key}"
    return httpx.Request("GET", url, headers=headers)


async def _fetch(profile: Profile, entry: _Entry) -> None:
    entry.tried_at = time.monotonic()
    request = _request(profile)
    if request is None:
        entry.error = f"no key in {profile.api_key_env}"
        return
    try:
        client = client_for(Target(profile, ""))
        async with asyncio.timeout(FETCH_TIMEOUT):
            response = await client.send(request, stream=True)
            try:
                body = bytearray()
                async for chunk in response.aiter_raw():
                    body += chunk
                    if len(body) > MAX_BODY:
                        raise ValueError("model list larger than 4 MB")
            finally:
                await response.aclose()
        if response.status_code != 200:
            raise ValueError(f"HTTP {response.status_code}")
        models = parse_models(profile.id, json.loads(bytes(body)))
    except Exception as exc:  # a background refresh must never fail anything; the last good list stays
        entry.error = f"{type(exc).__name__}: {exc}"[:200]
        log.info("fcc: model list of %s not fetched (%s); keeping %d known models", profile.id, entry.error, len(entry.models))
        return
    entry.models, entry.fetched_at, entry.error = models, time.monotonic(), ""
    log.info("fcc: %s lists %d models", profile.id, len(models))


def listed_providers(config: Config) -> list[Profile]:
    """Providers worth asking: those routes use, and those routes.yaml configures."""
    return [config.providers[pid] for pid in sorted(config.routed_providers | set(config.providers)) if pid in config.providers]


def refresh(config: Config, now: float | None = None) -> list[asyncio.Task]:
    """Start fetches for stale lists (never awaited here: start-up must not wait)."""
    now = time.monotonic() if now is None else now
    tasks: list[asyncio.Task] = []
    for profile in listed_providers(config):
        key = f"{profile.id}|{profile.base_url}"
        entry = _LISTS.setdefault(key, _Entry())
        if entry.task is not None and not entry.task.done():
            tasks.append(entry.task)
            continue
        stale = now - entry.fetched_at > REFRESH_AFTER if entry.fetched_at else True
        if stale and now - entry.tried_at >= (RETRY_AFTER_FAILURE if entry.error else 0.0):
            entry.task = asyncio.ensure_future(_fetch(profile, entry))
            tasks.append(entry.task)
    return tasks


async def current(config: Config, max_wait: float = 2.0) -> list[ListedModel]:
    """Every known model of the config's providers, waiting at most `max_wait` for fetches in flight."""
    tasks = refresh(config)
    if tasks and max_wait > 0:
        await asyncio.wait(tasks, timeout=max_wait)
    return known(config)


def known(config: Config) -> list[ListedModel]:
    out: list[ListedModel] = []
    for profile in listed_providers(config):
        entry = _LISTS.get(f"{profile.id}|{profile.base_url}")
        if entry is not None:
            out.extend(entry.models)
    return out


def lookup(profile: Profile, model: str) -> ListedModel | None:
    entry = _LISTS.get(f"{profile.id}|{profile.base_url}")
    if entry is None:
        return None
    return next((m for m in entry.models if m.model == model), None)


def reset() -> None:
    """Forget every list (tests)."""
    _LISTS.clear()
