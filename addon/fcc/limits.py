"""Each route's context window and output cap, and the honest answer to a prompt that won't fit.

Where a window comes from, first found wins:
  1. routes.yaml `context_window` on the route or the provider (the profile's `context_window`);
  2. the provider's own model list (fcc.engine.model_lists), where it says it;
  3. catalog data: the profile's `model_windows` globs.
The output cap is the smaller of the list's and the profile's `max_tokens_cap` (what fcc sends).
Unknown windows are never enforced. A request estimated above every target's window
gets Anthropic's own error, `prompt is too long: N tokens > M maximum`, which is the
text Claude Code reacts to by compacting (CLI 2.1.330 matches that exact pattern);
a provider's 400 or a local server's silent truncation would not make it compact.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from collections.abc import Callable
from dataclasses import replace

from fcc.config import Config, Target
from fcc.core.errors import AnthropicError, make_error
from fcc.model_picker import Listed
from fcc.router import Route

# (profile, model) -> what the provider's model list says (fcc.engine.model_lists.lookup), or None.
Lookup = Callable[..., Listed | None]


def catalog_window(target: Target) -> int | None:
    lowered = target.model.lower()
    for pattern, window in target.profile.model_windows:
        if fnmatchcase(lowered, pattern.lower()) or fnmatchcase(lowered.rsplit("/", 1)[-1], pattern.lower()):
            return window
    return None


def limits(target: Target, config: Config, lookup: Lookup | None = None) -> tuple[int | None, int | None]:
    """(context window, output cap) in tokens; None where unknown. `config` is for future
    per-deployment knowledge; today everything a route says is in its target's profile."""
    listed = lookup(target.profile, target.model) if lookup is not None else None
    window = target.profile.context_window or (listed.context_window if listed else None) or catalog_window(target)
    caps = [c for c in (target.profile.max_tokens_cap, listed.max_output_tokens if listed else None) if c]
    return window, min(caps) if caps else None


def prompt_too_long(tokens: int, maximum: int) -> AnthropicError:
    # Exactly Anthropic's wording: Claude Code parses both numbers out of it.
    return make_error(400, f"prompt is too long: {tokens} tokens > {maximum} maximum", should_retry=False)


def fit(route: Route, tokens: int, config: Config, lookup: Lookup | None = None) -> Route | AnthropicError:
    """The route with only the targets the prompt fits, or the error to answer at once."""
    fitting = []
    largest = 0
    for target in route.targets:
        window, _ = limits(target, config, lookup)
        if window is None or tokens <= window:
            fitting.append(target)
        else:
            largest = max(largest, window)
    if not fitting:
        return prompt_too_long(tokens, largest)
    if len(fitting) == len(route.targets):
        return route
    return replace(route, targets=tuple(fitting))
