"""The text tool-call dialects, as data: openers, a region parser, a renderer, model patterns.

Formats as the models' chat templates write them and the serving stacks' parsers
(vLLM tool parsers, llama.cpp chat parsers) read them:

  hermes       <tool_call>\\n{"name": N, "arguments": {...}}\\n</tool_call>      Qwen2.5/3, Hermes, QwQ
  qwen3_coder  <tool_call>\\n<function=N>\\n<parameter=K>\\nV\\n</parameter>\\n</function>\\n</tool_call>
               (also the bare <function=N>...</function> leak)                  Qwen3-Coder, Qwen3.5
  glm          <tool_call>N\\n<arg_key>K</arg_key>\\n<arg_value>V</arg_value>\\n</tool_call>   GLM-4.5+
  mistral      [TOOL_CALLS][{"name": N, "arguments": {...}}]   (tokenizer < v11)
               [TOOL_CALLS]N[ARGS]{...} / [TOOL_CALLS]N[CALL_ID]id[ARGS]{...}   (v11+, Devstral, Small 3.x)
  llama        <|python_tag|>{"name": N, "parameters": {...}}  (; more) <|eom_id|>          Llama 3.x
  json         a whole message that is {"name": N, "arguments"|"parameters": {...}} only
               (Ollama qwen2.5-coder, Llama 3.x JSON tool calling)
  deepseek     <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>N<｜tool▁sep｜>{...}<｜tool▁call▁end｜><｜tool▁calls▁end｜>
               (V3.1+), or function<｜tool▁sep｜>N\\n```json\\n{...}\\n``` (V3/R1)
  minimax      <minimax:tool_call>\n<invoke name="N">\n<parameter name="K">V</parameter>\n</invoke>\n</minimax:tool_call>
  step         <｜tool_calls_begin｜><｜tool_call_begin｜>function<｜tool_sep｜><steptml:invoke name="N">
               <steptml:parameter name="K">V</steptml:parameter></steptml:invoke><｜tool_call_end｜><｜tool_calls_end｜>
  kimi         <|tool_calls_section_begin|><|tool_call_begin|>functions.N:0<|tool_call_argument_begin|>{...}
               <|tool_call_end|><|tool_calls_section_end|>                     Kimi K2

Adding a dialect is one `Dialect` entry here (openers, region parser, renderer, model
patterns); the recogniser and the engine have no branch per dialect. Hermes' brackets also
come escaped as literal `\\u003c...\\u003e` text when a server double-encodes (Go's JSON).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fcc.core.text_tools.regions import (
    ACCEPT, NEED_MORE, NOT_A_CALL, Call, MarkedRegion, Verdict, checked, json_object, loads,
)
from fcc.core.text_tools.schema import ToolSet
from fcc.core.text_tools.json_dialects import call_from_object, json_name



def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


# ------------------------------------------------------------------ hermes
def _hermes_parse(body: str, tools: ToolSet, repair: bool = True) -> list[Call] | None:
    stripped = body.strip()
    if not stripped.startswith("{"):
        return None
    value = loads(stripped)
    if value is None and repair:
        value = json_object(stripped)  # the cheap repairs native calls get (trailing comma, doubled object)
    call = call_from_object(value, tools, "hermes")
    return [call] if call else None


def _hermes_unterminated(body: str, tools: ToolSet) -> list[Call] | None:
    """Some servers stop on the end-of-turn token right after the JSON: whole, valid JSON only."""
    return _hermes_parse(body, tools, repair=False)


_HERMES_ENDS = ("</tool_call>", "\\u003c/tool_call\\u003e")


def _hermes_region(opener: str, tools: ToolSet) -> MarkedRegion:
    return MarkedRegion(_HERMES_ENDS, json_name, _hermes_parse, tools, at_finish=_hermes_unterminated)


def _render_hermes(calls: Sequence[tuple[str, dict]]) -> str:
    return "\n".join(f'<tool_call>\n{_dumps({"name": n, "arguments": a})}\n</tool_call>' for n, a in calls)


# ---------------------------------------------------------------- deepseek
_DS_CALL = re.compile(r"\s*<｜tool▁call▁begin｜>(.*?)<｜tool▁sep｜>(.*?)<｜tool▁call▁end｜>", re.DOTALL)
_DS_HEAD = re.compile(r"\s*<｜tool▁call▁begin｜>(.*?)<｜tool▁sep｜>([^\n`<]*)(\n|`|<|$)", re.DOTALL)
_DS_FENCE = re.compile(r"\s*([^\n`]+?)\s*\n?```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def _deepseek_probe(head: str) -> str | None | bool:
    stripped = head.lstrip()
    begin = "<｜tool▁call▁begin｜>"
    if not stripped or begin.startswith(stripped):
        return None
    if not stripped.startswith(begin):
        return False
    match = _DS_HEAD.match(stripped)
    if match is None:
        return None
    if match.group(1).strip() != "function":
        return match.group(1).strip()
    return match.group(2).strip() if match.group(3) else None


def _deepseek_parse(body: str, tools: ToolSet) -> list[Call] | None:
    calls: list[Call] = []
    pos = 0
    while True:
        match = _DS_CALL.match(body, pos)
        if match is None:
            break
        kind, rest = match.group(1).strip(), match.group(2)
        if kind == "function":  # V3 / R1: type, then name and a fenced JSON block
            fenced = _DS_FENCE.match(rest)
            if fenced is None:
                return None
            call = checked(tools, fenced.group(1), fenced.group(2), "deepseek")
        else:
            call = checked(tools, kind, rest, "deepseek")
        if call is None:
            return None
        calls.append(call)
        pos = match.end()
    return calls if calls and not body[pos:].strip() else None


def _deepseek_region(opener: str, tools: ToolSet) -> MarkedRegion:
    return MarkedRegion(("<｜tool▁calls▁end｜>",), _deepseek_probe, _deepseek_parse, tools)


def _render_deepseek(calls: Sequence[tuple[str, dict]]) -> str:
    inner = "".join(f"<｜tool▁call▁begin｜>{n}<｜tool▁sep｜>{_dumps(a)}<｜tool▁call▁end｜>" for n, a in calls)
    return f"<｜tool▁calls▁begin｜>{inner}<｜tool▁calls▁end｜>"


# -------------------------------------------------------------------- kimi
_KIMI_CALL = re.compile(
    r"\s*<\|tool_call_begin\|>\s*(.*?)\s*<\|tool_call_argument_begin\|>(.*?)<\|tool_call_end\|>", re.DOTALL
)
_KIMI_ID = re.compile(r"^(?:functions\.)?(.+?)(?::\d+)?$")


def _kimi_name(call_id: str) -> str:
    match = _KIMI_ID.match(call_id.strip())
    return match.group(1) if match else call_id.strip()


def _kimi_probe(head: str) -> str | None | bool:
    stripped = head.lstrip()
    begin = "<|tool_call_begin|>"
    if not stripped or begin.startswith(stripped):
        return None
    if not stripped.startswith(begin):
        return False
    end = stripped.find("<|tool_call_argument_begin|>")
    return _kimi_name(stripped[len(begin) : end]) if end >= 0 else None


def _kimi_parse(body: str, tools: ToolSet) -> list[Call] | None:
    calls: list[Call] = []
    pos = 0
    while True:
        match = _KIMI_CALL.match(body, pos)
        if match is None:
            break
        call = checked(tools, _kimi_name(match.group(1)), match.group(2), "kimi")
        if call is None:
            return None
        calls.append(call)
        pos = match.end()
    return calls if calls and not body[pos:].strip() else None


def _kimi_region(opener: str, tools: ToolSet) -> MarkedRegion:
    return MarkedRegion(("<|tool_calls_section_end|>", "<|tool_call_section_end|>"), _kimi_probe, _kimi_parse, tools)


def _render_kimi(calls: Sequence[tuple[str, dict]]) -> str:
    inner = "".join(
        f"<|tool_call_begin|>functions.{n}:{i}<|tool_call_argument_begin|>{_dumps(a)}<|tool_call_end|>"
        for i, (n, a) in enumerate(calls)
    )
    return f"<|tool_calls_section_begin|>{inner}<|tool_calls_section_end|>"


# The JSON-bodied dialects (mistral, llama, json) and the XML-tagged ones (qwen3_coder, glm,
# minimax) live in their own modules.
from fcc.core.text_tools.json_dialects import (  # noqa: E402
    JsonMessageRegion, LlamaRegion, MistralRegion, render_json, render_llama, render_mistral,
)
from fcc.core.text_tools.xml_dialects import (  # noqa: E402
    glm_region, minimax_region, qwen_region, render_glm, render_minimax, render_qwen, render_step, step_region,
)


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    openers: tuple[str, ...]
    region: Callable[[str, ToolSet], object]  # (opener, tools) -> a region parser
    render: Callable[[Sequence[tuple[str, dict]]], str]
    # Model names (regex, case-insensitive) known to write this dialect as text.
    models: tuple[str, ...]
    # Only at the very start of a message, and only if the call is all the message is.
    anchored: bool = False
    # How a tool result is written back when history is replayed as text.
    result: str = "<tool_response>\n{content}\n</tool_response>"
    # What closes a call region: a quoted example is text up to here (nested openers included).
    closers: tuple[str, ...] = ()


DIALECTS: dict[str, Dialect] = {
    d.name: d
    for d in (
        Dialect("hermes", ("<tool_call>", "\\u003ctool_call\\u003e"), _hermes_region, _render_hermes,
                (r"qwen", r"hermes", r"qwq", r"nous"), closers=_HERMES_ENDS),
        Dialect("qwen3_coder", ("<tool_call>", "<function="), qwen_region, render_qwen,
                (r"qwen3[-_.]?coder", r"qwen3\.5", r"qwen3[-_]next"), closers=("</tool_call>", "</function>")),
        Dialect("glm", ("<tool_call>",), glm_region, render_glm, (r"glm",), closers=("</tool_call>",)),
        Dialect("mistral", ("[TOOL_CALLS]",), MistralRegion, render_mistral,
                (r"mistral", r"mixtral", r"devstral", r"codestral", r"ministral", r"magistral", r"pixtral"),
                result="[TOOL_RESULTS]{content}[/TOOL_RESULTS]"),
        Dialect("llama", ("<|python_tag|>",), LlamaRegion, render_llama, (r"llama",),
                result="Tool result:\n{content}"),
        Dialect("json", ("",), JsonMessageRegion, render_json, (r"llama", r"qwen2\.5"), anchored=True,
                result="Tool result:\n{content}"),
        Dialect("deepseek", ("<｜tool▁calls▁begin｜>",), _deepseek_region, _render_deepseek, (r"deepseek",),
                result="<｜tool▁output▁begin｜>{content}<｜tool▁output▁end｜>", closers=("<｜tool▁calls▁end｜>",)),
        Dialect("minimax", ("<minimax:tool_call>",), minimax_region, render_minimax, (r"minimax",),
                closers=("</minimax:tool_call>",)),
        Dialect("step", ("<｜tool_calls_begin｜>",), step_region, render_step, (r"step-?\d", r"stepfun"),
                closers=("<｜tool_calls_end｜>",)),
        Dialect("kimi", ("<|tool_calls_section_begin|>", "<|tool_call_section_begin|>"), _kimi_region, _render_kimi,
                (r"kimi", r"moonshot"), closers=("<|tool_calls_section_end|>", "<|tool_call_section_end|>")),
    )
}

_MODEL_PATTERNS = {name: re.compile("|".join(d.models), re.IGNORECASE) for name, d in DIALECTS.items()}
# Words a dialect setting may hold besides dialect names.
KEYWORDS = frozenset({"all", "auto", "off"})


def setting_problems(setting: Sequence[str]) -> list[str]:
    return [f"unknown text tool-call dialect {word!r} (known: {', '.join(DIALECTS)}, all, auto, off)"
            for word in setting if word not in DIALECTS and word not in KEYWORDS]


@functools.lru_cache(maxsize=256)
def resolve(setting: tuple[str, ...], model: str) -> tuple[str, ...]:
    """A profile/route setting + the upstream model name -> the dialects to recognise, in order."""
    chosen: list[str] = []
    for word in setting:
        if word == "off":
            return ()
        if word == "all":
            chosen.extend(DIALECTS)
        elif word == "auto":
            chosen.extend(name for name, pattern in _MODEL_PATTERNS.items() if pattern.search(model or ""))
        elif word in DIALECTS:
            chosen.append(word)
    return tuple(dict.fromkeys(chosen))


__all__ = ["ACCEPT", "DIALECTS", "Dialect", "NEED_MORE", "NOT_A_CALL", "Verdict", "resolve", "setting_problems"]
