"""Facts of the Anthropic Messages API that fcc speaks (to Claude Code, and to Anthropic itself)."""

from __future__ import annotations

ANTHROPIC_HOST = "api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"  # sent when the client gave none: the Messages API's current version
# Claude's model tiers, largest first: the route a model id chooses ("claude-opus-4-5" -> opus).
TIERS = ("opus", "sonnet", "haiku")
