"""What the request declared: tool names, required keys, top-level types.

A text tool call is only real if it names a declared tool and its arguments
would pass the tool's own validation (required keys present, top-level values
of the declared JSON type). Anything less stays text, so fcc never invents a
call out of prose.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def _types_of(schema: object) -> tuple[str, ...]:
    """JSON types a property schema allows; () when it does not say (anything goes)."""
    if not isinstance(schema, dict):
        return ()
    kind = schema.get("type")
    if isinstance(kind, str):
        return (kind,)
    if isinstance(kind, list) and all(isinstance(k, str) for k in kind):
        return tuple(kind)
    for key in ("anyOf", "oneOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches:
            collected: list[str] = []
            for branch in branches:
                types = _types_of(branch)
                if not types:
                    return ()  # one untyped branch accepts anything
                collected.extend(types)
            return tuple(dict.fromkeys(collected))
    return ()


def matches_type(value: object, types: tuple[str, ...]) -> bool:
    if not types:
        return True
    for kind in types:
        if kind == "null":
            if value is None:
                return True
            continue
        allowed = _PY_TYPES.get(kind)
        if allowed is None:
            return True  # a type word we do not know: do not reject on it
        if isinstance(value, bool) and kind != "boolean":
            continue
        if isinstance(value, allowed):
            return True
        if kind == "integer" and isinstance(value, float) and value.is_integer():
            return True
    return False


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    required: tuple[str, ...]
    types: dict[str, tuple[str, ...]]

    def accepts(self, arguments: object) -> bool:
        if not isinstance(arguments, dict):
            return False
        if any(key not in arguments for key in self.required):
            return False
        return all(matches_type(value, self.types.get(key, ())) for key, value in arguments.items())

    def coerce(self, key: str, raw: str) -> object:
        """An XML-style parameter (always text) -> the value its schema type asks for."""
        types = self.types.get(key, ())
        if not types or "string" in types:
            return raw
        text = raw.strip()
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            return raw  # left as text: `accepts` then rejects it if a non-string was required
        return value if matches_type(value, types) else raw


class ToolSet:
    """The client tools of one request, by name (Anthropic `tools`, server tools excluded).

    Built for every response, so only the names are read up front; a tool's schema is
    read the first time a call names it.
    """

    __slots__ = ("_raw", "_specs")

    def __init__(self, tools: object) -> None:
        self._raw: dict[str, dict] = {}
        self._specs: dict[str, ToolSpec] = {}
        for tool in tools if isinstance(tools, list) else ():
            if not isinstance(tool, dict):
                continue
            name = tool.get("name")
            kind = tool.get("type")
            if isinstance(name, str) and name and (not isinstance(kind, str) or kind in ("custom", "function")):
                self._raw[name] = tool

    def __bool__(self) -> bool:
        return bool(self._raw)

    def __contains__(self, name: object) -> bool:
        return name in self._raw

    def get(self, name: str) -> ToolSpec | None:
        spec = self._specs.get(name)
        if spec is None and name in self._raw:
            spec = self._specs[name] = _spec(name, self._raw[name])
        return spec

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._raw)


def _spec(name: str, tool: dict) -> ToolSpec:
    schema = tool.get("input_schema")
    schema = schema if isinstance(schema, dict) else {}
    required = schema.get("required")
    properties = schema.get("properties")
    return ToolSpec(
        name,
        tuple(k for k in required if isinstance(k, str)) if isinstance(required, list) else (),
        {k: _types_of(v) for k, v in properties.items()} if isinstance(properties, dict) else {},
    )
