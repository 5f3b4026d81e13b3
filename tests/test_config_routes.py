"""Quirks per route: a tier or fallback entry in routes.yaml overrides its provider's profile for that route only."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from fcc.config import PROVIDER_ONLY, ROUTE_FIELDS, ConfigError, load_config
from fcc.core.catalog import CATALOG
from fcc.core.dialects.openai_chat_request import translate_request
from fcc.core.profiles import PROFILE_FIELDS
from fcc.router import route_model

KEYS = {"OPENROUTER_API_KEY": "or-key", "NVIDIA_NIM_API_KEY": "nim-key", "DEEPSEEK_API_KEY": "ds-key",
        "GROQ_API_KEY": "groq-key", "OPENAI_API_KEY": "oa-key"}  # fmt: skip
README = Path(__file__).resolve().parent.parent / "README.md"
IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
REQUEST = {"messages": [{"role": "user", "content": [{"type": "text", "text": "what is this?"}, IMAGE]}],
           "max_tokens": 30000, "stream": True}  # fmt: skip


@pytest.fixture
def routes(tmp_path: Path):
    def write(text: str) -> str:
        path = tmp_path / "routes.yaml"
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return str(path)

    return write


def config_error(option: str, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(option, dict(environ or {}))
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_a_tier_overrides_quirks_for_itself_only(routes) -> None:
    option = routes(
        """
        models:
          opus:
            model: nvidia_nim/mistralai/mistral-large
            max_tokens_cap: 8192
            first_byte_timeout: 30
            quirks: {string_content_only: true, stream_options: false, rejects: [metadata]}
          sonnet: nvidia_nim/moonshotai/kimi-k2-instruct
        """
    )
    config = load_config(option, KEYS)
    opus, sonnet = config.tiers["opus"].target.profile, config.tiers["sonnet"].target.profile
    assert (opus.max_tokens_cap, opus.first_byte_timeout) == (8192, 30)
    assert opus.string_content_only is True and opus.stream_options is False
    assert opus.rejects == frozenset({"metadata"})
    # Still the same provider: identity, endpoint, key and admission limits are the provider's.
    nim = CATALOG["nvidia_nim"]
    assert (opus.id, opus.base_url, opus.api_key_env, opus.requests_per_minute) == (
        nim.id, nim.base_url, nim.api_key_env, nim.requests_per_minute)
    assert config.tiers["opus"].target.slug == "nvidia_nim/mistralai/mistral-large"
    # The other tier on the same provider, and the provider itself, are untouched.
    assert sonnet is nim and config.providers["nvidia_nim"] is nim

    body = translate_request(REQUEST, opus, "mistralai/mistral-large")
    assert body["max_tokens"] == 8192
    assert body["messages"][-1]["content"] == "what is this?\n\n[image]"  # string_content_only
    assert "stream_options" not in body
    plain = translate_request(REQUEST, sonnet, "moonshotai/kimi-k2-instruct")
    assert plain["max_tokens"] == min(30000, nim.max_tokens_cap or 30000)
    assert isinstance(plain["messages"][-1]["content"], list) and "stream_options" in plain


def test_fallback_entries_carry_their_own_overrides(routes) -> None:
    option = routes(
        """
        models:
          opus:
            model: deepseek/deepseek-chat
            max_tokens_cap: 8192
            fallbacks:
              - openrouter/qwen/qwen3-coder:free
              - {model: groq/llama-3.3-70b-versatile, max_tokens_cap: 4096, quirks: {temperature: drop}}
        fallbacks:
          - {model: openai/gpt-4o, max_tokens_cap: 16384, quirks: {price_per_mtok: [2.5, 10]}}
          - ollama/llama3.2
        """
    )
    config = load_config(option, KEYS)
    tier = config.tiers["opus"]
    assert tier.target.profile.max_tokens_cap == 8192
    plain, groq = tier.fallbacks
    assert plain.profile is CATALOG["openrouter"]  # a slug keeps its provider's profile as it is
    assert (groq.slug, groq.profile.max_tokens_cap, groq.profile.temperature) == (
        "groq/llama-3.3-70b-versatile", 4096, "drop")
    gpt, local = config.fallbacks
    assert (gpt.profile.max_tokens_cap, gpt.profile.price_per_mtok) == (16384, (2.5, 10.0))
    assert local.profile is CATALOG["ollama"]

    # The router hands the engine these targets, overrides and all, in order.
    route = route_model("claude-opus-4-5", config, {})
    assert route is not None
    assert [t.profile.max_tokens_cap for t in route.targets] == [8192, CATALOG["openrouter"].max_tokens_cap, 4096, 16384,
                                                                CATALOG["ollama"].max_tokens_cap]  # fmt: skip


def test_the_same_model_with_other_quirks_is_another_target(routes) -> None:
    option = routes(
        """
        models:
          default: deepseek/deepseek-chat
          opus: {model: deepseek/deepseek-chat, max_tokens_cap: 8192}
        """
    )
    config = load_config(option, KEYS)
    default, opus = config.tiers["default"].target, config.tiers["opus"].target
    assert default.slug == opus.slug and default != opus
    assert default.profile.max_tokens_cap == CATALOG["deepseek"].max_tokens_cap != 8192


@pytest.mark.parametrize("name", sorted(PROVIDER_ONLY))
def test_a_route_cannot_change_what_belongs_to_the_provider(routes, name: str) -> None:
    option = routes(f"models:\n  opus:\n    model: ollama/a\n    quirks: {{{name}: x}}\n")
    message = config_error(option)
    assert f"models.opus.quirks.{name}" in message
    assert "providers:" in message


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("models: {opus: {model: ollama/a, requests_per_minute: 5}}\n", "models.opus.requests_per_minute"),
        ("models: {opus: {model: ollama/a, base_url: 'http://x'}}\n", "models.opus.base_url"),
        ("models: {opus: {model: ollama/a, max_tokens_cap: 0}}\n", "models.opus.max_tokens_cap"),
        ("models: {opus: {model: ollama/a, fallbacks: [{model: ollama/b, max_tokens_cap: 0}]}}\n",
         "models.opus.fallbacks.0.max_tokens_cap"),
        ("models: {opus: {model: ollama/a, fallbacks: [{model: ollama/b, cap: 5}]}}\n", "models.opus.fallbacks.0.cap"),
        ("models: {opus: {model: ollama/a, fallbacks: [{max_tokens_cap: 5}]}}\n", "models.opus.fallbacks.0.model"),
        ("models: {default: ollama/a}\nfallbacks: [{model: ollama/b, idle_timeout: -1}]\n", "fallbacks.0.idle_timeout"),
        ("models: {opus: {model: ollama/a, quirks: {max_tokens_feild: 5}}}\n", "models.opus.quirks.max_tokens_feild"),
        ("models: {opus: {model: ollama/a, quirks: {tool_choice: sometimes}}}\n", "models.opus.quirks.tool_choice"),
        ("models: {opus: {model: ollama/a, quirks: {max_tokens_cap: 8k}}}\n", "models.opus.quirks.max_tokens_cap"),
        ("models: {opus: {model: ollama/a, quirks: {effort_levels: []}}}\n", "models.opus"),
        ("models: {default: ollama/a}\nfallbacks: [ollama/b, {model: ollama}]\n", "fallbacks.1"),
    ],
)  # fmt: skip
def test_bad_route_overrides_name_their_key(routes, text: str, key: str) -> None:
    message = config_error(routes(text))
    assert message.split(": ", 1)[1].startswith(key) or f" {key}" in message or f"{key}:" in message, message
    assert "Value error" not in message


def test_every_quirk_a_provider_may_override_a_route_may_too(routes) -> None:
    """ROUTE_FIELDS is the provider's set less what names the server, key and shared limits."""
    assert ROUTE_FIELDS == PROFILE_FIELDS - PROVIDER_ONLY
    assert {"max_tokens_cap", "string_content_only", "tool_choice", "reasoning_replay", "price_per_mtok",
            "first_byte_timeout", "think_tags", "extra_body"} <= ROUTE_FIELDS  # fmt: skip
    option = routes(
        """
        models:
          default:
            model: zai/glm-4.6
            quirks: {extra_body: {tool_stream: false}, think_tags: false, reasoning_replay: reasoning_content}
        """
    )
    profile = load_config(option, {"ZAI_API_KEY": "k"}).tiers["default"].target.profile
    assert dict(profile.extra_body) == {"tool_stream": False}
    assert profile.think_tags is False and profile.reasoning_replay == "reasoning_content"


def test_a_model_variable_drops_the_overrides_of_the_model_it_replaces(routes) -> None:
    option = routes(
        """
        models:
          opus:
            model: deepseek/deepseek-chat
            max_tokens_cap: 8192
            reasoning: high
            fallbacks: [{model: openrouter/qwen/qwen3-coder:free, max_tokens_cap: 1000}]
        """
    )
    replaced = load_config(option, {**KEYS, "MODEL_OPUS": "groq/llama-3.3-70b-versatile"}).tiers["opus"]
    assert replaced.target.profile is CATALOG["groq"]
    assert replaced.reasoning == "high"  # the tier's own settings stay
    assert replaced.fallbacks[0].profile.max_tokens_cap == 1000
    same = load_config(option, {**KEYS, "MODEL_OPUS": "deepseek/deepseek-chat"}).tiers["opus"]
    assert same.target.profile.max_tokens_cap == 8192


def test_the_readme_routes_example_loads_as_documented(routes) -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Configure: routes.yaml", 1)[1]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert blocks, "README's configuration section has no yaml example"
    config = load_config(routes(blocks[0]), {**KEYS, "MY_VLLM_KEY": "v"})
    assert "max_tokens_cap" in blocks[0]
    overridden = {t.slug: t.profile for route in config.tiers.values() for t in (route.target, *route.fallbacks)
                  if t.profile != config.providers[t.profile.id]}
    assert overridden["deepseek/deepseek-chat"].max_tokens_cap == 8192
    [mistral] = [p for slug, p in overridden.items() if slug.startswith("nvidia_nim/mistralai/")]
    assert mistral.string_content_only is True and mistral.stream_options is False
    assert config.tiers["opus"].target.profile is config.providers["nvidia_nim"]  # the tier itself: as configured


def test_a_class_route_overrides_quirks_too(routes) -> None:
    option = routes(
        """
        models:
          default: deepseek/deepseek-chat
        classes:
          title: {model: deepseek/deepseek-chat, max_tokens_cap: 64, fallbacks: [{model: ollama/a, max_tokens_cap: 32}]}
        """
    )
    config = load_config(option, KEYS)
    title = config.classes["title"]
    assert (title.target.profile.max_tokens_cap, title.fallbacks[0].profile.max_tokens_cap) == (64, 32)
    assert config.tiers["default"].target.profile is CATALOG["deepseek"]
    replaced = load_config(option, {**KEYS, "MODEL_TITLE": "ollama/b"}).classes["title"]
    assert replaced.target.profile is CATALOG["ollama"] and replaced.fallbacks[0].profile.max_tokens_cap == 32
    message = config_error(routes("classes:\n  title: {model: ollama/a, quirks: {base_url: 'http://x'}}\n"))
    assert "classes.title.quirks.base_url" in message
