"""The client's thinking request plus the route's policy -> one reasoning decision.

Resolved once per request, then encoded the way the provider's profile says.
Never sniffs model names: the profile and the route carry all the knowledge.
"""

from __future__ import annotations

from typing import Any

EFFORT_ORDER = ("minimal", "low", "medium", "high", "xhigh", "max")
POLICIES = frozenset({"client", "off", *EFFORT_ORDER})


def client_effort(request: dict[str, Any]) -> str | None:
    """What the client asked for: an effort word, "off", or None (no preference)."""
    thinking = request.get("thinking")
    output_config = request.get("output_config")
    effort = output_config.get("effort") if isinstance(output_config, dict) else None
    if isinstance(thinking, dict):
        kind = thinking.get("type")
        if kind == "disabled":
            return "off"
        if kind == "enabled":
            budget = thinking.get("budget_tokens")
            if isinstance(effort, str) and effort in EFFORT_ORDER:
                return effort
            if isinstance(budget, int):
                return "low" if budget <= 2048 else "medium" if budget <= 12000 else "high"
            return "medium"
        if kind == "adaptive":
            return effort if isinstance(effort, str) and effort in EFFORT_ORDER else "medium"
    if isinstance(effort, str) and effort in EFFORT_ORDER:
        return effort
    return None


def resolve(request: dict[str, Any], policy: str) -> str | None:
    """Route policy wins over the client unless it is `client`."""
    if policy and policy != "client":
        return policy
    return client_effort(request)


def snap_effort(effort: str, levels: tuple[str, ...]) -> str:
    """The provider's level closest to (and not above, when possible) the asked effort."""
    if effort in levels:
        return effort
    wanted = EFFORT_ORDER.index(effort) if effort in EFFORT_ORDER else 2
    ranked = [(EFFORT_ORDER.index(level), level) for level in levels if level in EFFORT_ORDER]
    if not ranked:
        return levels[-1]
    below = [item for item in ranked if item[0] <= wanted]
    return max(below)[1] if below else min(ranked)[1]


def encode(decision: str | None, control: str, levels: tuple[str, ...]) -> dict[str, Any]:
    """Top-level request fields expressing the decision for one provider control."""
    if decision is None or control in ("none", "anthropic"):
        return {}
    off = decision == "off"
    if control == "reasoning_effort":
        if off:
            return {"reasoning_effort": "none"} if "none" in levels else {}
        return {"reasoning_effort": snap_effort(decision, levels)}
    if control == "reasoning_object":
        return {"reasoning": {"enabled": False}} if off else {"reasoning": {"effort": snap_effort(decision, levels)}}
    if control == "thinking_object":
        return {"thinking": {"type": "disabled" if off else "enabled"}}
    if control == "chat_template":
        return {"chat_template_kwargs": {"enable_thinking": not off}}
    return {}


def anthropic_thinking(decision: str | None, max_tokens: int | None) -> dict[str, Any] | None:
    """For Anthropic-native upstreams when the route overrides the client: a thinking block."""
    if decision is None:
        return None
    if decision == "off":
        return {"type": "disabled"}
    budgets = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 16384, "xhigh": 24576, "max": 32000}
    budget = budgets.get(decision, 8192)
    if max_tokens is not None:
        budget = min(budget, max(1024, max_tokens - 1))
    return {"type": "enabled", "budget_tokens": budget}
