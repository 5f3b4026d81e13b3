"""Who is asking: proxy tokens, per-user access to routes and providers, per-user limits.

Three modes, chosen by routes.yaml and the environment:

- no `users` and no FCC_AUTH_TOKEN: single-user, loopback only (the zero-config default);
  every request is attributed to `local`.
- FCC_AUTH_TOKEN (or `auth_token_env`): one token, user `default`.
- a `users` section (or `users_file`): each user has a token, stored as its sha256 hex
  digest (`fcc token NAME` makes one), the tiers and providers they may use, and limits
  (requests per minute, tokens per day, a daily/monthly budget in the catalog's prices)
  that the shared state enforces across replicas.

A missing or wrong token is 403 permission_error, never 401: Claude Code retries a 401
for about three minutes, and no retry fixes a wrong token. Tokens are never logged,
recorded or used as metric labels; only the user's name is.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from fcc.core.anthropic_api import TIERS
from fcc.core.errors import AnthropicError, make_error

ROUTE_NAMES = ("default", *TIERS, "codex", "direct")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


class UserEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token_sha256: str
    routes: list[str] | None = None  # tiers this user may use (default, opus, sonnet, haiku, direct)
    providers: list[str] | None = None  # provider ids this user's requests may reach
    requests_per_minute: int | None = Field(default=None, ge=1)
    tokens_per_day: int | None = Field(default=None, ge=1)
    budget_usd_per_day: float | None = Field(default=None, gt=0)
    budget_usd_per_month: float | None = Field(default=None, gt=0)

    @field_validator("token_sha256")
    @classmethod
    def _hex_digest(cls, value: str) -> str:
        value = value.strip().lower().removeprefix("sha256:")
        if not _SHA256.match(value):
            raise ValueError("must be the sha256 hex digest of the token (64 hex digits; `fcc token NAME` prints one)")
        return value

    @field_validator("routes")
    @classmethod
    def _known_routes(cls, value: list[str] | None) -> list[str] | None:
        for name in value or ():
            if name not in ROUTE_NAMES:
                raise ValueError(f"unknown route {name!r} (use {', '.join(ROUTE_NAMES)})")
        return value


@dataclass(frozen=True)
class User:
    name: str
    token_sha256: str = ""
    routes: frozenset[str] | None = None
    providers: frozenset[str] | None = None
    requests_per_minute: int | None = None
    tokens_per_day: int | None = None
    budget_usd_per_day: float | None = None
    budget_usd_per_month: float | None = None

    @property
    def limited(self) -> bool:
        return any(v is not None for v in (self.requests_per_minute, self.tokens_per_day,
                                            self.budget_usd_per_day, self.budget_usd_per_month))


LOCAL = User("local")  # loopback single-user mode
DEFAULT = "default"  # the one FCC_AUTH_TOKEN user


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """(token, its sha256 digest): 256 random bits, so a plain sha256 is a sound way to store it."""
    token = "fcc-" + secrets.token_urlsafe(32)
    return token, token_digest(token)


def parse_users(raw: object, where: str) -> tuple[User, ...]:
    """The `users` mapping (from routes.yaml or its `users_file`) -> users; ValueError names the key."""
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a mapping of user name -> settings")
    users: list[User] = []
    seen: dict[str, str] = {}
    for name, entry in raw.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"{where}.{name}: a user name is letters, digits and _.@- (at most 64)")
        try:
            parsed = UserEntry.model_validate(entry or {})
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(part) for part in first.get("loc", ()))
            message = str(first.get("msg") or "invalid").removeprefix("Value error, ")
            raise ValueError(f"{where}.{name}.{key}: {message}") from None
        if parsed.token_sha256 in seen:
            raise ValueError(f"{where}.{name}: same token as user {seen[parsed.token_sha256]!r}")
        seen[parsed.token_sha256] = name
        users.append(User(
            name=name,
            token_sha256=parsed.token_sha256,
            routes=frozenset(parsed.routes) if parsed.routes is not None else None,
            providers=frozenset(parsed.providers) if parsed.providers is not None else None,
            requests_per_minute=parsed.requests_per_minute,
            tokens_per_day=parsed.tokens_per_day,
            budget_usd_per_day=parsed.budget_usd_per_day,
            budget_usd_per_month=parsed.budget_usd_per_month,
        ))
    return tuple(users)


def read_users_file(path: Path) -> tuple[User, ...]:
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ValueError(f"users_file {path}: cannot read it ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"users_file {path}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if isinstance(raw, dict) and set(raw) == {"users"}:
        raw = raw["users"]
    return parse_users(raw, f"{path}: users")


def offered_token(headers: Mapping[str, str]) -> str:
    offered = headers.get("x-api-key", "") or ""
    bearer = headers.get("authorization", "") or ""
    if not offered and bearer.lower().startswith("bearer "):
        offered = bearer[7:].strip()
    return offered


def authenticate(headers: Mapping[str, str], users: tuple[User, ...], single_token: str | None) -> User | AnthropicError:
    """The user a request belongs to, or the 403 to answer it with."""
    if not users and not single_token:
        return LOCAL
    offered = offered_token(headers)
    if not users:
        assert single_token is not None
        if hmac.compare_digest(offered.encode(), single_token.encode()):
            return User(DEFAULT)
        return _refused("set ANTHROPIC_AUTH_TOKEN to FCC_AUTH_TOKEN")
    digest = token_digest(offered).encode()
    found: User | None = None
    for user in users:  # every digest is compared, so the time taken does not tell which one matched
        if hmac.compare_digest(digest, user.token_sha256.encode()) and offered:
            found = user
    if found is None:
        return _refused("set ANTHROPIC_AUTH_TOKEN to the token your fcc admin gave you")
    return found


def _refused(hint: str) -> AnthropicError:
    return make_error(403, f"fcc: missing or wrong proxy token ({hint})", error_type="permission_error")


def restrict(user: User, route):  # route: fcc.router.Route
    """The route limited to the user's providers, or the 403 that says what they may use."""
    if user.routes is not None and route.tier not in user.routes:
        allowed = ", ".join(sorted(user.routes)) or "none"
        return make_error(403, f"fcc: user {user.name!r} may not use the {route.tier!r} route "
                               f"(model {route.client_model!r}); allowed routes: {allowed}",
                          error_type="permission_error")
    if user.providers is None:
        return route
    targets = tuple(t for t in route.targets if t.profile.id in user.providers)
    if not targets:
        wanted = ", ".join(dict.fromkeys(t.profile.id for t in route.targets))
        allowed = ", ".join(sorted(user.providers)) or "none"
        return make_error(403, f"fcc: user {user.name!r} may not use provider {wanted} "
                               f"(model {route.client_model!r}); allowed providers: {allowed}",
                          error_type="permission_error")
    return dataclasses.replace(route, targets=targets) if targets != route.targets else route
