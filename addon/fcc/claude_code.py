"""What kind of Claude Code request this is: the request class routing and admission use.

First-party mode (fcc intercepting api.anthropic.com) sends
`x-claude-code-request-class` (main / subagent / auxiliary / compaction) and
`x-claude-1p-request-class` (summary-extraction for the title); gateway mode
(ANTHROPIC_BASE_URL) sends neither, so the body clues from
../shared/research/claude-code-client.md 4.6 decide. "auxiliary" is refined by the same
body clues, so a title is a title in both modes.

Classes (also the keys of `classes:` in routes.yaml):
    main         the conversation loop
    subagent     a subagent's own loop (header x-claude-code-agent-id)
    title        session title generation (small, JSON output, no thinking needed)
    webfetch     the WebFetch summary of a fetched page
    websearch    the WebSearch side request (server tool web_search_*)
    compaction   the conversation summary asked for when the context is full
    side         any other side request (`tools: []`)
Request features that may pick their own route as well: `images`, `long_context`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

CLASSES = ("main", "subagent", "title", "webfetch", "websearch", "compaction", "side")
FEATURES = ("images", "long_context")
_FIRST_PARTY = {"main": "main", "subagent": "subagent", "compaction": "compaction"}
TITLE_SYSTEM_CLUE = "naming a coding session"
COMPACTION_CLUE = "CRITICAL: Respond with TEXT ONLY"


@dataclass(frozen=True)
class RequestFacts:
    """What routing and admission may know about a request, besides its model."""

    request_class: str
    session_id: str | None = None
    agent_id: str | None = None
    has_images: bool = False


def _text_of(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


def _last_user_text(request: dict) -> str:
    for message in reversed(request.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text_of(message.get("content"))
    return ""


def _system_text(request: dict) -> str:
    system = request.get("system")
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        return "\n".join(b.get("text", "") for b in system if isinstance(b, dict))
    return ""


def _is_title(request: dict) -> bool:
    output_config = request.get("output_config")
    fmt = output_config.get("format") if isinstance(output_config, dict) else None
    if isinstance(fmt, dict):
        properties = (fmt.get("schema") or {}).get("properties") if isinstance(fmt.get("schema"), dict) else None
        if isinstance(properties, dict) and set(properties) == {"title"}:
            return True
    return TITLE_SYSTEM_CLUE in _system_text(request)


def _body_class(request: dict) -> str:
    tools = request.get("tools") or []
    if any(isinstance(t, dict) and str(t.get("type", "")).startswith("web_search") for t in tools):
        return "websearch"
    user = _last_user_text(request)
    if COMPACTION_CLUE in user:
        return "compaction"
    if not tools:
        if _is_title(request):
            return "title"
        if user.lstrip().startswith("Web page content:"):
            return "webfetch"
        # Claude Code sends `tools: []` on side requests; a client that sends no tools at all
        # (a plain SDK call) is having a conversation, not doing Claude Code's busywork.
        return "side" if "tools" in request else "main"
    return "main"


def classify(request: dict, headers: dict[str, str]) -> str:
    """The request class; `headers` has lowercase names."""
    if headers.get("x-claude-1p-request-class") == "summary-extraction":
        return "title"
    declared = headers.get("x-claude-code-request-class")
    if declared in _FIRST_PARTY:
        return _FIRST_PARTY[declared]
    if headers.get("x-claude-code-agent-id"):
        return "subagent"
    found = _body_class(request)
    if declared == "auxiliary" and found == "main":
        return "side"  # an auxiliary request with tools (e.g. a classifier): never the main loop
    return found


def session_of(request: dict, headers: dict[str, str]) -> str | None:
    """Claude Code's session id: the header, else the one inside metadata.user_id (a JSON string)."""
    header = headers.get("x-claude-code-session-id")
    if header:
        return header
    metadata = request.get("metadata")
    user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
    if isinstance(user_id, str) and user_id.startswith("{"):
        try:
            session = json.loads(user_id).get("session_id")
        except (ValueError, AttributeError):
            return None
        return session if isinstance(session, str) and session else None
    return None


def _has_images(content: object) -> bool:
    if not isinstance(content, list):
        return False
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "image":
            return True
        if block.get("type") == "tool_result" and _has_images(block.get("content")):
            return True
    return False


def has_images(request: dict) -> bool:
    return any(
        isinstance(message, dict) and _has_images(message.get("content")) for message in request.get("messages") or []
    )


def describe(request: dict, headers: dict[str, str]) -> RequestFacts:
    return RequestFacts(
        request_class=classify(request, headers),
        session_id=session_of(request, headers),
        agent_id=headers.get("x-claude-code-agent-id") or None,
        has_images=has_images(request),
    )
