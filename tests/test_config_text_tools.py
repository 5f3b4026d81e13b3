"""routes.yaml `text_tool_calls`: per route (tier or class) and per provider (quirks)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fcc.config import ConfigError, load_config


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "routes.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_route_setting_applies_to_its_target_and_each_fallback_has_its_own(tmp_path: Path) -> None:
    option = write(tmp_path, """
        models:
          default:
            model: ollama/qwen3-coder:30b
            text_tool_calls: [hermes, qwen3_coder]
            fallbacks: [llamacpp/devstral, {model: vllm/mistral-small, text_tool_calls: mistral}]
          haiku: ollama/qwen3:8b
    """)
    config = load_config(option, {})
    default = config.tiers["default"]
    assert default.target.profile.text_tool_calls == ("hermes", "qwen3_coder")
    assert default.fallbacks[0].profile.text_tool_calls == ("all",)
    assert default.fallbacks[1].profile.text_tool_calls == ("mistral",)
    assert config.tiers["haiku"].target.profile.text_tool_calls == ("all",)  # the local default
    assert config.providers["ollama"].text_tool_calls == ("all",)  # the provider itself is unchanged


def test_yaml_off_and_a_single_word(tmp_path: Path) -> None:
    option = write(tmp_path, """
        models:
          default: {model: ollama/qwen3:8b, text_tool_calls: off}
          opus: {model: llamacpp/glm, text_tool_calls: glm}
    """)
    config = load_config(option, {})
    assert config.tiers["default"].target.profile.text_tool_calls == ("off",)
    assert config.tiers["opus"].target.profile.text_tool_calls == ("glm",)


def test_provider_quirk(tmp_path: Path) -> None:
    option = write(tmp_path, """
        providers:
          vllm:
            text_tool_calls: mistral
        models:
          default: vllm/mistral-small
    """)
    assert load_config(option, {}).tiers["default"].target.profile.text_tool_calls == ("mistral",)


def test_unknown_dialect_is_one_clear_line(tmp_path: Path) -> None:
    option = write(tmp_path, """
        models:
          default: {model: ollama/qwen3:8b, text_tool_calls: [hermes, yaml_calls]}
    """)
    with pytest.raises(ConfigError) as error:
        load_config(option, {})
    assert "yaml_calls" in str(error.value) and "\n" not in str(error.value)
    option = write(tmp_path, """
        providers:
          ollama: {quirks: {text_tool_calls: [klingon]}}
        models:
          default: ollama/x
    """)
    with pytest.raises(ConfigError, match="klingon"):
        load_config(option, {})
