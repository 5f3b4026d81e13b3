"""Built-in provider profiles: every provider's wire contract, as data.

Each entry encodes the quirks documented in ../shared/research/protocol-notes.md section D.
Changing how fcc talks to one provider should mean editing one entry here, never
a branch in the translator. The catalog checks itself at import, so a broken
entry stops fcc at start-up with a line naming the profile, not mid-request.

Order matters: it is the display order of `fcc doctor` and the README table.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from fcc.core.profiles import Profile, validate_profile

# Provider-private request fields. Strict validators answer 400 to any of them, so
# they are listed in `rejects` wherever the provider is known (or likely) to be strict.
PRIVATE_FIELDS: frozenset[str] = frozenset(
    {"thinking", "reasoning", "reasoning_split", "chat_template_kwargs", "tool_stream", "enable_thinking"}
)
# OpenAI-only request fields that strict OpenAI-compatible validators reject.
OPENAI_ONLY_FIELDS: frozenset[str] = frozenset(
    {"metadata", "store", "prompt_cache_key", "service_tier", "logprobs", "top_logprobs", "logit_bias"}
)

# Claude Code asks for max_tokens 32000-128000 (see claude-code captures). Multi-model
# hosts validate prompt + max_tokens against the model's context, so an uncapped 128000
# fails on every 128k-context model; 32768 leaves room for the prompt and long answers.
HOSTED_OUTPUT_CAP = 32768
# Local servers may spend minutes loading a model before the first byte (the request
# itself is bounded at 270 s, fcc.engine.policy.REQUEST_DEADLINE; pings keep the client waiting).
LOCAL_FIRST_BYTE_TIMEOUT = 240.0
# Once a local model streams, a silence this long means it is stuck.
LOCAL_IDLE_TIMEOUT = 120.0


def _local(id: str, display_name: str, base_url: str, **quirks: object) -> Profile:
    """A keyless server on this machine: no auth, no rate limits, patient timeouts."""
    defaults: dict[str, object] = {
        "local": True,
        "auth_style": "none",
        "first_byte_timeout": LOCAL_FIRST_BYTE_TIMEOUT,
        "idle_timeout": LOCAL_IDLE_TIMEOUT,
        "prefill": "trailing_assistant",
        "top_k": True,
        # Local servers often run without a tool parser (or with the wrong one): recover every dialect.
        "text_tool_calls": ("all",),
    }
    defaults.update(quirks)
    return Profile(id=id, transport="openai_chat", base_url=base_url, api_key_env=None,
                   display_name=display_name, **defaults)  # type: ignore[arg-type]


_PROFILES: tuple[Profile, ...] = (
    Profile(
        id="nvidia_nim", display_name="NVIDIA NIM", transport="openai_chat",
        base_url="https://integrate.api.nvidia.com/v1", api_key_env="NVIDIA_NIM_API_KEY",
        max_tokens_cap=HOSTED_OUTPUT_CAP,
        # NIM runs vLLM underneath, which reads enable_thinking from the chat template.
        reasoning_control="chat_template", reasoning_replay="reasoning_content",
        tool_choice="omit",
        rejects=(PRIVATE_FIELDS - {"chat_template_kwargs"}) | {"metadata", "store", "prompt_cache_key"},
        # The free tier queues prompts: a little more patience than the hosted default.
        requests_per_minute=40, first_byte_timeout=100.0,
        notes="tool_choice never sent (hosted models 400 on \"auto\"); strict params; free tier ~40 RPM; "
              "Mistral models need string content and no stream_options (override per route)",
        docs_url="https://docs.api.nvidia.com/nim/reference/llm-apis",
    ),
    Profile(
        id="openrouter", display_name="OpenRouter", transport="openai_chat",
        base_url="https://openrouter.ai/api/v1", api_key_env="OPENROUTER_API_KEY",
        max_tokens_cap=HOSTED_OUTPUT_CAP,
        reasoning_control="reasoning_object", reasoning_replay="reasoning_details",
        requests_per_minute=20,
        notes="reasoning object; reasoning_details replayed verbatim; 20 RPM is the free-model limit "
              "(raise it for paid models); errors can arrive inside a 200 stream",
        docs_url="https://openrouter.ai/docs/api-reference/overview",
    ),
    Profile(
        id="gemini", display_name="Google Gemini (OpenAI-compatible)", transport="openai_chat",
        model_windows=(("*", 1_048_576),),
        base_url="https://generativelanguage.googleapis.com/v1beta/openai", api_key_env="GEMINI_API_KEY",
        max_tokens_cap=65536,
        reasoning_control="reasoning_effort", reasoning_replay="drop",
        parallel_tool_calls=False, think_tags=False, thought_signatures=True,
        rejects=frozenset({"frequency_penalty", "presence_penalty", "parallel_tool_calls"})
        | OPENAI_ONLY_FIELDS | PRIVATE_FIELDS,
        schema_strip=frozenset({"$schema", "$id", "additionalProperties", "exclusiveMinimum",
                                "exclusiveMaximum", "propertyNames", "examples"}),
        # Thinking models may say nothing until they have thought; still under 2 minutes.
        first_byte_timeout=110.0,
        notes="thought_signature echoed on tool calls; unknown fields 400 (penalties, parallel_tool_calls); "
              "tool schemas cleaned; a bad key is a 400, not a 401",
        docs_url="https://ai.google.dev/gemini-api/docs/openai",
    ),
    Profile(
        id="deepseek", display_name="DeepSeek", transport="openai_chat",
        model_windows=(("*", 128_000),),
        base_url="https://api.deepseek.com", api_key_env="DEEPSEEK_API_KEY",
        max_tokens_cap=HOSTED_OUTPUT_CAP,
        reasoning_control="thinking_object", reasoning_replay="reasoning_content",
        # Forced tool choices fail in thinking mode; FCC, the reference tool, downgrades them too.
        effort_levels=("high", "max"), tool_choice="auto_only", images=False, think_tags=False,
        notes="reasoning_content replayed on every assistant turn; cap 32768 suits V4/reasoner "
              "(legacy deepseek-chat needs max_tokens_cap 8192); no images",
        docs_url="https://api-docs.deepseek.com/",
    ),
    Profile(
        id="deepseek_anthropic", display_name="DeepSeek (Anthropic-compatible)", transport="anthropic_messages",
        model_windows=(("*", 128_000),),
        base_url="https://api.deepseek.com/anthropic", api_key_env="DEEPSEEK_API_KEY",
        reasoning_control="anthropic", images=False, think_tags=False,
        notes="native Messages API; thinking blocks must be passed back; unknown claude-* names are remapped",
        docs_url="https://api-docs.deepseek.com/guides/anthropic_api",
    ),
    Profile(
        id="mistral", display_name="Mistral", transport="openai_chat",
        model_windows=(("devstral*", 128_000), ("mistral-large*", 128_000), ("mistral-medium*", 128_000), ("mistral-small*", 128_000)),
        base_url="https://api.mistral.ai/v1", api_key_env="MISTRAL_API_KEY",
        max_tokens_cap=HOSTED_OUTPUT_CAP,
        # Reasoning support varies per model and unknown fields are a 422, so nothing is sent.
        reasoning_control="none", reasoning_replay="drop",
        tool_id_format="alnum9", no_user_after_tool=True, empty_assistant_content="empty",
        prefill="prefix_flag",
        # Usage arrives on the finish chunk without it.
        stream_options=False, think_tags=False,
        rejects=OPENAI_ONLY_FIELDS | PRIVATE_FIELDS | {"stream_options", "user"},
        notes="tool ids must be 9 alphanumerics; no user message right after a tool message; strict 422",
        docs_url="https://docs.mistral.ai/api/",
    ),
    Profile(
        id="codestral", display_name="Codestral (Mistral)", transport="openai_chat",
        model_windows=(("*", 256_000),),
        base_url="https://codestral.mistral.ai/v1", api_key_env="CODESTRAL_API_KEY",
        max_tokens_cap=HOSTED_OUTPUT_CAP,
        reasoning_control="none", reasoning_replay="drop",
        tool_id_format="alnum9", no_user_after_tool=True, empty_assistant_content="empty",
        stream_options=False, think_tags=False, images=False,
        rejects=OPENAI_ONLY_FIELDS | PRIVATE_FIELDS | {"stream_options", "user"},
        notes="own key and host; same rules as mistral (9-char tool ids, no user after tool); text only",
        docs_url="https://docs.mistral.ai/capabilities/code_generation/",
    ),
    Profile(
        id="opencode_zen", display_name="OpenCode Zen", transport="openai_chat",
        base_url="https://opencode.ai/zen/v1", api_key_env="OPENCODE_API_KEY",
        max_tokens_cap=HOSTED_OUTPUT_CAP, reasoning_replay="reasoning_content",
        notes="pay-as-you-go gateway; key shared with opencode_go; Claude/GPT models there use other APIs",
        docs_url="https://opencode.ai/docs/zen/",
    ),
    Profile(
        id="opencode_go", display_name="OpenCode Go", transport="openai_chat",
        base_url="https://opencode.ai/zen/go/v1", api_key_env="OPENCODE_API_KEY",
        max_tokens_cap=HOSTED_OUTPUT_CAP, reasoning_replay="reasoning_content",
        session_header="x-opencode-session",
        notes="subscription gateway; key shared with opencode_zen; 400 MissingSessionID without `x-opencode-session`",
        docs_url="https://opencode.ai/docs/go/",
    ),
    Profile(
        id="wafer", display_name="Wafer Pass", transport="openai_chat",
        base_url="https://pass.wafer.ai/v1", api_key_env="WAFER_API_KEY",
        max_tokens_cap=HOSTED_OUTPUT_CAP, effort_levels=("low", "medium", "high", "max"),
        notes="OpenAI-compatible; reasoning_effort low..max",
        docs_url="https://wafer.ai",
    ),
    Profile(
        id="kimi", display_name="Kimi (Moonshot)", transport="openai_chat",
        model_windows=(("kimi-k2-0711*", 131_072), ("kimi-k2*", 262_144)),
        base_url="https://api.moonshot.ai/v1", api_key_env="KIMI_API_KEY",
        max_tokens_cap=HOSTED_OUTPUT_CAP,
        reasoning_control="thinking_object", reasoning_replay="reasoning_content",
        # Named and "required" choices are both 400 while thinking is on.
        tool_choice="auto_only", temperature="drop", think_tags=False,
        prefill="partial_flag",  # Moonshot's "partial mode"
        rejects=frozenset({"top_p", "n", "frequency_penalty", "presence_penalty"}),
        notes="sampling pinned server-side (temperature/top_p dropped); reasoning_content required on "
              "tool-call turns; forced tool_choice downgraded to auto",
        docs_url="https://platform.moonshot.ai/docs/api/chat",
    ),
    Profile(
        id="cerebras", display_name="Cerebras", transport="openai_chat",
        base_url="https://api.cerebras.ai/v1", api_key_env="CEREBRAS_API_KEY",
        max_tokens_field="max_completion_tokens", max_tokens_cap=HOSTED_OUTPUT_CAP,
        # reasoning_effort only exists for gpt-oss; other models 400 on it.
        reasoning_control="none", reasoning_replay="reasoning",
        stream_options=False,
        rejects=PRIVATE_FIELDS | {"enable_reasoning", "stream_options", "metadata", "store", "prompt_cache_key"},
        notes="strict validator; past thinking only as messages[].reasoning; max_completion_tokens",
        docs_url="https://inference-docs.cerebras.ai/api-reference/chat-completions",
    ),
    Profile(
        id="groq", display_name="Groq", transport="openai_chat",
        base_url="https://api.groq.com/openai/v1", api_key_env="GROQ_API_KEY",
        # Groq counts the requested max_tokens against tokens-per-minute: a big cap alone means 413.
        max_tokens_cap=8192,
        # reasoning_effort words differ per model (gpt-oss low..high, qwen3 none/default) and others 400.
        reasoning_control="none", reasoning_replay="drop",
        rejects=frozenset({"logprobs", "logit_bias", "top_logprobs", "n", "metadata", "store",
                           "prompt_cache_key"}) | PRIVATE_FIELDS,
        notes="strict validator (no reasoning fields in history); cap 8192 because max_tokens counts "
              "against TPM (413 when over)",
        docs_url="https://console.groq.com/docs/openai",
    ),
    Profile(
        id="fireworks", display_name="Fireworks AI", transport="openai_chat",
        base_url="https://api.fireworks.ai/inference/v1", api_key_env="FIREWORKS_API_KEY",
        max_tokens_cap=HOSTED_OUTPUT_CAP, top_k=True,
        notes="max_tokens > 4096 needs stream=true, which fcc always sends upstream",
        docs_url="https://docs.fireworks.ai/api-reference/post-chatcompletions",
    ),
    Profile(
        id="zai", display_name="Z.ai GLM", transport="openai_chat",
        model_windows=(("glm-4.6*", 200_000), ("glm-4.5*", 128_000)),
        base_url="https://api.z.ai/api/coding/paas/v4", api_key_env="ZAI_API_KEY",
        # GLM-4.5 caps output at 96k; 65536 fits every current GLM.
        max_tokens_cap=65536,
        reasoning_control="thinking_object", reasoning_replay="reasoning_content",
        tool_choice="auto_only", temperature="clamp01", stream_options=False, think_tags=False,
        rejects=frozenset({"stream_options", "frequency_penalty", "presence_penalty", "max_completion_tokens"}),
        # Without tool_stream a large tool call arrives whole at the end, after minutes of silence.
        extra_body=(("tool_stream", True),),
        idle_timeout=110.0,
        notes="GLM Coding Plan endpoint (pay-as-you-go keys: https://api.z.ai/api/paas/v4); tool_choice "
              "auto only; preserved thinking replayed",
        docs_url="https://docs.z.ai/api-reference/llm/chat-completion",
    ),
    Profile(
        id="zai_anthropic", display_name="Z.ai GLM (Anthropic-compatible)", transport="anthropic_messages",
        model_windows=(("glm-4.6*", 200_000), ("glm-4.5*", 128_000)),
        base_url="https://api.z.ai/api/anthropic", api_key_env="ZAI_API_KEY",
        reasoning_control="anthropic", think_tags=False,
        notes="native Messages API used by Claude Code directly (GLM Coding Plan)",
        docs_url="https://docs.z.ai/devpack/tool/claude",
    ),
    Profile(
        id="minimax", display_name="MiniMax", transport="openai_chat",
        model_windows=(("minimax-m2*", 204_800),),
        base_url="https://api.minimax.io/v1", api_key_env="MINIMAX_API_KEY",
        max_tokens_field="max_completion_tokens", max_tokens_cap=HOSTED_OUTPUT_CAP,
        # M2.x thinks regardless and M3 wants "adaptive", so no control is sent.
        reasoning_control="none", reasoning_replay="think_tags",
        temperature="clamp01",
        notes="`<think>` inline in content and must be replayed intact; temperature in (0, 1]; "
              "max_completion_tokens",
        docs_url="https://platform.minimax.io/docs/api-reference/text-openai-api",
    ),
    Profile(
        id="minimax_anthropic", display_name="MiniMax (Anthropic-compatible)", transport="anthropic_messages",
        model_windows=(("minimax-m2*", 204_800),),
        base_url="https://api.minimax.io/anthropic", api_key_env="MINIMAX_API_KEY",
        reasoning_control="anthropic", think_tags=False,
        notes="native Messages API with thinking",
        docs_url="https://platform.minimax.io/docs/api-reference/text-anthropic-api",
    ),
    Profile(
        id="kimi_anthropic", display_name="Kimi (Anthropic-compatible)", transport="anthropic_messages",
        model_windows=(("kimi-k2-0711*", 131_072), ("kimi-k2*", 262_144)),
        base_url="https://api.moonshot.ai/anthropic", api_key_env="KIMI_API_KEY",
        reasoning_control="anthropic", think_tags=False,
        notes="native Messages API commonly used with Claude Code (not verified by us)",
        docs_url="https://platform.moonshot.ai/docs/guide/agent-support",
    ),
    Profile(
        id="together", display_name="Together AI", transport="openai_chat",
        base_url="https://api.together.xyz/v1", api_key_env="TOGETHER_API_KEY",
        max_tokens_cap=HOSTED_OUTPUT_CAP,
        reasoning_control="none", reasoning_replay="reasoning", top_k=True,
        notes="reasoning streamed and replayed as `reasoning`; R1-style models may inline `<think>`",
        docs_url="https://docs.together.ai/docs/openai-api-compatibility",
    ),
    Profile(
        id="openai", display_name="OpenAI", transport="openai_chat",
        base_url="https://api.openai.com/v1", api_key_env="OPENAI_API_KEY",
        max_tokens_field="max_completion_tokens",
        reasoning_control="reasoning_effort", reasoning_replay="drop", think_tags=False,
        # Reasoning models stream nothing while they think; still under 2 minutes.
        first_byte_timeout=110.0,
        notes="max_completion_tokens (o-series/gpt-5 reject max_tokens); per-model output caps "
              "(gpt-4o 16k) need a route max_tokens_cap",
        docs_url="https://platform.openai.com/docs/api-reference/chat",
    ),
    Profile(
        id="openai_responses", display_name="OpenAI (Responses API)", transport="openai_responses",
        base_url="https://api.openai.com/v1", api_key_env="OPENAI_API_KEY",
        max_tokens_field="max_completion_tokens",
        reasoning_control="reasoning_effort", reasoning_replay="drop", think_tags=False,
        first_byte_timeout=110.0,
        notes="`POST /responses`: Codex requests pass through as sent (model renamed, encrypted reasoning "
              "kept); Claude Code requests are translated (for Responses-only models such as gpt-5-codex)",
        docs_url="https://platform.openai.com/docs/api-reference/responses",
    ),
    Profile(
        id="anthropic", display_name="Anthropic", transport="anthropic_messages",
        model_windows=(("*", 200_000),),
        base_url="https://api.anthropic.com", api_key_env="ANTHROPIC_API_KEY", auth_style="x-api-key",
        reasoning_control="anthropic", think_tags=False, prefill="trailing_assistant",
        notes="the real Anthropic API; requests pass through unchanged",
        docs_url="https://docs.anthropic.com/en/api/messages",
    ),
    _local(
        "vllm", "vLLM", "http://localhost:8000/v1",
        # vLLM answers 400 when prompt + max_tokens exceeds --max-model-len.
        max_tokens_cap=16384,
        reasoning_control="chat_template", reasoning_replay="reasoning_content",
        prefill="continue_final_message",
        notes="needs `--enable-auto-tool-choice --tool-call-parser` for tools; "
              "prompt + max_tokens must fit `--max-model-len`",
        docs_url="https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html",
    ),
    _local(
        "lmstudio", "LM Studio", "http://localhost:1234/v1",
        reasoning_control="none", reasoning_replay="drop", tool_choice="no_named",
        notes="`<think>` inline by default; streamed tool calls are buggy in some versions",
        docs_url="https://lmstudio.ai/docs/app/api/endpoints/openai",
    ),
    _local(
        "llamacpp", "llama.cpp server", "http://localhost:8080/v1",
        reasoning_control="chat_template", reasoning_replay="reasoning_content",
        # A named tool_choice is silently turned into "auto"; "required" at least forces a call.
        tool_choice="no_named",
        notes="start llama-server with `--jinja`; named tool_choice becomes required",
        docs_url="https://github.com/ggml-org/llama.cpp/tree/master/tools/server",
    ),
    _local(
        "ollama", "Ollama", "http://localhost:11434/v1",
        # Ollama turns reasoning_effort into `think`, which non-thinking models answer with a 400.
        reasoning_control="none", reasoning_replay="reasoning",
        # `content: null` is a 400 on Ollama's /v1.
        empty_assistant_content="empty", top_k=False,
        notes="raise the model's context (OLLAMA_CONTEXT_LENGTH) or long prompts are silently truncated",
        docs_url="https://docs.ollama.com/api/openai-compatibility",
    ),
)

# The request field each reasoning control writes; a profile must not also reject it.
_CONTROL_FIELD: dict[str, str] = {
    "reasoning_effort": "reasoning_effort",
    "reasoning_object": "reasoning",
    "thinking_object": "thinking",
    "chat_template": "chat_template_kwargs",
}


def profile_problems(p: Profile) -> list[str]:
    """validate_profile plus cross-field rules that only make sense for catalog data."""
    problems = validate_profile(p)  # includes the known-transport check
    if p.max_tokens_field in p.rejects:
        problems.append(f"{p.id}: rejects its own max_tokens_field {p.max_tokens_field!r}")
    control_field = _CONTROL_FIELD.get(p.reasoning_control)
    if control_field and control_field in p.rejects:
        problems.append(f"{p.id}: rejects {control_field!r}, which its reasoning_control sends")
    for flag, field_name in (("stream_options", "stream_options"), ("top_k", "top_k"),
                             ("parallel_tool_calls", "parallel_tool_calls")):
        if getattr(p, flag) and field_name in p.rejects:
            problems.append(f"{p.id}: {flag}=True contradicts rejecting {field_name!r}")
    for key, _ in p.extra_body:
        if key in p.rejects:
            problems.append(f"{p.id}: extra_body sends {key!r}, which it also rejects")
    # The engine appends the endpoint path; a base_url that already has it doubles it.
    if p.transport == "anthropic_messages" and p.base_url.rstrip("/").endswith(("/v1", "/v1/messages")):
        problems.append(f"{p.id}: anthropic_messages base_url must not include /v1 (the engine appends /v1/messages)")
    if p.transport == "openai_responses" and p.base_url.endswith("/responses"):
        problems.append(f"{p.id}: openai_responses base_url must not include /responses")
    if p.transport == "openai_chat" and p.base_url.endswith("/chat/completions"):
        problems.append(f"{p.id}: openai_chat base_url must not include /chat/completions")
    if p.local and p.api_key_env is None and p.auth_style != "none":
        problems.append(f"{p.id}: a keyless local server must use auth_style 'none'")
    if not p.local and p.api_key_env is None:
        problems.append(f"{p.id}: a hosted provider needs api_key_env")
    if not p.notes or "\n" in p.notes:
        problems.append(f"{p.id}: notes must be one non-empty line (it is the README table cell)")
    # Markdown renders a bare <tag> as HTML, so it would vanish from the README table.
    if "<" in re.sub(r"`[^`]*`", "", p.notes):
        problems.append(f"{p.id}: notes must put '<...>' inside backticks")
    return problems


def catalog_problems(profiles: Mapping[str, Profile]) -> list[str]:
    """Every problem with a whole catalog: per-profile problems plus id/key agreement."""
    problems: list[str] = []
    seen_ids: set[str] = set()
    for key, p in profiles.items():
        if p.id != key:
            problems.append(f"{key}: stored under key {key!r} but its id is {p.id!r}")
        if p.id in seen_ids:
            problems.append(f"{p.id}: duplicate id")
        seen_ids.add(p.id)
        problems.extend(profile_problems(p))
    return problems


def build_catalog(profiles: tuple[Profile, ...] | list[Profile]) -> dict[str, Profile]:
    """Index profiles by id, refusing duplicates and unsound entries with a RuntimeError."""
    catalog: dict[str, Profile] = {}
    problems: list[str] = []
    for p in profiles:
        if p.id in catalog:
            problems.append(f"{p.id}: duplicate id")
        else:
            catalog[p.id] = p
    problems += catalog_problems(catalog)
    if problems:
        raise RuntimeError("fcc provider catalog is broken:\n  " + "\n  ".join(problems))
    return catalog


CATALOG: dict[str, Profile] = build_catalog(_PROFILES)


def get_profile(id: str) -> Profile:
    """The built-in profile with this id; KeyError names every known id otherwise."""
    try:
        return CATALOG[id]
    except KeyError:
        raise KeyError(f"unknown provider {id!r}; known providers: {', '.join(CATALOG)}") from None
