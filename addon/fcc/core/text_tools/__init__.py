"""Tool calls written as text by models served without a tool parser, recovered strictly.

`recogniser_for(profile_setting, model, request)` builds the per-response
recogniser (or None when there is nothing to recognise); see recogniser.py for
the state machine, dialects.py for the formats.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from fcc.core.text_tools.dialects import DIALECTS, KEYWORDS, Dialect, resolve, setting_problems
from fcc.core.text_tools.recogniser import Limits, TextToolRecogniser
from fcc.core.text_tools.regions import Call
from fcc.core.text_tools.schema import ToolSet

# Ids of recovered calls say which dialect they came from, so history replay can
# write them back in that dialect when the provider takes no native tool calls.
TEXT_ID_PREFIX = "toolu_txt_"


def text_tool_id(dialect: str) -> str:
    return f"{TEXT_ID_PREFIX}{dialect}_{uuid.uuid4().hex[:20]}"


def dialect_of_id(tool_id: str) -> Dialect | None:
    """The dialect a recovered call's id names; None for any other id."""
    if not tool_id.startswith(TEXT_ID_PREFIX):
        return None
    name = tool_id[len(TEXT_ID_PREFIX) :].rpartition("_")[0]
    return DIALECTS.get(name)


def recogniser_for(setting: Sequence[str], model: str, request: dict) -> TextToolRecogniser | None:
    """The recogniser for one response, or None: no dialects, no declared tools, or tool_choice none."""
    names = resolve(tuple(setting), model)
    if not names:
        return None
    choice = request.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "none":
        return None
    tools = ToolSet(request.get("tools"))
    if not tools:
        return None
    return TextToolRecogniser([DIALECTS[name] for name in names], tools)


__all__ = [
    "Call", "DIALECTS", "Dialect", "KEYWORDS", "Limits", "TEXT_ID_PREFIX", "TextToolRecogniser", "ToolSet",
    "dialect_of_id", "recogniser_for", "resolve", "setting_problems", "text_tool_id",
]
