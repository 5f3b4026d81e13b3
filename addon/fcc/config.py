"""routes.yaml + environment -> a validated `Config`.

Every mistake becomes a `ConfigError` whose message is one line naming the
key, so mitmdump can exit with it instead of serving something unexpected.
"""

from __future__ import annotations

import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from fcc.claude_code import CLASSES, FEATURES
from fcc.core.catalog import CATALOG
from fcc.core.anthropic_api import TIERS
from fcc.core.profiles import PROFILE_FIELDS, Profile, uses_client_credentials, validate_profile
from fcc.core.reasoning import POLICIES
from fcc.users import User, parse_users, read_users_file
from fcc.core.text_tools import setting_problems

# `main` is the tier route itself, so it has no class route of its own.
CLASS_ROUTES = tuple(c for c in CLASSES if c != "main") + FEATURES
# The route for the Codex CLI's model names (gpt-5.5, gpt-6.2-sol, ...): routes.yaml `models.codex`
# or MODEL_CODEX; without it Codex requests use `default`.
CODEX_TIER = "codex"
REPO_ROUTES = Path(__file__).resolve().parent.parent.parent / "routes.yaml"


class ConfigError(ValueError):
    """One clear line: what is wrong and where."""


# Profile fields that say which server, which credentials and which provider-wide limits: a route may not
# change them. Another server is another provider (`providers: {mine: {like: ...}}`), and one provider's
# request window and concurrency cap are shared by every route to it (the admission gate is per provider).
PROVIDER_ONLY: frozenset[str] = frozenset({
    "id", "transport", "base_url", "api_key_env", "auth_style", "local", "display_name", "notes", "docs_url",
    "requests_per_minute", "max_concurrency",
})  # fmt: skip
ROUTE_FIELDS: frozenset[str] = PROFILE_FIELDS - PROVIDER_ONLY
_PROFILE_TYPES = typing.get_type_hints(Profile)


class Overrides(BaseModel):
    """Profile fields a routes.yaml entry changes: the common ones by name, any other under `quirks`."""

    model_config = ConfigDict(extra="forbid")
    first_byte_timeout: float | None = Field(default=None, gt=0)
    idle_timeout: float | None = Field(default=None, gt=0)
    connect_timeout: float | None = Field(default=None, gt=0)
    max_tokens_cap: int | None = Field(default=None, ge=1)
    # The model's context window in tokens, when fcc cannot know it otherwise (fcc.limits).
    context_window: int | None = Field(default=None, ge=1024)
    # Tool-call dialects recovered from the model's text (fcc.core.text_tools): names, all, auto, off.
    text_tool_calls: tuple[str, ...] | None = None
    quirks: dict[str, Any] = Field(default_factory=dict)  # any other Profile field

    @field_validator("text_tool_calls", mode="before")
    @classmethod
    def _dialect_list(cls, value: object) -> object:
        if isinstance(value, bool):
            return ("all" if value else "off",)  # YAML reads a bare `off` as false
        return (value,) if isinstance(value, str) else value

    @field_validator("text_tool_calls")
    @classmethod
    def _known_dialects(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        problems = setting_problems(value or ())
        if problems:
            raise ValueError(problems[0])
        return value


class ProviderEntry(Overrides):
    """A routes.yaml provider: overrides of a built-in profile, or a custom provider."""

    like: str | None = None  # built-in profile a custom provider inherits its quirks from
    transport: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    auth_style: str | None = None
    requests_per_minute: int | None = Field(default=None, ge=1)
    max_concurrency: int | None = Field(default=None, ge=1)


def _slugs_are_entries(value: object) -> object:
    """`[a/b, {model: c/d, ...}]`: a bare slug is read as {model: slug}, so that a bad mapping's error names
    its own key (a `str | Entry` union reported the str branch first)."""
    if isinstance(value, list):
        return [{"model": item} if isinstance(item, str) else item for item in value]
    return value


class TargetEntry(Overrides):
    """One provider/model to try, with quirk overrides for this route only (e.g. a model's own output cap)."""

    model: str

    def has_overrides(self) -> bool:
        return bool(self.quirks) or any(
            getattr(self, name) is not None for name in Overrides.model_fields if name != "quirks"
        )


class RouteEntry(TargetEntry):
    reasoning: str | None = None
    fallbacks: list[TargetEntry] = Field(default_factory=list)
    # Only for classes.long_context: requests estimated above this many tokens take it
    # (default: the context window of the route they would otherwise take).
    over_tokens: int | None = Field(default=None, ge=1)
    _fallback_slugs = field_validator("fallbacks", mode="before")(_slugs_are_entries)

    @field_validator("reasoning")
    @classmethod
    def _known_policy(cls, value: str | None) -> str | None:
        if value is not None and value not in POLICIES:
            raise ValueError(f"must be one of {sorted(POLICIES)}")
        return value


class SharedStateEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str
    prefix: str = "fcc:"


class MetricsEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    listen: str = "127.0.0.1:9464"  # host:port, or a port alone (loopback)

    @field_validator("listen", mode="before")
    @classmethod
    def _port_alone(cls, value: object) -> object:
        return f"127.0.0.1:{value}" if isinstance(value, int) or (isinstance(value, str) and value.isdigit()) else value


class RoutesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    providers: dict[str, ProviderEntry] = Field(default_factory=dict)
    # A tier is a slug or a mapping; slugs are read as {model: slug} so that a bad mapping's
    # error names its own key (a `str | RouteEntry` union reported the str branch first).
    models: dict[str, RouteEntry] = Field(default_factory=dict)
    # Request classes (claude_code.CLASSES) and features (images, long_context) with their own route.
    classes: dict[str, RouteEntry] = Field(default_factory=dict)
    fallbacks: list[TargetEntry] = Field(default_factory=list)
    reasoning: str = "client"
    auth_token_env: str | None = None
    # A team gateway: replicas sharing quota state, per-user tokens and limits, metrics.
    shared_state: str | SharedStateEntry | None = None  # redis://host:6379/0 (or FCC_REDIS_URL)
    users: dict[str, Any] | None = None
    users_file: str | None = None
    metrics: MetricsEntry | None = None

    @field_validator("shared_state")
    @classmethod
    def _redis_url(cls, value: str | SharedStateEntry | None) -> str | SharedStateEntry | None:
        url = value.url if isinstance(value, SharedStateEntry) else value
        if url is not None and not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    _fallback_slugs = field_validator("fallbacks", mode="before")(_slugs_are_entries)

    @field_validator("models", "classes", mode="before")
    @classmethod
    def _slugs_are_routes(cls, value: object) -> object:
        if isinstance(value, dict):
            return {key: {"model": entry} if isinstance(entry, str) else entry for key, entry in value.items()}
        return value

    @field_validator("models")
    @classmethod
    def _known_tiers(cls, value: dict) -> dict:
        for key in value:
            if key not in ("default", *TIERS, CODEX_TIER):
                raise ValueError(f"unknown tier {key!r} (use default, opus, sonnet, haiku or codex)")
            if value[key].over_tokens is not None:
                raise ValueError(f"{key}: over_tokens belongs under classes.long_context")
        return value

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, value: dict) -> dict:
        for key, entry in value.items():
            if key not in CLASS_ROUTES:
                raise ValueError(f"unknown request class {key!r} (use {', '.join(CLASS_ROUTES)})")
            if entry.over_tokens is not None and key != "long_context":
                raise ValueError(f"{key}: over_tokens applies to long_context only")
        return value

    @field_validator("reasoning")
    @classmethod
    def _known_policy(cls, value: str) -> str:
        if value not in POLICIES:
            raise ValueError(f"must be one of {sorted(POLICIES)}")
        return value


@dataclass(frozen=True)
class Target:
    """One upstream to try: the profile in effect for it (the provider's, with the route's own
    overrides applied) and the model name the provider knows."""

    profile: Profile
    model: str

    @property
    def slug(self) -> str:
        return f"{self.profile.id}/{self.model}"


@dataclass(frozen=True)
class TierRoute:
    """A tier's route, or a request class's (whose reasoning is "" when routes.yaml leaves it
    to the router: off for titles and side requests, the tier's policy otherwise)."""

    name: str
    target: Target
    reasoning: str
    fallbacks: tuple[Target, ...] = ()
    over_tokens: int | None = None


@dataclass(frozen=True)
class Config:
    providers: dict[str, Profile]
    tiers: dict[str, TierRoute]
    reasoning: str = "client"
    classes: dict[str, TierRoute] = field(default_factory=dict)
    fallbacks: tuple[Target, ...] = ()
    auth_token: str | None = None
    source: str = "(built-in defaults)"
    routed_providers: frozenset[str] = field(default_factory=frozenset)
    users: tuple[User, ...] = ()
    shared_state: str | None = None  # a Redis URL; None keeps the state in this process
    shared_state_prefix: str = "fcc:"
    metrics_listen: str | None = None  # host:port of the Prometheus endpoint; None: off


def env_base_url_name(provider_id: str) -> str:
    """`OLLAMA_BASE_URL` etc.; the Anthropic one is `FCC_ANTHROPIC_BASE_URL`, because
    `ANTHROPIC_BASE_URL` is what the client uses to find fcc."""
    name = f"{provider_id.upper()}_BASE_URL"
    return "FCC_ANTHROPIC_BASE_URL" if name == "ANTHROPIC_BASE_URL" else name


def find_routes_file(option: str, environ: dict[str, str]) -> Path | None:
    if option:
        return Path(option).expanduser()
    if environ.get("FCC_CONFIG"):
        return Path(environ["FCC_CONFIG"]).expanduser()
    cwd = Path.cwd() / "routes.yaml"
    if cwd.is_file():
        return cwd
    return REPO_ROUTES if REPO_ROUTES.is_file() else None


def _read_file(path: Path) -> RoutesFile:
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (expected UTF-8 YAML)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    try:
        return RoutesFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        message = str(first.get("msg") or "invalid").removeprefix("Value error, ")
        raise ConfigError(f"{path}: {where}: {message}") from None


def _build_provider(pid: str, entry: ProviderEntry | None, environ: dict[str, str]) -> Profile:
    base = CATALOG.get(pid)
    if entry is not None and base is None:
        if entry.like is not None:
            if entry.like not in CATALOG:
                raise ConfigError(f"providers.{pid}.like: unknown provider {entry.like!r}")
            base = CATALOG[entry.like].replace(id=pid, display_name=pid)
        elif entry.transport is None or entry.base_url is None:
            raise ConfigError(
                f"providers.{pid}: not a built-in provider; a custom one needs transport and base_url "
                f"(built-ins: {', '.join(CATALOG)})"
            )
        else:
            base = Profile(
                id=pid,
                transport=entry.transport,  # type: ignore[arg-type]
                base_url=entry.base_url.rstrip("/"),
                api_key_env=entry.api_key_env,
                auth_style="bearer" if entry.api_key_env else "none",
                local=entry.api_key_env is None,
                reasoning_control="anthropic" if entry.transport == "anthropic_messages" else "reasoning_effort",
            )
    if base is None:
        raise ConfigError(f"unknown provider {pid!r} (known: {', '.join(CATALOG)})")
    changes = _changes(entry, f"providers.{pid}", PROFILE_FIELDS - {"id"}) if entry is not None else {}
    env_url = environ.get(env_base_url_name(pid))
    if env_url:
        changes["base_url"] = env_url.rstrip("/")
    profile = base.replace(**changes) if changes else base
    problems = validate_profile(profile)
    if problems:
        raise ConfigError(f"providers.{pid}: {problems[0]}")
    return profile


def _changes(entry: Overrides, where: str, allowed: frozenset[str]) -> dict[str, Any]:
    """The profile fields an entry sets, checked against the Profile's own field types."""
    changes: dict[str, Any] = {}
    for name in type(entry).model_fields:
        value = getattr(entry, name)
        if name in PROFILE_FIELDS and value is not None:
            changes[name] = value.rstrip("/") if name == "base_url" else value
    for name, value in entry.quirks.items():
        if name not in PROFILE_FIELDS:
            raise ConfigError(f"{where}.quirks.{name}: not a profile field")
        if name not in allowed:
            raise ConfigError(f"{where}.quirks.{name}: a provider's own setting, not a route's; set it under providers:")
        if name in ("extra_body", "model_windows") and isinstance(value, dict):
            value = list(value.items())  # YAML's natural `{tool_stream: true}`, `{"glm-4.6*": 200000}`
        try:
            changes[name] = TypeAdapter(_PROFILE_TYPES[name]).validate_python(value)
        except ValidationError as exc:
            raise ConfigError(f"{where}.quirks.{name}: {exc.errors()[0]['msg']} (got {value!r})") from None
    return changes


def builtin_provider(pid: str, environ: dict[str, str]) -> Profile:
    """A built-in provider as the environment configures it (`<ID>_BASE_URL` applied)."""
    return _build_provider(pid, None, environ)


def _target(
    slug: str, key: str, providers: dict[str, Profile], environ: dict[str, str], entry: TargetEntry | None = None
) -> Target:
    pid, sep, model = slug.partition("/")
    if not sep or not model:
        raise ConfigError(f"{key}: {slug!r} is not a provider/model slug (e.g. ollama/qwen3-coder:30b)")
    if pid not in providers:
        try:
            providers[pid] = _build_provider(pid, None, environ)
        except ConfigError as exc:
            raise ConfigError(f"{key}: {exc}") from None
    profile = providers[pid]
    if entry is not None and entry.has_overrides():
        profile = profile.replace(**_changes(entry, key, ROUTE_FIELDS))
        problems = validate_profile(profile)
        if problems:
            raise ConfigError(f"{key}: {problems[0]}")
    return Target(profile, model)


def _class_routes(routes: RoutesFile, providers: dict[str, Profile], env: dict[str, str]) -> dict[str, TierRoute]:
    """classes: in routes.yaml, each overridable by MODEL_<CLASS> (MODEL_TITLE, MODEL_LONG_CONTEXT...)."""
    entries: dict[str, tuple[RouteEntry, str]] = {name: (entry, f"classes.{name}") for name, entry in routes.classes.items()}
    for name in CLASS_ROUTES:
        var = f"MODEL_{name.upper()}"
        if env.get(var):
            existing = entries.get(name)
            entries[name] = (_replaced_model(existing[0] if existing else None, env[var]), var)
    out: dict[str, TierRoute] = {}
    for name, (entry, where) in entries.items():
        target = _target(entry.model, where, providers, env, entry)
        fallbacks = _fallback_targets(entry, f"classes.{name}", providers, env)
        out[name] = TierRoute(name, target, entry.reasoning or "", fallbacks, entry.over_tokens)
    return out


def _replaced_model(existing: RouteEntry | None, model: str) -> RouteEntry:
    """A route whose model an environment variable replaces: it keeps its reasoning, fallbacks and
    threshold, not the quirk overrides written for the model it replaced."""
    if existing is None:
        return RouteEntry(model=model)
    if existing.model == model:
        return existing
    return RouteEntry(model=model, reasoning=existing.reasoning, fallbacks=existing.fallbacks,
                      over_tokens=existing.over_tokens)


def _fallback_targets(
    entry: RouteEntry, where: str, providers: dict[str, Profile], env: dict[str, str]
) -> tuple[Target, ...]:
    return tuple(
        _target(fb.model, f"{where}.fallbacks.{i}", providers, env, fb) for i, fb in enumerate(entry.fallbacks)
    )


def load_config(option: str = "", environ: dict[str, str] | None = None) -> Config:
    env = dict(os.environ if environ is None else environ)
    path = find_routes_file(option, env)
    routes = _read_file(path) if path is not None else RoutesFile()
    providers = {pid: _build_provider(pid, entry, env) for pid, entry in routes.providers.items()}

    models: dict[str, RouteEntry] = dict(routes.models)
    where = {tier: f"models.{tier}" for tier in models}  # what an error names: the key or the variable
    for tier, var in (("default", "MODEL"), *((t, f"MODEL_{t.upper()}") for t in TIERS), (CODEX_TIER, "MODEL_CODEX")):
        if env.get(var):
            where[tier] = var
            models[tier] = _replaced_model(models.get(tier), env[var])
    global_fallbacks = list(routes.fallbacks)
    fallbacks_where = [f"fallbacks.{i}" for i in range(len(global_fallbacks))]
    if env.get("MODEL_FALLBACKS"):
        global_fallbacks = [TargetEntry(model=s.strip()) for s in env["MODEL_FALLBACKS"].split(",") if s.strip()]
        fallbacks_where = ["MODEL_FALLBACKS"] * len(global_fallbacks)
    reasoning = env.get("FCC_REASONING") or routes.reasoning
    if reasoning not in POLICIES:
        raise ConfigError(f"FCC_REASONING: {reasoning!r} is not one of {sorted(POLICIES)}")

    tiers: dict[str, TierRoute] = {}
    for tier, route in models.items():
        target = _target(route.model, where[tier], providers, env, route)
        fallbacks = _fallback_targets(route, f"models.{tier}", providers, env)
        tiers[tier] = TierRoute(tier, target, route.reasoning or reasoning, fallbacks)
    fallbacks = tuple(
        _target(fb.model, key, providers, env, fb) for fb, key in zip(global_fallbacks, fallbacks_where, strict=True)
    )
    classes = _class_routes(routes, providers, env)

    routed = {route.target.profile.id for route in (*tiers.values(), *classes.values())}
    routed |= {t.profile.id for route in (*tiers.values(), *classes.values()) for t in route.fallbacks}
    routed |= {t.profile.id for t in fallbacks}
    for pid in sorted(routed):
        profile = providers[pid]
        if profile.api_key_env and profile.auth_style != "none" and not profile.api_key(env) \
                and not uses_client_credentials(profile):
            raise ConfigError(
                f"provider {pid!r} is routed but its key variable {profile.api_key_env} is not set"
            )
    auth_env = routes.auth_token_env or "FCC_AUTH_TOKEN"
    auth_token = env.get(auth_env) or None
    users = _users(routes, path)
    shared = routes.shared_state
    shared_url = env.get("FCC_REDIS_URL") or (shared.url if isinstance(shared, SharedStateEntry) else shared)
    if shared_url and not shared_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"FCC_REDIS_URL: {shared_url.split('@')[-1]!r} is not a redis://, rediss:// or unix:// URL")
    metrics_listen = env.get("FCC_METRICS_LISTEN") or (routes.metrics.listen if routes.metrics else None)
    if metrics_listen:
        _check_listen(metrics_listen)
    return Config(
        providers=providers,
        tiers=tiers,
        reasoning=reasoning,
        fallbacks=fallbacks,
        classes=classes,
        auth_token=auth_token,
        source=str(path) if path else "(no routes.yaml; environment only)",
        routed_providers=frozenset(routed),
        users=users,
        shared_state=shared_url or None,
        shared_state_prefix=shared.prefix if isinstance(shared, SharedStateEntry) else "fcc:",
        metrics_listen=metrics_listen or None,
    )


def _users(routes: RoutesFile, path: Path | None) -> tuple[User, ...]:
    if routes.users is not None and routes.users_file:
        raise ConfigError(f"{path}: users and users_file: use one of them")
    try:
        if routes.users_file:
            users_path = Path(routes.users_file).expanduser()
            if not users_path.is_absolute() and path is not None:
                users_path = path.parent / users_path
            return read_users_file(users_path)
        return parse_users(routes.users, "users")
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}" if routes.users is not None else str(exc)) from None


def _check_listen(listen: str) -> None:
    host, sep, port = listen.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"metrics.listen: {listen!r} is not host:port (e.g. 127.0.0.1:9464)")
