"""XML-tagged dialects: qwen3_coder (`<function=N><parameter=K>`), glm (`<arg_key>`), minimax (`<invoke>`).

Their parameter values are text: a schema's non-string type is read from it
(ToolSpec.coerce), so `<parameter=timeout>30</parameter>` is the number 30. A
tag left open that swallows the next parameter makes the region not a call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import NamedTuple

from fcc.core.text_tools.regions import Call, MarkedRegion, checked
from fcc.core.text_tools.schema import ToolSet

_NAME = r"[A-Za-z0-9_.:\-]+"


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _xml_value(value: object) -> str:
    return value if isinstance(value, str) else _dumps(value)


def _trim_newlines(value: str) -> str:
    """Templates put each value on its own line; one newline each side is layout, not content."""
    value = value[1:] if value.startswith("\n") else value
    return value[:-1] if value.endswith("\n") else value


# ------------------------------------------------------------- qwen3_coder
_FUNCTION_HEAD = re.compile(r"<function=([^>\n]*)>")
_PARAMETER = re.compile(r"\s*<parameter=([^>\n]+)>(.*?)</parameter>", re.DOTALL)


def _qwen_parameters(name: str, inner: str, tools: ToolSet) -> list[Call] | None:
    spec = tools.get(name)
    if spec is None:
        return None
    arguments: dict = {}
    pos = 0
    while True:
        match = _PARAMETER.match(inner, pos)
        if match is None:
            break
        value = match.group(2)
        if "<parameter=" in value:
            return None  # a parameter left open swallowed the next one: not a call we can trust
        value = _trim_newlines(value)
        arguments[match.group(1).strip()] = spec.coerce(match.group(1).strip(), value)
        pos = match.end()
    if inner[pos:].strip():
        return None  # something that is not a parameter: not this format
    call = checked(tools, name, arguments, "qwen3_coder")
    return [call] if call else None


def _qwen_wrapped_probe(head: str) -> str | None | bool:
    stripped = head.lstrip()
    if not stripped or "<function=".startswith(stripped):
        return None
    if not stripped.startswith("<function="):
        return False
    match = _FUNCTION_HEAD.match(stripped)
    if match:
        return match.group(1).strip()
    return False if len(stripped) > 200 else None


def _qwen_wrapped_parse(body: str, tools: ToolSet) -> list[Call] | None:
    stripped = body.strip()
    match = _FUNCTION_HEAD.match(stripped)
    if match is None or not stripped.endswith("</function>"):
        return None
    return _qwen_parameters(match.group(1).strip(), stripped[match.end() : -len("</function>")], tools)


def _qwen_bare_probe(head: str) -> str | None | bool:
    end = head.find(">")
    if end < 0:
        return False if "\n" in head or len(head) > 200 else None
    name = head[:end]
    return name.strip() if name.strip() and "\n" not in name else False


def _qwen_bare_parse(body: str, tools: ToolSet) -> list[Call] | None:
    end = body.find(">")
    if end <= 0:
        return None
    return _qwen_parameters(body[:end].strip(), body[end + 1 :], tools)


def qwen_region(opener: str, tools: ToolSet) -> MarkedRegion:
    if opener == "<function=":
        return MarkedRegion(("</function>",), _qwen_bare_probe, _qwen_bare_parse, tools)
    return MarkedRegion(("</tool_call>",), _qwen_wrapped_probe, _qwen_wrapped_parse, tools)


def render_qwen(calls: Sequence[tuple[str, dict]]) -> str:
    out = []
    for name, arguments in calls:
        params = "".join(
            f"<parameter={k}>\n{v if isinstance(v, str) else _dumps(v)}\n</parameter>\n" for k, v in arguments.items()
        )
        out.append(f"<tool_call>\n<function={name}>\n{params}</function>\n</tool_call>")
    return "\n".join(out)


# --------------------------------------------------------------------- glm
_GLM_HEAD = re.compile(rf"({_NAME})(\s|<|$)")
_GLM_ARG = re.compile(r"\s*<arg_key>(.*?)</arg_key>\s*<arg_value>(.*?)</arg_value>", re.DOTALL)


def _glm_probe(head: str) -> str | None | bool:
    stripped = head.lstrip()
    if not stripped:
        return None
    if stripped[0] in "{<":
        return False
    match = _GLM_HEAD.match(stripped)
    if match is None:
        return False
    return match.group(1) if match.group(2) else None


def _glm_parse(body: str, tools: ToolSet) -> list[Call] | None:
    stripped = body.strip()
    match = _GLM_HEAD.match(stripped)
    if match is None:
        return None
    name = match.group(1)
    spec = tools.get(name)
    if spec is None:
        return None
    arguments: dict = {}
    pos = len(name)
    while True:
        arg = _GLM_ARG.match(stripped, pos)
        if arg is None:
            break
        key = arg.group(1).strip()
        if "<arg_key>" in arg.group(2) or "<arg_key>" in key:
            return None  # an unclosed tag swallowed the next argument
        arguments[key] = spec.coerce(key, arg.group(2))
        pos = arg.end()
    if stripped[pos:].strip():
        return None
    call = checked(tools, name, arguments, "glm")
    return [call] if call else None


def glm_region(opener: str, tools: ToolSet) -> MarkedRegion:
    return MarkedRegion(("</tool_call>",), _glm_probe, _glm_parse, tools)


def render_glm(calls: Sequence[tuple[str, dict]]) -> str:
    out = []
    for name, arguments in calls:
        args = "".join(
            f"<arg_key>{k}</arg_key>\n<arg_value>{v if isinstance(v, str) else _dumps(v)}</arg_value>\n"
            for k, v in arguments.items()
        )
        out.append(f"<tool_call>{name}\n{args}</tool_call>")
    return "\n".join(out)


# ------------------------------------------------------ minimax and step
class _InvokeTags(NamedTuple):
    invoke: re.Pattern[str]
    parameter: re.Pattern[str]
    head: re.Pattern[str]
    start: str


def _invoke_patterns(prefix: str) -> _InvokeTags:
    return _InvokeTags(
        re.compile(rf'\s*<{prefix}invoke name="([^"\n]+)">(.*?)</{prefix}invoke>', re.DOTALL),
        re.compile(rf'\s*<{prefix}parameter name="([^"\n]+)">(.*?)</{prefix}parameter>', re.DOTALL),
        re.compile(rf'<{prefix}invoke name="([^"\n]*)">'),
        f'<{prefix}invoke name="',
    )


_MINIMAX = _invoke_patterns("")
_STEP = _invoke_patterns("steptml:")


def _invoke_probe(head: str, patterns: _InvokeTags) -> str | None | bool:
    stripped = head.lstrip()
    start = patterns.start
    if not stripped or start.startswith(stripped):
        return None
    if not stripped.startswith(start):
        return False
    match = patterns.head.match(stripped)
    if match:
        return match.group(1)
    return False if len(stripped) > 200 else None


def _invokes(body: str, tools: ToolSet, patterns: _InvokeTags, dialect: str) -> list[Call] | None:
    """`<invoke name=N><parameter name=K>V</parameter>...</invoke>`, repeated, nothing else around them."""
    invoke_re, parameter_re = patterns.invoke, patterns.parameter
    calls: list[Call] = []
    pos = 0
    while True:
        invoke = invoke_re.match(body, pos)
        if invoke is None:
            break
        name, inner = invoke.group(1), invoke.group(2)
        spec = tools.get(name)
        if spec is None:
            return None
        arguments: dict = {}
        inner_pos = 0
        while True:
            parameter = parameter_re.match(inner, inner_pos)
            if parameter is None:
                break
            if "parameter name=" in parameter.group(2):
                return None
            key = parameter.group(1)
            arguments[key] = spec.coerce(key, parameter.group(2))  # the templates write values inline, exactly
            inner_pos = parameter.end()
        call = checked(tools, name, arguments, dialect) if not inner[inner_pos:].strip() else None
        if call is None:
            return None
        calls.append(call)
        pos = invoke.end()
    return calls if calls and not body[pos:].strip() else None


def _minimax_probe(head: str) -> str | None | bool:
    return _invoke_probe(head, _MINIMAX)


def _minimax_parse(body: str, tools: ToolSet) -> list[Call] | None:
    return _invokes(body, tools, _MINIMAX, "minimax")


def minimax_region(opener: str, tools: ToolSet) -> MarkedRegion:
    return MarkedRegion(("</minimax:tool_call>",), _minimax_probe, _minimax_parse, tools)


def render_minimax(calls: Sequence[tuple[str, dict]]) -> str:
    return f"<minimax:tool_call>\n{_render_invokes(calls, '')}</minimax:tool_call>"


def _render_invokes(calls: Sequence[tuple[str, dict]], prefix: str) -> str:
    return "".join(
        f'<{prefix}invoke name="{name}">\n'
        + "".join(f'<{prefix}parameter name="{k}">{_xml_value(v)}</{prefix}parameter>\n' for k, v in arguments.items())
        + f"</{prefix}invoke>\n"
        for name, arguments in calls
    )


# StepFun Step-3 / 3.5: `<｜tool_calls_begin｜>` (underscores, unlike DeepSeek's ▁), one steptml invoke per call.
_STEP_CALL = re.compile(r"\s*<｜tool_call_begin｜>\s*function\s*<｜tool_sep｜>(.*?)<｜tool_call_end｜>", re.DOTALL)
_STEP_LEAD = "<｜tool_call_begin｜>function<｜tool_sep｜>"


def _step_probe(head: str) -> str | None | bool:
    stripped = head.lstrip()
    if stripped.startswith(_STEP_LEAD):
        return _invoke_probe(stripped[len(_STEP_LEAD) :], _STEP) if stripped[len(_STEP_LEAD) :].strip() else None
    compact = re.sub(r"\s+", "", stripped)
    return None if not compact or _STEP_LEAD.startswith(compact[: len(_STEP_LEAD)]) else False


def _step_parse(body: str, tools: ToolSet) -> list[Call] | None:
    calls: list[Call] = []
    pos = 0
    while True:
        match = _STEP_CALL.match(body, pos)
        if match is None:
            break
        found = _invokes(match.group(1).strip(), tools, _STEP, "step")
        if not found or len(found) != 1:
            return None
        calls.extend(found)
        pos = match.end()
    return calls if calls and not body[pos:].strip() else None


def step_region(opener: str, tools: ToolSet) -> MarkedRegion:
    return MarkedRegion(("<｜tool_calls_end｜>",), _step_probe, _step_parse, tools)


def render_step(calls: Sequence[tuple[str, dict]]) -> str:
    inner = "".join(f"{_STEP_LEAD}{_render_invokes([call], 'steptml:')}<｜tool_call_end｜>" for call in calls)
    return f"<｜tool_calls_begin｜>{inner}<｜tool_calls_end｜>"
