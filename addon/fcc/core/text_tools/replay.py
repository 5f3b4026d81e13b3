"""History replay for recovered calls on providers that take no native tool calls.

A call fcc recovered from text carries its dialect in its id (`toolu_txt_<dialect>_...`).
With `text_tool_replay: native` (the default) it goes back as `tool_calls`, and the
chat template renders it in the model's own format. With `text` (a server whose
template ignores tool_calls, or that rejects them) it is written back into the
assistant content in the dialect the model used, and its result follows as user
text in that dialect's result form, so the model sees its own conversation.
"""

from __future__ import annotations

from fcc.core.text_tools import dialect_of_id
from fcc.core.text_tools.dialects import Dialect


def split_recovered(calls: list[dict], mode: str) -> tuple[list[dict], str, dict[str, Dialect]]:
    """(calls still sent natively, the text form of the others, {client id: dialect} of those)."""
    if mode != "text":
        return calls, "", {}
    native: list[dict] = []
    written: list[str] = []
    dialects: dict[str, Dialect] = {}
    group: list[tuple[str, dict]] = []
    group_dialect: Dialect | None = None
    for block in calls:
        client_id = str(block.get("id") or "")
        dialect = dialect_of_id(client_id)
        if dialect is None:
            native.append(block)
            continue
        if group_dialect is not None and dialect is not group_dialect:
            written.append(group_dialect.render(group))
            group = []
        group_dialect = dialect
        arguments = block.get("input")
        group.append((str(block.get("name") or ""), arguments if isinstance(arguments, dict) else {}))
        dialects[client_id] = dialect
    if group_dialect is not None:
        written.append(group_dialect.render(group))
    return native, "\n".join(written), dialects


def result_text(dialect: Dialect, content: str) -> str:
    return dialect.result.format(content=content)
