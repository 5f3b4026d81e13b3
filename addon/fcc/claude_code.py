"""What kind of Claude Code request this is, for the log line and the inspector.

First-party mode sends `x-claude-code-request-class`; gateway mode does not,
so the body clues from research/claude-code-client.md 4.6 are used.
"""

from __future__ import annotations


def _last_user_text(request: dict) -> str:
    for message in reversed(request.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "\n".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


def _system_text(request: dict) -> str:
    system = request.get("system")
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        return "\n".join(b.get("text", "") for b in system if isinstance(b, dict))
    return ""


def classify(request: dict, headers: dict[str, str]) -> str:
    declared = headers.get("x-claude-code-request-class")
    if declared:
        return declared
    if headers.get("x-claude-code-agent-id"):
        return "subagent"
    tools = request.get("tools") or []
    if any(isinstance(t, dict) and str(t.get("type", "")).startswith("web_search") for t in tools):
        return "websearch"
    user = _last_user_text(request)
    if "CRITICAL: Respond with TEXT ONLY" in user:
        return "compaction"
    if not tools:
        output_config = request.get("output_config") or {}
        if isinstance(output_config, dict) and output_config.get("format"):
            return "title"
        if user.lstrip().startswith("Web page content:"):
            return "webfetch"
        if "naming a coding session" in _system_text(request):
            return "title"
        return "side"
    return "main"
