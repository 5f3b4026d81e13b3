"""Router rules that are cheaper to prove without a process (the e2e suite proves them end to end)."""

from __future__ import annotations

import pytest

from fcc.config import load_config
from fcc.router import RouteError, advertised_models, clean_model_name, route_model


@pytest.fixture
def routes_file(tmp_path):
    path = tmp_path / "routes.yaml"
    path.write_text("models: {}\n")
    return str(path)


def test_direct_slug_to_a_built_in_provider_honours_its_base_url_override(routes_file: str) -> None:
    env = {"OLLAMA_BASE_URL": "http://gpu-box:11434/v1/"}
    config = load_config(routes_file, env)

    route = route_model("ollama/qwen3:8b", config, env)

    assert route is not None and route.tier == "direct"
    assert route.primary.profile.base_url == "http://gpu-box:11434/v1"
    assert route.primary.model == "qwen3:8b"


def test_direct_slug_without_an_override_uses_the_catalog_base_url(routes_file: str) -> None:
    config = load_config(routes_file, {})

    route = route_model("ollama/qwen3:8b", config, {})

    assert route is not None and route.primary.profile.base_url == "http://localhost:11434/v1"


def test_direct_slug_with_a_bad_base_url_override_is_a_clear_route_error(routes_file: str) -> None:
    env = {"OLLAMA_BASE_URL": "gpu-box:11434"}
    config = load_config(routes_file, {})

    with pytest.raises(RouteError, match="base_url"):
        route_model("ollama/qwen3:8b", config, env)


def test_direct_slug_to_a_keyed_provider_needs_its_key(routes_file: str) -> None:
    config = load_config(routes_file, {})

    with pytest.raises(RouteError, match="DEEPSEEK_API_KEY"):
        route_model("deepseek/deepseek-chat", config, {})


# --------------------------------------------------------------- tiers, slugs, fallbacks

KEYS = {"OPENROUTER_API_KEY": "or", "NVIDIA_NIM_API_KEY": "nim", "DEEPSEEK_API_KEY": "ds"}


@pytest.fixture
def tiered(tmp_path):
    path = tmp_path / "tiers.yaml"
    path.write_text(
        "models:\n"
        "  default: ollama/qwen3-coder:30b\n"
        "  opus:\n"
        "    model: openrouter/anthropic/claude-opus\n"
        "    reasoning: high\n"
        "    fallbacks: [deepseek/deepseek-chat, ollama/qwen3-coder:30b, deepseek/deepseek-chat]\n"
        "  sonnet: deepseek/deepseek-chat\n"
        "  haiku: ollama/llama3.2\n"
        "fallbacks: [ollama/qwen3-coder:30b, nvidia_nim/moonshotai/kimi-k2, ollama/llama3.2, nvidia_nim/moonshotai/kimi-k2]\n"
        "reasoning: low\n"
    )
    return load_config(str(path), KEYS)


def slugs(route) -> list[str]:
    return [target.slug for target in route.targets]


@pytest.mark.parametrize(
    ("name", "tier"),
    [
        ("claude-opus-5-5", "opus"),
        ("claude-opus-5-5[1m]", "opus"),
        ("claude-opus-4-8", "opus"),
        ("claude-sonnet-5-5", "sonnet"),
        ("claude-sonnet-4-5-20250929", "sonnet"),
        ("claude-sonnet-4-5-20250929[1M]", "sonnet"),
        ("claude-3-5-sonnet-20241022", "sonnet"),
        ("claude-haiku-5-5", "haiku"),
        ("claude-3-5-haiku-latest", "haiku"),
        ("  claude-haiku-4-5  ", "haiku"),
        ("claude-fable-5-2", "default"),
        ("my-custom-model", "default"),
        ("stub-opus", "opus"),
    ],
)
def test_tier_matching(tiered, name: str, tier: str) -> None:
    route = route_model(name, tiered, KEYS)
    assert route is not None
    assert route.tier == tier
    assert route.client_model == name  # the client's own name is what the answer carries back
    assert route.primary == tiered.tiers[tier].target
    assert route.reasoning == tiered.tiers[tier].reasoning


def test_context_suffix_is_ignored() -> None:
    assert clean_model_name("claude-opus-5-5[1m]") == "claude-opus-5-5"
    assert clean_model_name("claude-sonnet-4-5[200k]") == "claude-sonnet-4-5"
    assert clean_model_name("ollama/qwen3[1m]") == "ollama/qwen3"
    assert clean_model_name("model[beta]") == "model[beta]"


def test_fallbacks_are_ordered_and_deduplicated(tiered) -> None:
    route = route_model("claude-opus-5-5[1m]", tiered, KEYS)
    assert slugs(route) == [
        "openrouter/anthropic/claude-opus",  # the tier's model
        "deepseek/deepseek-chat",  # the tier's fallbacks, once each
        "ollama/qwen3-coder:30b",
        "nvidia_nim/moonshotai/kimi-k2",  # then the global fallbacks not seen yet
        "ollama/llama3.2",
    ]
    assert route.describe() == "opus -> openrouter/anthropic/claude-opus"
    default = route_model("whatever", tiered, KEYS)
    assert slugs(default) == ["ollama/qwen3-coder:30b", "nvidia_nim/moonshotai/kimi-k2", "ollama/llama3.2"]


def test_tier_missing_falls_back_to_default_and_no_route_is_none(tmp_path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("models:\n  opus: ollama/big\n")
    config = load_config(str(path), {})
    assert route_model("claude-opus-5-5", config, {}).tier == "opus"
    # No sonnet tier and no default: fcc has no route, the request goes to Anthropic untouched.
    assert route_model("claude-sonnet-5-5", config, {}) is None
    assert route_model("claude-haiku-5-5", config, {}) is None


@pytest.mark.parametrize(
    ("name", "provider", "model"),
    [
        ("ollama/qwen3-coder:30b", "ollama", "qwen3-coder:30b"),
        ("nvidia_nim/moonshotai/kimi-k2", "nvidia_nim", "moonshotai/kimi-k2"),
        ("nvidia_nim/moonshotai/kimi-k2[1m]", "nvidia_nim", "moonshotai/kimi-k2"),
        ("openrouter/qwen/qwen3-coder:free", "openrouter", "qwen/qwen3-coder:free"),
        ("vllm/Qwen/Qwen3-32B", "vllm", "Qwen/Qwen3-32B"),
    ],
)
def test_direct_slugs(tiered, name: str, provider: str, model: str) -> None:
    route = route_model(name, tiered, KEYS)
    assert route is not None and route.tier == "direct"
    assert route.primary.profile.id == provider and route.primary.model == model
    assert route.client_model == name
    assert route.reasoning == tiered.reasoning == "low"


def test_direct_slug_fallbacks_are_the_global_ones_without_duplicates(tiered) -> None:
    route = route_model("openrouter/x/y", tiered, KEYS)
    assert slugs(route) == ["openrouter/x/y", "ollama/qwen3-coder:30b", "nvidia_nim/moonshotai/kimi-k2", "ollama/llama3.2"]
    # The primary itself is not tried twice.
    route = route_model("ollama/llama3.2", tiered, KEYS)
    assert slugs(route) == ["ollama/llama3.2", "ollama/qwen3-coder:30b", "nvidia_nim/moonshotai/kimi-k2"]


def test_direct_fallbacks_from_the_environment_are_deduplicated(routes_file: str) -> None:
    env = {"MODEL_FALLBACKS": "ollama/a,ollama/a, ollama/b"}
    config = load_config(routes_file, env)
    assert slugs(route_model("ollama/x", config, env)) == ["ollama/x", "ollama/a", "ollama/b"]


def test_direct_slug_with_a_missing_key_names_the_variable(tiered) -> None:
    with pytest.raises(RouteError) as caught:
        route_model("groq/llama-3.3-70b", tiered, KEYS)
    assert "GROQ_API_KEY" in str(caught.value) and "groq" in str(caught.value)
    # The key is looked up in the environ given, not the process environment.
    route = route_model("groq/llama-3.3-70b", tiered, {**KEYS, "GROQ_API_KEY": "g"})
    assert route.primary.profile.id == "groq"


def test_direct_slug_to_a_custom_provider(tmp_path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("providers:\n  box: {like: ollama, base_url: http://box:11434/v1}\nmodels: {}\n")
    config = load_config(str(path), {})
    route = route_model("box/qwen3", config, {})
    assert route.tier == "direct" and route.primary.profile.base_url == "http://box:11434/v1"


def test_unknown_provider_prefix_is_a_model_name(tiered) -> None:
    """`moonshotai/kimi-k2` is not a provider slug: it routes by tier like any other name."""
    route = route_model("moonshotai/kimi-k2", tiered, KEYS)
    assert route.tier == "default"
    assert route_model("anthropic-like/opus-clone", tiered, KEYS).tier == "opus"


def test_advertised_models(tiered) -> None:
    ids = advertised_models(tiered)
    assert ids[:3] == ["claude-opus", "claude-sonnet", "claude-haiku"]
    # Claude Code's discovery keeps only ids containing "claude" or "anthropic".
    assert "anthropic/openrouter/anthropic/claude-opus" in ids and "anthropic/deepseek/deepseek-chat" in ids
    assert len(ids) == len(set(ids))
    for model_id in ids:
        assert "claude" in model_id or "anthropic" in model_id


def test_picker_ids_route_back_exactly(tiered) -> None:
    for model_id in advertised_models(tiered)[3:]:
        route = route_model(model_id, tiered, KEYS)
        assert route is not None and route.tier == "direct"
        assert "anthropic/" + route.primary.slug == model_id
    # The anthropic provider's own models are not gateway ids.
    assert route_model("anthropic/ollama/qwen3:8b", tiered, KEYS).primary.slug == "ollama/qwen3:8b"
    assert route_model("anthropic/ollama/qwen3:8b[1m]", tiered, KEYS).primary.slug == "ollama/qwen3:8b"
