"""Per-user admission (route access, requests per minute, tokens per day, budgets) and usage
counters, kept in the shared state so every replica enforces the same totals.

Usage keys (all expire): `user:<name>:day:<YYYY-MM-DD>`, `user:<name>:month:<YYYY-MM>`,
`model:<provider/model>:day:<YYYY-MM-DD>`, `all:day:<YYYY-MM-DD>`; counters `requests`,
`input_tokens`, `output_tokens`, `cost_usd`. Days are UTC.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import math

from fcc.core.errors import AnthropicError, make_error
from fcc.engine import admission, metrics, shared_state
from fcc.router import Route
from fcc.users import User, restrict

log = logging.getLogger("fcc")

DAY_TTL = 8 * 86400.0
MONTH_TTL = 40 * 86400.0
_BACKGROUND: set[asyncio.Task] = set()


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def day_key(now: datetime.datetime | None = None) -> str:
    return (now or _now()).strftime("%Y-%m-%d")


def month_key(now: datetime.datetime | None = None) -> str:
    return (now or _now()).strftime("%Y-%m")


def _until_tomorrow(now: datetime.datetime) -> float:
    tomorrow = (now + datetime.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (tomorrow - now).total_seconds()


def _until_next_month(now: datetime.datetime) -> float:
    first = (now.replace(day=28) + datetime.timedelta(days=4)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (first - now).total_seconds()


def _over(user: User, what: str, reset_in: float) -> AnthropicError:
    # retry-after beyond 60 s makes Claude Code stop at once instead of retrying for minutes.
    return make_error(429, f"fcc: user {user.name!r} has used {what}; it resets in "
                           f"{_duration(reset_in)} (UTC)", retry_after=math.ceil(reset_in))


def _duration(seconds: float) -> str:
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours} h {rest // 60} min" if hours else f"{max(1, rest // 60)} min"


async def admit(user: User, route: Route) -> Route | AnthropicError:
    """The route this user may take now, or the error to answer with (403 access, 429 limits)."""
    restricted = restrict(user, route)
    if isinstance(restricted, AnthropicError) or not user.limited:
        return restricted
    state = shared_state.STATE
    now = _now()
    if user.tokens_per_day or user.budget_usd_per_day:
        used = await state.usage(f"user:{user.name}:day:{day_key(now)}")
        tokens = used.get("input_tokens", 0) + used.get("output_tokens", 0)
        if user.tokens_per_day and tokens >= user.tokens_per_day:
            return _over(user, f"its {user.tokens_per_day} tokens for today", _until_tomorrow(now))
        if user.budget_usd_per_day and used.get("cost_usd", 0) >= user.budget_usd_per_day:
            return _over(user, f"its ${user.budget_usd_per_day:g} budget for today", _until_tomorrow(now))
    if user.budget_usd_per_month:
        used = await state.usage(f"user:{user.name}:month:{month_key(now)}")
        if used.get("cost_usd", 0) >= user.budget_usd_per_month:
            return _over(user, f"its ${user.budget_usd_per_month:g} budget for this month", _until_next_month(now))
    if user.requests_per_minute:
        window = admission.WINDOW_SECONDS
        taken, wait = await state.take_window(f"user:{user.name}", user.requests_per_minute, window,
                                              admission.window_member())
        if not taken:
            per = "minute" if window == 60 else f"{window:g} s"
            return make_error(429, f"fcc: user {user.name!r} is over {user.requests_per_minute} requests per {per}; "
                                   f"retry in {math.ceil(wait)} s", retry_after=max(1, math.ceil(wait)))
    return restricted


def record_usage(user: str, served: str, tokens_in: int, tokens_out: int, cost: float | None) -> None:
    """Count one answered request (in the background: the client has its answer already)."""
    amounts = {"requests": 1, "input_tokens": tokens_in, "output_tokens": tokens_out, "cost_usd": cost or 0.0}
    now = _now()
    day, month = day_key(now), month_key(now)
    writes = [
        (f"user:{user}:day:{day}", DAY_TTL),
        (f"user:{user}:month:{month}", MONTH_TTL),
        (f"model:{served}:day:{day}", DAY_TTL),
        (f"all:day:{day}", DAY_TTL),
    ]

    async def write() -> None:
        state = shared_state.STATE
        for key, ttl in writes:
            await state.add_usage(key, amounts, ttl)

    try:
        task = asyncio.get_running_loop().create_task(write())
    except RuntimeError:
        return
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


async def settled() -> None:
    """Wait for usage writes in flight (shutdown, tests)."""
    if _BACKGROUND:
        await asyncio.gather(*list(_BACKGROUND), return_exceptions=True)


def configure(config) -> None:  # config: fcc.config.Config | None
    """Apply the team settings of a (re)loaded config: shared state and the metrics endpoint."""
    if config is None:
        return
    shared_state.configure(config.shared_state, config.shared_state_prefix)
    metrics.configure(config.metrics_listen)
