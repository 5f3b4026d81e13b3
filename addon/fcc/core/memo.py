"""A small content-checked memo for work Claude Code makes fcc repeat on every turn.

Claude Code sends the same tool list (about 30 KB for 12-20 tools) with every request, so
cleaning its schemas and sizing it for the token estimate would be redone each turn.
Hashing the content to key a cache costs as much as the work (a `json.dumps` of the list
is slower than translating it), so entries are found by a cheap key (the tool names) and
confirmed by deep equality with the input they were computed from (~8 us for 30 KB, a C
loop). A changed description or schema is a miss, never a stale answer.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


class ContentMemo(Generic[In, Out]):
    """`get(key, value, compute)`: compute(value) once per distinct value seen under `key`, LRU-bounded.

    The stored answer is shared between callers: they must treat it as read-only.
    """

    __slots__ = ("_entries", "_limit", "hits", "misses")

    def __init__(self, limit: int = 32) -> None:
        self._entries: OrderedDict[Hashable, tuple[In, Out]] = OrderedDict()
        self._limit = limit
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, value: In, compute: Callable[[In], Out]) -> Out:
        entry = self._entries.get(key)
        if entry is not None and entry[0] == value:
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]
        self.misses += 1
        result = compute(value)
        self._entries[key] = (value, result)
        self._entries.move_to_end(key)
        while len(self._entries) > self._limit:
            self._entries.popitem(last=False)
        return result


def tool_names_key(tools: list[object]) -> tuple[object, ...]:
    """A cheap key for a tool list: its names in order (equality confirms the rest)."""
    return tuple(tool.get("name") if isinstance(tool, dict) else type(tool).__name__ for tool in tools)
