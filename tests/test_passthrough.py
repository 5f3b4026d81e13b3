"""Subscription passthrough: a tier or class routed to `anthropic` with no key where fcc runs uses the
client's own credentials, and those credentials only ever go to Anthropic."""

from __future__ import annotations

from pathlib import Path

import pytest

from fcc.config import ConfigError, load_config
from fcc.engine.upstream import build_request
from fcc.router import route_model

CLIENT = {"authorization": "Bearer sk-ant-oat01-client-secret", "anthropic-beta": "oauth-2025-04-20,claude-code-20250219"}


def config_for(tmp_path: Path, text: str, env: dict[str, str]):
    path = tmp_path / "routes.yaml"
    path.write_text(text)
    return load_config(str(path), env)


def test_anthropic_routes_need_no_key_and_use_the_clients_credentials(tmp_path: Path) -> None:
    config = config_for(tmp_path, "models:\n  opus: {model: anthropic/claude-opus-4-5, fallbacks: [deepseek/deepseek-chat]}\n"
                                  "classes:\n  title: anthropic/claude-haiku-4-5\n", {"DEEPSEEK_API_KEY": "ds-key"})  # fmt: skip
    route = route_model("claude-opus-5-5", config, {"DEEPSEEK_API_KEY": "ds-key"})
    anthropic, deepseek = route.targets
    body = {"model": "claude-opus-5-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    request, _, secrets = build_request(anthropic, body, "client", CLIENT, environ={})
    assert request.headers["authorization"] == CLIENT["authorization"]
    assert request.headers["anthropic-beta"] == CLIENT["anthropic-beta"]  # the subscription's oauth beta goes too
    assert str(request.url).startswith("https://api.anthropic.com/v1/messages")
    assert CLIENT["authorization"] in secrets  # redacted from any error text
    # The fallback to another provider never sees them: it gets its own key from the environment.
    other, _, _ = build_request(deepseek, body, "client", CLIENT, environ={"DEEPSEEK_API_KEY": "ds-key"})
    assert other.headers["authorization"] == "Bearer ds-key"
    assert b"sk-ant-oat01" not in other.content and "anthropic-beta" not in other.headers


def test_a_key_where_fcc_runs_wins_over_the_clients(tmp_path: Path) -> None:
    config = config_for(tmp_path, "models:\n  default: anthropic/claude-sonnet-4-5\n", {})
    target = config.tiers["default"].target
    body = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    request, _, _ = build_request(target, body, "client", CLIENT, environ={"ANTHROPIC_API_KEY": "fcc-own-key"})
    assert request.headers["x-api-key"] == "fcc-own-key"
    assert "authorization" not in request.headers


def test_a_direct_anthropic_slug_routes_without_a_key(tmp_path: Path) -> None:
    config = config_for(tmp_path, "models: {}\n", {})
    assert route_model("anthropic/claude-opus-4-5", config, {}).primary.profile.id == "anthropic"


def test_other_anthropic_compatible_providers_still_need_their_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="DEEPSEEK_API_KEY"):
        config_for(tmp_path, "models:\n  default: deepseek_anthropic/deepseek-chat\n", {})
    config = config_for(tmp_path, "models:\n  default: deepseek_anthropic/deepseek-chat\n", {"DEEPSEEK_API_KEY": "k"})
    body = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    request, _, _ = build_request(config.tiers["default"].target, body, "client", CLIENT, environ={"DEEPSEEK_API_KEY": "k"})
    assert "sk-ant-oat01" not in repr(dict(request.headers)) and b"sk-ant-oat01" not in request.content
