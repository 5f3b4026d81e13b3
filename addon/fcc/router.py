"""Client model name -> the upstream targets to try, in order."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from fcc.claude_code import RequestFacts
from fcc.core.catalog import CATALOG
from fcc.core.profiles import uses_client_credentials
from fcc.config import CODEX_TIER, Config, ConfigError, Target, TierRoute, builtin_provider
from fcc.model_picker import decode
from fcc.model_picker import entries as picker_entries

_CONTEXT_SUFFIX = re.compile(r"\[[0-9]+[km]\]$", re.IGNORECASE)
# Order matters: "claude-opus-..." must not be caught by a later, looser match.
_TIER_ORDER = ("opus", "haiku", "sonnet")  # TIERS, in match order
# The class routes a request class may take, most specific first; a class without one
# takes its tier route (the route its model names).
_CLASS_CHAIN: dict[str, tuple[str, ...]] = {
    "title": ("title", "side"),
    "webfetch": ("webfetch", "side"),
    "side": ("side",),
    "websearch": ("websearch",),
    "compaction": ("compaction",),
    "subagent": ("subagent",),
}
# Claude Code's small side requests, recognised for sure: no thinking unless their class route
# asks for it (the title request carries output_config.effort, which would otherwise switch it
# on). An unrecognised `side` request keeps what its client asked for.
NO_THINKING_CLASSES = frozenset({"title", "webfetch"})


class RouteError(Exception):
    """A model name that cannot be served; the message is shown to the client."""


@dataclass(frozen=True)
class Route:
    tier: str  # default / opus / sonnet / haiku / direct
    client_model: str
    targets: tuple[Target, ...]
    reasoning: str
    request_class: str = "main"
    via: str = ""  # the class route that chose the targets ("" = the tier route)

    @property
    def primary(self) -> Target:
        return self.targets[0]

    def describe(self) -> str:
        via = f"{self.via} ({self.tier})" if self.via else self.tier
        return f"{via} -> {self.primary.slug}"


def clean_model_name(name: str) -> str:
    """`claude-opus-5-5[1m]` -> `claude-opus-5-5` (Claude Code marks 1M-context selections)."""
    return _CONTEXT_SUFFIX.sub("", name.strip())


def _ordered(primary: Target, *fallbacks: Target) -> tuple[Target, ...]:
    """The primary, then each fallback once, in order."""
    ordered: list[Target] = [primary]
    for target in fallbacks:
        if target not in ordered:
            ordered.append(target)
    return tuple(ordered)


def _with_fallbacks(tier: TierRoute, config: Config) -> tuple[Target, ...]:
    return _ordered(tier.target, *tier.fallbacks, *config.fallbacks)


def route_model(name: str, config: Config, environ: dict[str, str] | None = None) -> Route | None:
    """The route for a model name; None when fcc has no route and the request goes to Anthropic as-is."""
    model = decode(clean_model_name(name), (*config.providers, *CATALOG))  # the /model picker's ids
    provider_id, sep, upstream_model = model.partition("/")
    env = os.environ if environ is None else environ
    known = config.providers.get(provider_id)
    if known is None and sep and provider_id in CATALOG:
        try:
            known = builtin_provider(provider_id, dict(env))  # with its <ID>_BASE_URL override
        except ConfigError as exc:
            raise RouteError(f"model {name!r}: {exc}") from None
    if sep and upstream_model and known is not None:
        if known.api_key_env and known.auth_style != "none" and not known.api_key(dict(env)) \
                and not uses_client_credentials(known):
            raise RouteError(
                f"model {name!r} names provider {provider_id!r}, but its key variable "
                f"{known.api_key_env} is not set where fcc runs"
            )
        target = Target(known, upstream_model)
        return Route("direct", name, _ordered(target, *config.fallbacks), config.reasoning)
    lowered = model.lower()
    for tier in _TIER_ORDER:
        if tier in lowered and tier in config.tiers:
            route = config.tiers[tier]
            return Route(tier, name, _with_fallbacks(route, config), route.reasoning)
    if "default" in config.tiers:
        route = config.tiers["default"]
        return Route("default", name, _with_fallbacks(route, config), route.reasoning)
    return None


def _class_route(facts: RequestFacts, config: Config, input_estimate: int) -> TierRoute | None:
    classes = config.classes
    if facts.has_images and "images" in classes:
        return classes["images"]
    long_context = classes.get("long_context")
    if long_context is not None and long_context.over_tokens is not None and input_estimate > long_context.over_tokens:
        return long_context
    for name in _CLASS_CHAIN.get(facts.request_class, ()):
        if name in classes:
            return classes[name]
    if facts.request_class == "title" and "haiku" in config.tiers:
        return config.tiers["haiku"]  # Claude Code's own convention: side requests go to the small model
    return None


def route_request(
    request: dict, facts: RequestFacts, config: Config, input_estimate: int = 0, environ: dict[str, str] | None = None
) -> Route | None:
    """The route for one request: its class route when routes.yaml names one, then its tier route."""
    base = route_model(str(request.get("model") or ""), config, environ)
    chosen = _class_route(facts, config, input_estimate)
    if chosen is None:
        if base is None:
            return None
        reasoning = "off" if facts.request_class in NO_THINKING_CLASSES else base.reasoning
        return Route(base.tier, base.client_model, base.targets, reasoning, facts.request_class)
    is_class_route = config.classes.get(chosen.name) is chosen
    explicit = chosen.reasoning if is_class_route else ""
    inherited = chosen.reasoning if not is_class_route else base.reasoning if base is not None else config.reasoning
    reasoning = explicit or ("off" if facts.request_class in NO_THINKING_CLASSES else inherited)
    tail = base.targets if base is not None else config.fallbacks
    targets = _ordered(chosen.target, *chosen.fallbacks, *tail)
    tier = base.tier if base is not None else "none"
    name = chosen.name if is_class_route else f"tier {chosen.name}"
    return Route(tier, str(request.get("model") or ""), targets, reasoning, facts.request_class, name)


def route_codex_model(name: str, config: Config, environ: dict[str, str] | None = None) -> Route:
    """The route for a Codex (Responses) model name.

    A provider/model slug routes directly, as for Claude Code; any other name (Codex's own
    catalog names such as gpt-5.5, or whatever `model` says in config.toml) takes the `codex`
    tier, else `default`. There is no pass-through: Anthropic cannot answer a Responses
    request, and the client's credentials are not Anthropic's.
    """
    model = clean_model_name(name)
    provider_id, sep, upstream_model = model.partition("/")
    if sep and upstream_model and (provider_id in config.providers or provider_id in CATALOG):
        route = route_model(name, config, environ)
        if route is not None:
            return route
    for tier in (CODEX_TIER, "default"):
        if tier in config.tiers:
            entry = config.tiers[tier]
            return Route(tier, name, _with_fallbacks(entry, config), entry.reasoning)
    raise RouteError(
        f"no route for Codex model {name!r}: set models.codex (or models.default) in routes.yaml, "
        "or MODEL_CODEX / MODEL, or use a provider/model name"
    )


def advertised_models(config: Config) -> list[str]:
    """Model ids for `GET /v1/models` from the config alone (model_picker.entries adds provider lists)."""
    return [entry.id for entry in picker_entries(config)]
