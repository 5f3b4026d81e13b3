"""What Claude Code's /model picker shows, and how its ids route back.

Claude Code's gateway discovery (`CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY=1`,
`GET /v1/models?limit=1000`) keeps only ids matching /(claude|anthropic)/i and
reads `id`, `display_name` and `description` (CLI 2.1.330). So every routable
model is published as `anthropic/<provider>/<model>`, which the router decodes
back to the exact provider and model; the tiers stay `claude-<tier>`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from fcc.config import Config, Target
from fcc.core.anthropic_api import TIERS

GATEWAY_PREFIX = "anthropic/"


class Listed(Protocol):
    """A model a provider reports (fcc.engine.model_lists.ListedModel, a frozen dataclass)."""

    @property
    def provider(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def display_name(self) -> str: ...
    @property
    def context_window(self) -> int | None: ...
    @property
    def max_output_tokens(self) -> int | None: ...


@dataclass(frozen=True)
class PickerEntry:
    id: str
    display_name: str
    description: str
    context_window: int | None = None
    max_output_tokens: int | None = None


def gateway_id(slug: str) -> str:
    return GATEWAY_PREFIX + slug


def decode(name: str, provider_ids: Iterable[str]) -> str:
    """`anthropic/<provider>/<model>` -> `<provider>/<model>` when <provider> is one fcc knows.

    `anthropic/claude-opus-4` (the anthropic provider's own model) is left alone.
    """
    if not name.startswith(GATEWAY_PREFIX):
        return name
    rest = name[len(GATEWAY_PREFIX):]
    provider, sep, model = rest.partition("/")
    return rest if sep and model and provider in set(provider_ids) else name


def _tokens(count: int | None) -> str:
    if count is None:
        return ""
    return f"{count // 1_000_000}M" if count >= 1_000_000 and count % 1_000_000 == 0 else f"{round(count / 1000)}k"


def _describe(where: str, window: int | None, output: int | None) -> str:
    parts = [where]
    if window:
        parts.append(f"{_tokens(window)} context")
    if output:
        parts.append(f"{_tokens(output)} output")
    return " · ".join(parts)


def entries(
    config: Config,
    listed: Iterable[Listed] = (),
    window_of: Callable[[Target], tuple[int | None, int | None]] | None = None,
) -> list[PickerEntry]:
    """Tiers, then every route target, then every listed model: each once."""
    def limits(target: Target) -> tuple[int | None, int | None]:
        return window_of(target) if window_of is not None else (None, None)

    out: list[PickerEntry] = []
    seen: set[str] = set()

    def add(entry: PickerEntry) -> None:
        if entry.id not in seen:
            seen.add(entry.id)
            out.append(entry)

    for tier in TIERS:
        route = config.tiers.get(tier)
        if route is not None:
            window, output = limits(route.target)
            add(PickerEntry(f"claude-{tier}", f"{tier.capitalize()} → {route.target.model}",
                            _describe(f"fcc tier {tier}: {route.target.slug}", window, output), window, output))  # fmt: skip
    routes = [*config.tiers.values(), *config.classes.values()]
    targets = [t for route in routes for t in (route.target, *route.fallbacks)] + list(config.fallbacks)
    for target in targets:
        window, output = limits(target)
        provider = target.profile.display_name or target.profile.id
        add(PickerEntry(gateway_id(target.slug), f"{target.model} ({provider})",
                        _describe("fcc route", window, output), window, output))  # fmt: skip
    for model in listed:
        profile = config.providers.get(model.provider)
        if profile is None:
            continue
        window, output = limits(Target(profile, model.model))
        provider = profile.display_name or profile.id
        label = model.display_name or model.model
        add(PickerEntry(gateway_id(f"{model.provider}/{model.model}"), f"{label} ({provider})",
                        _describe(f"listed by {provider}", window, output), window, output))  # fmt: skip
    return out
