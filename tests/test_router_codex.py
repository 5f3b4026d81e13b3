"""Routing of Codex (Responses) model names: slug, then `codex`, then `default`, never Anthropic."""

from __future__ import annotations

import pytest

from fcc.config import ConfigError, load_config
from fcc.router import RouteError, route_codex_model, route_model


def config_from(tmp_path, text: str, env: dict[str, str] | None = None):
    path = tmp_path / "routes.yaml"
    path.write_text(text)
    return load_config(str(path), env or {})


def test_codex_names_take_the_codex_route(tmp_path) -> None:
    config = config_from(tmp_path, "models:\n  default: ollama/qwen3:8b\n  codex:\n    model: vllm/coder\n    reasoning: high\n"
                                   "    fallbacks: [ollama/small]\n")
    for name in ("gpt-5.5", "gpt-6.2-sol", "my-custom-name"):
        route = route_codex_model(name, config, {})
        assert route.tier == "codex" and route.client_model == name
        assert [t.slug for t in route.targets] == ["vllm/coder", "ollama/small"]
        assert route.reasoning == "high"


def test_without_a_codex_route_the_default_route_serves(tmp_path) -> None:
    config = config_from(tmp_path, "models:\n  default: ollama/qwen3:8b\n")
    route = route_codex_model("gpt-5.5", config, {})
    assert route.tier == "default" and route.primary.slug == "ollama/qwen3:8b"


def test_a_slug_routes_directly_even_with_a_codex_route(tmp_path) -> None:
    config = config_from(tmp_path, "models:\n  codex: vllm/coder\n")
    route = route_codex_model("ollama/qwen3:8b", config, {})
    assert route.tier == "direct" and route.primary.slug == "ollama/qwen3:8b"
    # A slash in a name that is no provider is just a name.
    assert route_codex_model("org/some-model", config, {}).tier == "codex"


def test_no_route_is_a_route_error_never_a_pass_through(tmp_path) -> None:
    config = config_from(tmp_path, "models:\n  opus: vllm/coder\n")
    with pytest.raises(RouteError, match="models.codex"):
        route_codex_model("gpt-5.5", config, {})
    # Claude model names are unaffected by the codex route.
    config = config_from(tmp_path, "models:\n  codex: vllm/coder\n")
    assert route_model("claude-sonnet-4-5", config, {}) is None


def test_model_codex_variable_sets_the_route(tmp_path) -> None:
    config = config_from(tmp_path, "models: {}\n", {"MODEL_CODEX": "vllm/from-env"})
    assert route_codex_model("gpt-5.5", config, {}).primary.slug == "vllm/from-env"


def test_the_codex_route_needs_its_providers_key(tmp_path) -> None:
    with pytest.raises(ConfigError, match="DEEPSEEK_API_KEY"):
        config_from(tmp_path, "models:\n  codex: deepseek/deepseek-chat\n")


def test_an_unknown_tier_names_codex_among_the_choices(tmp_path) -> None:
    with pytest.raises(ConfigError, match="codex"):
        config_from(tmp_path, "models:\n  gpt: vllm/x\n")
