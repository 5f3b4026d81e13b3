"""Responses tools -> Anthropic tool definitions, and the map back for the stream writer.

Codex declares `function` tools, freeform `custom` tools (apply_patch, code-mode exec, with a
grammar) and `namespace` groups; providers only know JSON-schema functions. A custom tool is
offered as a function with one string argument and its calls go back as `custom_tool_call`;
a namespaced function is offered as `<namespace>__<name>`. Hosted tools that only OpenAI runs
(web_search, tool_search, ...) are not offered at all.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

# Namespaced functions are offered upstream as `<namespace>__<name>` (chat function names
# allow [A-Za-z0-9_-]{1,64}); Codex's default namespace `functions` keeps bare names.
NAMESPACE_SEPARATOR = "__"
DEFAULT_NAMESPACE = "functions"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_MAX_NAME = 64
CUSTOM_INPUT = "input"  # the one string argument a custom (freeform) tool gets upstream
LOCAL_SHELL = "local_shell"
_LOCAL_SHELL_SCHEMA = {
    "type": "object",
    "properties": {
        "command": {"type": "array", "items": {"type": "string"}, "description": "argv of the command to run"},
        "workdir": {"type": "string"},
        "timeout_ms": {"type": "integer"},
    },
    "required": ["command"],
}




@dataclass(frozen=True, slots=True)
class ToolInfo:
    kind: str  # function | custom | local_shell
    name: str  # the name the client knows
    namespace: str | None = None


def provider_name(name: str, namespace: str | None = None) -> str:
    """The function name a provider accepts ([A-Za-z0-9_-]{1,64}) for a client tool, stably."""
    raw = f"{namespace}{NAMESPACE_SEPARATOR}{name}" if namespace and namespace != DEFAULT_NAMESPACE else name
    clean = _UNSAFE.sub("_", raw) or "tool"
    if len(clean) > _MAX_NAME:
        clean = f"{clean[:_MAX_NAME - 9]}_{hashlib.sha1(raw.encode()).hexdigest()[:8]}"
    return clean


@dataclass(slots=True)
class ToolMap:
    """Upstream function name -> what the client declared."""

    tools: dict[str, ToolInfo] = field(default_factory=dict)

    def add(self, info: ToolInfo) -> str:
        upstream = provider_name(info.name, info.namespace)
        self.tools[upstream] = info
        return upstream

    def lookup(self, upstream_name: str) -> ToolInfo:
        info = self.tools.get(upstream_name)
        if info is not None:
            return info
        namespace, sep, name = upstream_name.partition(NAMESPACE_SEPARATOR)
        if sep and name:
            return ToolInfo("function", name, namespace)
        return ToolInfo("function", upstream_name)

    def upstream_name(self, name: str, namespace: object = None) -> str:
        """The upstream name of a call the client replays (`function_call.name` + `namespace`)."""
        if isinstance(namespace, str) and namespace and namespace != DEFAULT_NAMESPACE:
            return provider_name(name, namespace)
        if provider_name(name) in self.tools:
            return provider_name(name)
        matches = [upstream for upstream, info in self.tools.items() if info.name == name]
        return matches[0] if len(matches) == 1 else provider_name(name)


# ------------------------------------------------------------------ tools ---


def _custom_tool(tool: dict, tools: ToolMap, namespace: str | None) -> dict:
    name = str(tool.get("name") or "")
    description = str(tool.get("description") or "")
    fmt = tool.get("format")
    hint = "Freeform tool: put the raw text (not JSON) in `input`."
    if isinstance(fmt, dict) and fmt.get("type") == "grammar" and fmt.get("definition"):
        hint += f" The text must follow this {fmt.get('syntax') or ''} grammar:\n{fmt['definition']}"
    upstream = tools.add(ToolInfo("custom", name, namespace))
    return {
        "name": upstream,
        "description": f"{description}\n\n{hint}".strip(),
        "input_schema": {
            "type": "object",
            "properties": {CUSTOM_INPUT: {"type": "string", "description": "The raw tool input."}},
            "required": [CUSTOM_INPUT],
        },
    }


def _function_tool(tool: dict, tools: ToolMap, namespace: str | None) -> dict:
    name = str(tool.get("name") or "")
    schema = tool.get("parameters")
    if not isinstance(schema, dict) or not schema:
        schema = {"type": "object", "properties": {}}
    upstream = tools.add(ToolInfo("function", name, namespace))
    return {"name": upstream, "description": str(tool.get("description") or ""), "input_schema": schema}


def translate_tools(raw_tools: list, tools: ToolMap, dropped: list[str], namespace: str | None = None) -> list[dict]:
    out: list[dict] = []
    for tool in raw_tools:
        if not isinstance(tool, dict):
            continue
        kind = tool.get("type")
        if kind == "namespace":
            inner = tool.get("tools")
            if isinstance(inner, list):
                out.extend(translate_tools(inner, tools, dropped, str(tool.get("name") or "") or None))
        elif kind == "function" and tool.get("name"):
            out.append(_function_tool(tool, tools, namespace))
        elif kind == "custom" and tool.get("name"):
            out.append(_custom_tool(tool, tools, namespace))
        elif kind == LOCAL_SHELL:
            tools.add(ToolInfo(LOCAL_SHELL, LOCAL_SHELL))
            out.append({"name": LOCAL_SHELL, "description": "Run a command on the user's machine.", "input_schema": _LOCAL_SHELL_SCHEMA})
        else:
            dropped.append(str(kind or "?"))
    return out


def translate_tool_choice(choice: object, parallel: object, tools: ToolMap) -> dict | None:
    result: dict | None = None
    if choice == "auto":
        result = {"type": "auto"}
    elif choice == "required":
        result = {"type": "any"}
    elif choice == "none":
        result = {"type": "none"}
    elif isinstance(choice, dict) and choice.get("type") in ("function", "custom") and choice.get("name"):
        result = {"type": "tool", "name": tools.upstream_name(str(choice["name"]), choice.get("namespace"))}
    if parallel is False:
        result = result or {"type": "auto"}
        result["disable_parallel_tool_use"] = True
    return result
