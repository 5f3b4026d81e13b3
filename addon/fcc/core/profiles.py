"""What a provider is, as data.

Every difference between providers that the translator cares about is a field
here, so that supporting a new provider (or a provider's new quirk) is one data
entry in ``catalog.py`` rather than a branch in the translator.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Literal

from fcc.core.text_tools.dialects import setting_problems

# openai_responses: OpenAI's Responses API (`POST /responses`), served natively to Responses clients (Codex).
Transport = Literal["openai_chat", "anthropic_messages", "openai_responses"]
TRANSPORTS: frozenset[str] = frozenset({"openai_chat", "anthropic_messages", "openai_responses"})

# How past assistant thinking is sent back to the provider.
#   drop               not sent at all (strict validators reject any reasoning field)
#   reasoning_content  assistant message field `reasoning_content` (DeepSeek, Kimi, Z.ai, llama.cpp)
#   reasoning          assistant message field `reasoning` (Cerebras, vLLM >= 0.11, Ollama, Together)
#   think_tags         `<think>...</think>` prepended to the assistant content (MiniMax, llama.cpp --reasoning-format none)
#   reasoning_details  OpenRouter's typed `reasoning_details` list, restored from the thinking signature
ReasoningReplay = Literal["drop", "reasoning_content", "reasoning", "think_tags", "reasoning_details"]
REASONING_REPLAYS: frozenset[str] = frozenset(
    {"drop", "reasoning_content", "reasoning", "think_tags", "reasoning_details"}
)

# How the client's thinking/effort request is expressed upstream.
#   none               nothing is sent (the model decides)
#   reasoning_effort   OpenAI-style top-level `reasoning_effort: low|medium|high`
#   reasoning_object   OpenRouter-style `reasoning: {effort}` / `{enabled: false}`
#   thinking_object    DeepSeek / Z.ai / Kimi / MiniMax `thinking: {type: enabled|disabled}`
#   chat_template      vLLM / SGLang / llama.cpp `chat_template_kwargs: {enable_thinking: bool}`
#   anthropic          passed through as Anthropic `thinking` (anthropic_messages transport)
ReasoningControl = Literal[
    "none", "reasoning_effort", "reasoning_object", "thinking_object", "chat_template", "anthropic"
]
REASONING_CONTROLS: frozenset[str] = frozenset(
    {"none", "reasoning_effort", "reasoning_object", "thinking_object", "chat_template", "anthropic"}
)

# What tool_choice forms the provider accepts.
#   full        auto / required / none / named function
#   auto_only   only "auto" (Z.ai); forced choices are downgraded to auto
#   no_named    auto / required / none; a named choice becomes "required" (llama.cpp, Kimi with thinking)
#   omit        never send tool_choice (hosted NIM / vLLM without --enable-auto-tool-choice 400 on it)
ToolChoiceSupport = Literal["full", "auto_only", "no_named", "omit"]
TOOL_CHOICE_SUPPORTS: frozenset[str] = frozenset({"full", "auto_only", "no_named", "omit"})

# Tool-call id format the provider validates on the way in.
ToolIdFormat = Literal["any", "alnum9"]
TOOL_ID_FORMATS: frozenset[str] = frozenset({"any", "alnum9"})

# What an assistant message with tool calls and no text carries as `content`.
EmptyContent = Literal["null", "empty", "omit", "space"]
EMPTY_CONTENTS: frozenset[str] = frozenset({"null", "empty", "omit", "space"})

# Temperature rules.
#   pass     forwarded as sent
#   drop     never forwarded (Kimi pins it server-side and 400s on other values)
#   clamp01  clamped into (0, 1] (MiniMax)
TemperatureRule = Literal["pass", "drop", "clamp01"]
TEMPERATURE_RULES: frozenset[str] = frozenset({"pass", "drop", "clamp01"})

# How the provider continues a partial assistant turn (mid-stream continuation).
#   none                    it cannot (or nobody verified it): a cut stream ends in an error
#   trailing_assistant      a final assistant message is continued (Anthropic, llama.cpp, Ollama, LM Studio)
#   continue_final_message  vLLM/SGLang: `continue_final_message: true, add_generation_prompt: false`
#   prefix_flag             Mistral/DeepSeek style: `prefix: true` on the final assistant message
#   partial_flag            Moonshot/Kimi: `partial: true` on the final assistant message
Prefill = Literal["none", "trailing_assistant", "continue_final_message", "prefix_flag", "partial_flag"]
PREFILLS: frozenset[str] = frozenset({"none", "trailing_assistant", "continue_final_message", "prefix_flag", "partial_flag"})

# How past assistant tool calls recovered from text go back to the provider.
#   native  as `tool_calls` (the chat template renders them in the model's own format)
#   text    written back into the content in the dialect the model used (servers without tool support)
TextToolReplay = Literal["native", "text"]
TEXT_TOOL_REPLAYS: frozenset[str] = frozenset({"native", "text"})

AuthStyle = Literal["bearer", "x-api-key", "none"]
AUTH_STYLES: frozenset[str] = frozenset({"bearer", "x-api-key", "none"})


@dataclass(frozen=True, slots=True)
class Profile:
    """One provider's wire contract. Frozen: routes hold references to it."""

    id: str
    transport: Transport
    base_url: str
    # Name of the environment variable holding the key; None for keyless local servers.
    api_key_env: str | None
    auth_style: AuthStyle = "bearer"
    display_name: str = ""
    local: bool = False

    # --- request shaping -------------------------------------------------
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    max_tokens_cap: int | None = None
    reasoning_control: ReasoningControl = "reasoning_effort"
    reasoning_replay: ReasoningReplay = "drop"
    # Effort words the provider accepts, in increasing order; client efforts are snapped onto these.
    effort_levels: tuple[str, ...] = ("low", "medium", "high")
    tool_choice: ToolChoiceSupport = "full"
    parallel_tool_calls: bool = True  # whether `parallel_tool_calls` may be sent
    tool_id_format: ToolIdFormat = "any"
    temperature: TemperatureRule = "pass"
    top_k: bool = False  # whether `top_k` may be sent
    stream_options: bool = True  # whether `stream_options.include_usage` may be sent
    response_format: bool = True  # whether `response_format: json_schema` may be sent
    empty_assistant_content: EmptyContent = "null"
    # Mistral: a `user` message may not follow a `tool` message.
    no_user_after_tool: bool = False
    # Some NIM-hosted models accept only string user content.
    string_content_only: bool = False
    images: bool = True
    # Top-level request fields that must never be sent (strict validators 400 on them).
    rejects: frozenset[str] = frozenset()
    # Keys removed from every tool JSON schema (strict validators, Gemini).
    schema_strip: frozenset[str] = frozenset({"$schema"})
    # Provider-private fields merged into every request body (e.g. Z.ai `tool_stream`).
    extra_body: tuple[tuple[str, object], ...] = ()
    # Request header that must carry a stable per-conversation id (OpenCode Go answers
    # 400 MissingSessionID without `x-opencode-session`). The engine fills it from the
    # client's session header (Claude Code sends X-Claude-Code-Session-Id) or a fresh id.
    session_header: str | None = None

    # --- context ---------------------------------------------------------
    # Catalog knowledge: per-model windows as (glob, tokens) pairs, first match wins ("*" for
    # every model). The provider's own model list beats it; `context_window` (set in routes.yaml,
    # per provider or per route) beats both. Unknown windows are never enforced (fcc.limits).
    context_window: int | None = None
    model_windows: tuple[tuple[str, int], ...] = ()

    # --- stream reading --------------------------------------------------
    # Parse <think> tags out of text content (models served without a reasoning parser).
    think_tags: bool = True
    # Gemini: tool calls carry `extra_content.google.thought_signature` that must go back.
    thought_signatures: bool = False
    # Tool calls the model writes as text (served without a tool parser) that fcc recovers:
    # dialect names (fcc.core.text_tools.DIALECTS), "auto" (those the model name is known
    # to write), "all", or "off". Per route: routes.yaml `text_tool_calls`.
    text_tool_calls: tuple[str, ...] = ("auto",)
    text_tool_replay: TextToolReplay = "native"

    # --- admission and timeouts --------------------------------------------
    requests_per_minute: int | None = None
    max_concurrency: int | None = None
    connect_timeout: float = 10.0
    # Time allowed until the first upstream chunk. Hosted: bounded so a hung provider ends
    # in a clear error well inside the client's patience; local servers (catalog `_local`)
    # may spend minutes loading a model first.
    first_byte_timeout: float = 90.0
    # Longest silence tolerated between upstream chunks once streaming (hosted and local).
    idle_timeout: float = 60.0

    # --- failures -------------------------------------------------------------
    # How a cut or stalled answer is continued from its partial text (off: "none").
    prefill: Prefill = "none"

    # --- accounting ----------------------------------------------------------
    # USD per million tokens (input, output); None when unknown or free.
    price_per_mtok: tuple[float, float] | None = None
    notes: str = ""
    docs_url: str = ""

    def replace(self, **changes: object) -> Profile:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def api_key(self, environ: dict[str, str] | None = None) -> str | None:
        """The key from the environment, or None. Never logged by callers."""
        env = os.environ if environ is None else environ
        if not self.api_key_env:
            return None
        value = env.get(self.api_key_env, "").strip()
        return value or None


SUBSCRIPTION_PROVIDER = "anthropic"


def uses_client_credentials(p: Profile) -> bool:
    """Anthropic itself may be routed without a key where fcc runs: the client's own credentials
    (its API key, or a Claude subscription's OAuth token) are then sent, to Anthropic only."""
    return p.id == SUBSCRIPTION_PROVIDER and p.transport == "anthropic_messages"


PROFILE_FIELDS: frozenset[str] = frozenset(f.name for f in dataclasses.fields(Profile))


def validate_profile(p: Profile) -> list[str]:
    """Return a list of problems with a profile (empty when it is sound)."""
    problems: list[str] = []
    if not p.id or not p.id.replace("_", "").isalnum() or p.id != p.id.lower():
        problems.append(f"{p.id!r}: id must be lowercase letters, digits and '_'")
    if p.transport not in TRANSPORTS:
        problems.append(f"{p.id}: unknown transport {p.transport!r}")
    if not (p.base_url.startswith("http://") or p.base_url.startswith("https://")):
        problems.append(f"{p.id}: base_url must be http(s)")
    if p.base_url.endswith("/"):
        problems.append(f"{p.id}: base_url must not end with '/'")
    checks = (
        ("reasoning_replay", p.reasoning_replay, REASONING_REPLAYS),
        ("reasoning_control", p.reasoning_control, REASONING_CONTROLS),
        ("tool_choice", p.tool_choice, TOOL_CHOICE_SUPPORTS),
        ("tool_id_format", p.tool_id_format, TOOL_ID_FORMATS),
        ("empty_assistant_content", p.empty_assistant_content, EMPTY_CONTENTS),
        ("temperature", p.temperature, TEMPERATURE_RULES),
        ("auth_style", p.auth_style, AUTH_STYLES),
        ("prefill", p.prefill, PREFILLS),
        ("text_tool_replay", p.text_tool_replay, TEXT_TOOL_REPLAYS),
    )
    for name, value, allowed in checks:
        if value not in allowed:
            problems.append(f"{p.id}: {name}={value!r} is not one of {sorted(allowed)}")
    if p.max_tokens_field not in ("max_tokens", "max_completion_tokens"):
        problems.append(f"{p.id}: bad max_tokens_field {p.max_tokens_field!r}")
    if p.api_key_env is None and p.auth_style != "none" and not p.local:
        problems.append(f"{p.id}: a hosted provider needs api_key_env")
    if p.transport == "anthropic_messages" and p.reasoning_control != "anthropic":
        problems.append(f"{p.id}: anthropic_messages transport passes thinking through (reasoning_control='anthropic')")
    if p.prefill not in ("none", "trailing_assistant") and p.transport == "anthropic_messages":
        problems.append(f"{p.id}: anthropic_messages continues a trailing assistant turn (prefill='trailing_assistant')")
    if not isinstance(p.text_tool_calls, tuple):
        problems.append(f"{p.id}: text_tool_calls must be a list of dialect names")
    else:
        problems.extend(f"{p.id}: {problem}" for problem in setting_problems(p.text_tool_calls))
    if p.context_window is not None and p.context_window < 1024:
        problems.append(f"{p.id}: context_window {p.context_window} is not a context window")
    if any(not pattern or window < 1024 for pattern, window in p.model_windows):
        problems.append(f"{p.id}: model_windows needs (glob, tokens >= 1024) pairs")
    if not p.effort_levels:
        problems.append(f"{p.id}: effort_levels must not be empty")
    if p.session_header is not None and (
        not p.session_header or not p.session_header.replace("-", "").isalnum() or not p.session_header.isascii()
    ):
        problems.append(f"{p.id}: session_header {p.session_header!r} is not a valid header name")
    return problems
