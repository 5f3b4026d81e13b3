"""`fcc doctor`: which providers are configured, and (with --check) which answer.

The listing only says whether a key variable is set; a key's value is never
printed, not even in part, and upstream error bodies (which sometimes echo the
key back) are read for classification but never shown.

The check costs nothing billable: one GET of the provider's model list.
Classification is pure (`classify_response`, `classify_exception`) so it can be
tested without a network.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TextIO
from urllib.parse import urlsplit

import httpx

from fcc.config import ConfigError, env_base_url_name, load_config
from fcc.core.catalog import CATALOG
from fcc.core.anthropic_api import ANTHROPIC_VERSION
from fcc.core.credentials import redact
from fcc.core.profiles import Profile
from fcc.core.text_tools import DIALECTS, resolve

DEFAULT_TIMEOUT_SECONDS = 8.0
# Error phrases that mean "bad key" on providers that answer 400 instead of 401 (Gemini).
_BAD_KEY_MARKERS = ("api_key_invalid", "api key not valid", "invalid api key", "incorrect api key",
                    "invalid_api_key", "authentication")
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class Status(str, Enum):
    REACHABLE = "reachable"
    AUTH_FAILED = "auth failed"
    NOT_REACHABLE = "not reachable"
    NO_KEY = "no key"
    UNEXPECTED = "unexpected answer"


USABLE_STATUSES: frozenset[Status] = frozenset({Status.REACHABLE})


@dataclass(frozen=True, slots=True)
class ProbeResult:
    provider_id: str
    status: Status
    detail: str

    @property
    def usable(self) -> bool:
        return self.status in USABLE_STATUSES


def probe_url(profile: Profile) -> str:
    """The model-list URL: free to call, and it exercises the key on every provider we know."""
    if profile.transport == "anthropic_messages":
        return f"{profile.base_url}/v1/models"
    return f"{profile.base_url}/models"


def probe_headers(profile: Profile, key: str | None) -> dict[str, str]:
    """The same auth headers the engine will send, so a pass here means a pass there."""
    headers = {"accept": "application/json", "user-agent": "fcc-doctor"}
    if profile.transport == "anthropic_messages":
        headers["anthropic-version"] = ANTHROPIC_VERSION
    if key and profile.auth_style == "bearer":
        headers["authorization"] = f"Bearer {key}"
    elif key and profile.auth_style == "x-api-key":
        headers["x-api-key"] = key
    return headers


def classify_response(status_code: int, body: str, transport: str = "openai_chat") -> tuple[Status, str]:
    """What one HTTP answer to the probe says about the provider. `body` is never echoed."""
    code = f"HTTP {status_code}"
    if 200 <= status_code < 300:
        return Status.REACHABLE, code
    if status_code in (401, 403):
        return Status.AUTH_FAILED, f"{code}: key rejected"
    if status_code == 402:
        return Status.AUTH_FAILED, f"{code}: account has no credit"
    if status_code == 400 and any(marker in body.lower() for marker in _BAD_KEY_MARKERS):
        return Status.AUTH_FAILED, f"{code}: key rejected"
    if status_code in (408, 429):
        # The server answered and did not refuse the key; it is only busy right now.
        return Status.REACHABLE, f"{code}: busy or rate limited right now"
    if status_code in (404, 405) and transport == "anthropic_messages":
        # Anthropic-compatible endpoints of other vendors often have no model list.
        return Status.REACHABLE, f"{code}: no model list here, key not verified"
    if status_code >= 500:
        return Status.NOT_REACHABLE, f"{code}: server error"
    if status_code == 404:
        return Status.UNEXPECTED, f"{code}: no model list at this URL (wrong base_url?)"
    return Status.UNEXPECTED, code


def classify_exception(error: BaseException) -> tuple[Status, str]:
    """What a failed exchange says: always "not reachable", with the reason in words."""
    if isinstance(error, httpx.TimeoutException):
        return Status.NOT_REACHABLE, "timed out"
    if isinstance(error, httpx.ConnectError):
        return Status.NOT_REACHABLE, "connection failed"
    if isinstance(error, httpx.TransportError):
        return Status.NOT_REACHABLE, f"transport error ({type(error).__name__})"
    return Status.NOT_REACHABLE, f"error ({type(error).__name__})"


def _redacted(text: str, secret: str | None) -> str:
    # Belt and braces: details never include bodies, but an exception text could carry a URL or header.
    return redact(text, (secret,) if secret else ())


def _is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "") in _LOOPBACK_HOSTS


async def probe(profile: Profile, key: str | None, client: httpx.AsyncClient) -> ProbeResult:
    if key is None and not profile.local:
        return ProbeResult(profile.id, Status.NO_KEY, f"{profile.api_key_env} is not set")
    started = time.monotonic()
    try:
        response = await client.get(probe_url(profile), headers=probe_headers(profile, key))
    except Exception as error:  # noqa: BLE001 - every failure is a status line, never a traceback
        status, detail = classify_exception(error)
    else:
        status, detail = classify_response(response.status_code, response.text, profile.transport)
        detail = f"{detail} in {time.monotonic() - started:.2f} s"
    return ProbeResult(profile.id, status, _redacted(detail, key))


async def check_providers(
    profiles: Sequence[Profile], environ: Mapping[str, str], timeout: float = DEFAULT_TIMEOUT_SECONDS
) -> list[ProbeResult]:
    """Probe every profile concurrently; results in the order given."""
    limits = httpx.Timeout(timeout, connect=min(timeout, 5.0))
    env = dict(environ)
    # Proxy variables are honoured for hosted providers but never for a server on this machine.
    async with httpx.AsyncClient(timeout=limits, trust_env=True) as remote, \
            httpx.AsyncClient(timeout=limits, trust_env=False) as loopback:
        return list(await asyncio.gather(*(
            probe(p, p.api_key(env), loopback if _is_loopback(p.base_url) else remote) for p in profiles
        )))


def with_env_base_urls(catalog: Mapping[str, Profile], environ: Mapping[str, str]) -> dict[str, Profile]:
    """The catalog with `<ID>_BASE_URL` overrides applied, as fcc itself applies them."""
    effective: dict[str, Profile] = {}
    for provider_id, profile in catalog.items():
        override = environ.get(env_base_url_name(provider_id), "").strip().rstrip("/")
        effective[provider_id] = profile.replace(base_url=override) if override else profile
    return effective


def listing_lines(profiles: Sequence[Profile], environ: Mapping[str, str]) -> list[str]:
    """One line per provider: id, transport, key variable and whether it is set (never its value)."""
    env = dict(environ)
    lines = [f"  {'id':<20}{'transport':<20}{'key variable':<22}key set"]
    for p in profiles:
        if p.api_key_env is None:
            variable, present = "-", "not needed (local)"
        else:
            variable, present = p.api_key_env, "yes" if p.api_key(env) else "no"
        url_variable = env_base_url_name(p.id)
        if env.get(url_variable, "").strip():
            present += f"  (base URL from {url_variable})"
        lines.append(f"  {p.id:<20}{p.transport:<20}{variable:<22}{present}")
    return lines


def text_tool_lines(profiles: Sequence[Profile], environ: Mapping[str, str]) -> list[str]:
    """Which tool-call dialects written as text fcc recovers: per provider setting, per route, per dialect."""
    lines = ["Tool calls written as text that fcc turns into real tool calls "
             "(routes.yaml `text_tool_calls` per route, or a provider's quirks):"]
    groups: dict[str, list[str]] = {}
    for p in profiles:
        if p.transport != "openai_chat":
            continue
        setting = ", ".join(p.text_tool_calls) or "off"
        label = {"all": "every dialect", "auto": "by model name (auto)", "off": "off"}.get(setting, setting)
        groups.setdefault(label, []).append(p.id)
    for label, ids in groups.items():
        lines.append(f"  {label}: {', '.join(ids)}")
    try:
        config = load_config("", dict(environ))
    except ConfigError as error:
        lines.append(f"  routes: not loaded ({error})")
    else:
        for name, route in config.tiers.items():
            target = route.target
            if target.profile.transport != "openai_chat":
                continue
            dialects = resolve(target.profile.text_tool_calls, target.model)
            lines.append(f"  route {name} -> {target.slug}: {', '.join(dialects) or 'none'}")
    for dialect in DIALECTS.values():
        opener = next((o for o in dialect.openers if o), "(whole message)")
        models = ", ".join(dialect.models)
        lines.append(f"  dialect {dialect.name:<12} {opener:<30} auto for model names matching (regex): {models}")
    return lines


def select_for_check(
    catalog: Mapping[str, Profile], environ: Mapping[str, str], requested: Sequence[str]
) -> list[Profile]:
    """Named providers, or else every hosted provider whose key is set.

    Local servers are checked only when named: most machines run none of them,
    and an unconditional check would make doctor fail everywhere.
    """
    if requested:
        return [catalog[provider_id] for provider_id in dict.fromkeys(requested)]
    env = dict(environ)
    return [p for p in catalog.values() if not p.local and p.api_key(env)]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fcc doctor", description="List providers and check which ones answer.")
    parser.add_argument("--check", action="store_true",
                        help="contact each provider with a key (or each --provider) with one free request")
    parser.add_argument("--provider", action="append", default=[], metavar="ID",
                        help="limit to this provider (repeatable); local servers are checked only when named")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS, metavar="SECONDS",
                        help=f"per-request timeout (default {DEFAULT_TIMEOUT_SECONDS:g})")
    return parser


def doctor_main(
    argv: list[str],
    *,
    catalog: Mapping[str, Profile] | None = None,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
) -> int:
    """Run `fcc doctor`. 0: all checked providers usable; 1: some are not; 2: bad arguments."""
    if catalog is None:
        catalog = CATALOG
    environ = os.environ if environ is None else environ
    catalog = with_env_base_urls(catalog, environ)
    out = sys.stdout if out is None else out
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_request:
        return 0 if exit_request.code == 0 else 2
    unknown = [provider_id for provider_id in args.provider if provider_id not in catalog]
    if unknown:
        print(f"fcc doctor: unknown provider {', '.join(map(repr, unknown))}; "
              f"known providers: {', '.join(catalog)}", file=out)
        return 2

    shown = [catalog[i] for i in dict.fromkeys(args.provider)] if args.provider else list(catalog.values())
    print(f"fcc providers ({len(shown)}); keys come from the environment and are never shown:", file=out)
    for line in listing_lines(shown, environ):
        print(line, file=out)
    print("", file=out)
    for line in text_tool_lines(shown, environ):
        print(line, file=out)
    if not args.check:
        print("\nRun `fcc doctor --check` to contact every provider with a key "
              "(--provider ID for others, e.g. local servers).", file=out)
        return 0

    selected = select_for_check(catalog, environ, args.provider)
    if not selected:
        print("\nNothing to check: no hosted provider has its key variable set. "
              "Set one, or name a local server with --provider.", file=out)
        return 1
    results = asyncio.run(check_providers(selected, environ, args.timeout))
    print("\nCheck:", file=out)
    for result in results:
        print(f"  {result.provider_id:<20}{result.status.value:<19}{result.detail}", file=out)
    unusable = [r for r in results if not r.usable]
    print(f"\n{len(results) - len(unusable)} usable, {len(unusable)} not usable.", file=out)
    return 1 if unusable else 0
