"""routes.yaml + environment -> Config: parsing, overrides, and one-line errors that name the key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fcc import config as config_module
from fcc.core.catalog import CATALOG
from fcc.config import ConfigError, env_base_url_name, find_routes_file, load_config
from fcc.core.dialects.openai_chat_request import translate_request

KEYS = {"OPENROUTER_API_KEY": "or-key", "NVIDIA_NIM_API_KEY": "nim-key", "DEEPSEEK_API_KEY": "ds-key"}


@pytest.fixture
def routes(tmp_path: Path):
    """Write a routes.yaml and return its path as the `option` string."""

    def write(text: str) -> str:
        path = tmp_path / "routes.yaml"
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return str(path)

    return write


def config_error(option: str, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(option, dict(environ or {}))
    message = str(caught.value)
    assert "\n" not in message, f"not one line: {message!r}"
    assert "Traceback" not in message
    return message


# ------------------------------------------------------------------- parsing


def test_tiers_as_slugs_and_mappings(routes) -> None:
    option = routes(
        """
        models:
          default: ollama/qwen3-coder:30b
          opus:
            model: nvidia_nim/moonshotai/kimi-k2-instruct
            reasoning: high
            fallbacks: [openrouter/qwen/qwen3-coder:free, deepseek/deepseek-chat]
          sonnet: deepseek/deepseek-chat
          haiku: {model: openrouter/qwen/qwen3-coder:free, reasoning: "off"}
        fallbacks: [ollama/llama3.2]
        reasoning: low
        """
    )
    config = load_config(option, KEYS)
    assert set(config.tiers) == {"default", "opus", "sonnet", "haiku"}
    opus = config.tiers["opus"]
    assert opus.target.profile is CATALOG["nvidia_nim"]
    assert opus.target.model == "moonshotai/kimi-k2-instruct"  # everything after the first '/'
    assert opus.target.slug == "nvidia_nim/moonshotai/kimi-k2-instruct"
    assert opus.reasoning == "high"
    assert [t.slug for t in opus.fallbacks] == ["openrouter/qwen/qwen3-coder:free", "deepseek/deepseek-chat"]
    assert config.tiers["haiku"].reasoning == "off"
    assert config.tiers["sonnet"].reasoning == "low"  # the file's global policy
    assert config.tiers["default"].target.model == "qwen3-coder:30b"
    assert [t.slug for t in config.fallbacks] == ["ollama/llama3.2"]
    assert config.reasoning == "low"
    assert config.routed_providers == {"ollama", "nvidia_nim", "openrouter", "deepseek"}
    assert config.source == option


def test_empty_file_means_no_routes(routes) -> None:
    config = load_config(routes(""), {})
    assert config.tiers == {} and config.fallbacks == () and config.reasoning == "client"


def test_reasoning_policy_from_environment(routes) -> None:
    option = routes(
        """
        reasoning: low
        models:
          default: ollama/a
          opus: {model: ollama/b, reasoning: max}
        """
    )
    config = load_config(option, {"FCC_REASONING": "off"})
    assert config.reasoning == "off"
    assert config.tiers["default"].reasoning == "off"
    assert config.tiers["opus"].reasoning == "max"  # a tier's own policy wins


def test_custom_provider_like_a_builtin(routes) -> None:
    option = routes(
        """
        providers:
          my_vllm:
            like: vllm
            base_url: http://10.0.0.5:8000/v1/
            api_key_env: MY_VLLM_KEY
            requests_per_minute: 12
        models:
          default: my_vllm/qwen3
        """
    )
    config = load_config(option, {"MY_VLLM_KEY": "secret"})
    profile = config.providers["my_vllm"]
    assert profile.id == "my_vllm"
    assert profile.base_url == "http://10.0.0.5:8000/v1"
    assert profile.api_key_env == "MY_VLLM_KEY" and profile.api_key({"MY_VLLM_KEY": "secret"}) == "secret"
    assert profile.requests_per_minute == 12
    # vLLM's quirks are inherited.
    vllm = CATALOG["vllm"]
    assert (profile.reasoning_control, profile.reasoning_replay, profile.max_tokens_cap) == (
        vllm.reasoning_control, vllm.reasoning_replay, vllm.max_tokens_cap,
    )  # fmt: skip
    assert config.tiers["default"].target.profile is profile
    assert CATALOG["vllm"].base_url == "http://localhost:8000/v1"  # the catalog is untouched


def test_custom_anthropic_messages_provider(routes) -> None:
    option = routes(
        """
        providers:
          my_gateway:
            transport: anthropic_messages
            base_url: https://llm.example.com/
            api_key_env: MY_GATEWAY_KEY
        models:
          default: my_gateway/big-model
        """
    )
    profile = load_config(option, {"MY_GATEWAY_KEY": "k"}).providers["my_gateway"]
    assert profile.transport == "anthropic_messages"
    assert profile.reasoning_control == "anthropic"
    assert profile.base_url == "https://llm.example.com"
    assert profile.auth_style == "bearer" and profile.local is False


def test_custom_keyless_openai_provider_is_local(routes) -> None:
    option = routes(
        """
        providers:
          box:
            transport: openai_chat
            base_url: http://box:9000/v1
        models:
          default: box/m
        """
    )
    profile = load_config(option, {}).providers["box"]
    assert profile.transport == "openai_chat" and profile.auth_style == "none" and profile.local is True


def test_builtin_overrides_and_quirks(routes) -> None:
    option = routes(
        """
        providers:
          nvidia_nim:
            requests_per_minute: 5
            max_concurrency: 2
            max_tokens_cap: 4096
            first_byte_timeout: 30
            quirks:
              string_content_only: true
              stream_options: false
              rejects: [stream_options, metadata]
              effort_levels: [low, high]
              tool_choice: no_named
        models:
          default: nvidia_nim/mistralai/mistral-large
        """
    )
    profile = load_config(option, KEYS).providers["nvidia_nim"]
    assert (profile.requests_per_minute, profile.max_concurrency, profile.max_tokens_cap) == (5, 2, 4096)
    assert profile.first_byte_timeout == 30
    assert profile.string_content_only is True and profile.stream_options is False
    assert profile.rejects == frozenset({"stream_options", "metadata"})
    assert profile.effort_levels == ("low", "high")
    assert profile.tool_choice == "no_named"
    assert profile.base_url == CATALOG["nvidia_nim"].base_url


def test_extra_body_quirk_as_a_mapping_reaches_the_request(routes) -> None:
    option = routes(
        """
        providers:
          zai_plain:
            like: zai
            base_url: https://api.z.ai/api/paas/v4
            quirks:
              extra_body: {tool_stream: false, do_sample: true}
        models:
          default: zai_plain/glm-4.6
        """
    )
    profile = load_config(option, {"ZAI_API_KEY": "k"}).providers["zai_plain"]
    assert dict(profile.extra_body) == {"tool_stream": False, "do_sample": True}
    body = translate_request({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}, profile, "glm-4.6")
    assert body["tool_stream"] is False and body["do_sample"] is True


def test_auth_token_from_environment(routes) -> None:
    option = routes("models: {default: ollama/a}\n")
    assert load_config(option, {"FCC_AUTH_TOKEN": "tok"}).auth_token == "tok"
    assert load_config(option, {}).auth_token is None
    option = routes("auth_token_env: MY_PROXY_TOKEN\nmodels: {default: ollama/a}\n")
    assert load_config(option, {"MY_PROXY_TOKEN": "mine", "FCC_AUTH_TOKEN": "other"}).auth_token == "mine"


# ------------------------------------------------------------------ env overrides


def test_model_variables_replace_tiers(routes) -> None:
    option = routes(
        """
        models:
          default: ollama/a
          opus:
            model: ollama/b
            reasoning: high
            fallbacks: [ollama/c]
        """
    )
    env = {"MODEL": "ollama/x", "MODEL_OPUS": "openrouter/y/z", "MODEL_SONNET": "ollama/s", "MODEL_HAIKU": "ollama/h",
           **KEYS}  # fmt: skip
    config = load_config(option, env)
    assert config.tiers["default"].target.slug == "ollama/x"
    assert config.tiers["sonnet"].target.slug == "ollama/s"
    assert config.tiers["haiku"].target.slug == "ollama/h"
    opus = config.tiers["opus"]
    assert opus.target.slug == "openrouter/y/z"
    # The tier's other settings survive the model override.
    assert opus.reasoning == "high" and [t.slug for t in opus.fallbacks] == ["ollama/c"]


def test_model_fallbacks_variable(routes) -> None:
    option = routes("models: {default: ollama/a}\nfallbacks: [ollama/f]\n")
    config = load_config(option, {"MODEL_FALLBACKS": " ollama/x , openrouter/y/z ,", **KEYS})
    assert [t.slug for t in config.fallbacks] == ["ollama/x", "openrouter/y/z"]


def test_base_url_variables(routes) -> None:
    option = routes(
        """
        providers:
          vllm: {base_url: http://from-file:8000/v1}
        models:
          default: ollama/a
          opus: vllm/b
        """
    )
    config = load_config(option, {"OLLAMA_BASE_URL": "http://gpu-box:11434/v1/", "VLLM_BASE_URL": "http://from-env:8000/v1"})
    assert config.providers["ollama"].base_url == "http://gpu-box:11434/v1"
    assert config.providers["vllm"].base_url == "http://from-env:8000/v1"  # env wins over the file


def test_custom_provider_base_url_variable(routes) -> None:
    option = routes("providers:\n  my_box: {like: ollama, base_url: http://a/v1}\nmodels: {default: my_box/m}\n")
    assert load_config(option, {"MY_BOX_BASE_URL": "http://b/v1"}).providers["my_box"].base_url == "http://b/v1"


def test_anthropic_base_url_variable_is_fcc_prefixed(routes) -> None:
    assert env_base_url_name("anthropic") == "FCC_ANTHROPIC_BASE_URL"
    assert env_base_url_name("ollama") == "OLLAMA_BASE_URL"
    option = routes("models: {default: anthropic/claude-sonnet-4-5}\n")
    key = {"ANTHROPIC_API_KEY": "sk-ant"}
    # ANTHROPIC_BASE_URL is how Claude Code finds fcc: it must not redirect fcc's own upstream.
    config = load_config(option, {**key, "ANTHROPIC_BASE_URL": "http://127.0.0.1:8082"})
    assert config.providers["anthropic"].base_url == "https://api.anthropic.com"
    config = load_config(option, {**key, "FCC_ANTHROPIC_BASE_URL": "https://anthropic-gw.example.com/"})
    assert config.providers["anthropic"].base_url == "https://anthropic-gw.example.com"


def test_routes_file_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit, via_env, in_cwd = tmp_path / "a.yaml", tmp_path / "b.yaml", tmp_path / "cwd" / "routes.yaml"
    in_cwd.parent.mkdir()
    for path in (explicit, via_env, in_cwd):
        path.write_text("models: {}\n")
    monkeypatch.chdir(in_cwd.parent)
    assert find_routes_file(str(explicit), {"FCC_CONFIG": str(via_env)}) == explicit
    assert find_routes_file("", {"FCC_CONFIG": str(via_env)}) == via_env
    assert find_routes_file("", {}) == Path.cwd() / "routes.yaml"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(config_module, "REPO_ROUTES", tmp_path / "missing.yaml")
    assert find_routes_file("", {}) is None
    config = load_config("", {"MODEL": "ollama/q"})
    assert config.tiers["default"].target.slug == "ollama/q"
    assert "no routes.yaml" in config.source


# ------------------------------------------------------------------------ errors


def test_bad_yaml_names_the_file_and_line(routes) -> None:
    option = routes(
        """
        models:
          default: ollama/a
          opus: [ollama/b
        """
    )
    message = config_error(option)
    assert option in message and "line 4" in message and "YAML" in message


def test_bad_yaml_tab_indentation(routes) -> None:
    message = config_error(routes("models:\n\tdefault: ollama/a\n"))
    assert "line 2" in message


def test_missing_file(tmp_path: Path) -> None:
    message = config_error(str(tmp_path / "nope.yaml"))
    assert "nope.yaml" in message and "not found" in message


def test_unreadable_routes_file(tmp_path: Path) -> None:
    message = config_error(str(tmp_path))  # a directory
    assert str(tmp_path) in message and "cannot read" in message
    binary = tmp_path / "routes.yaml"
    binary.write_bytes(b"models:\n  default: \xb0\xff\n")
    message = config_error(str(binary))
    assert "routes.yaml" in message and "UTF-8" in message


def test_top_level_must_be_a_mapping(routes) -> None:
    assert "mapping" in config_error(routes("- a\n- b\n"))


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("models: {default: nope/x}\n", {}, ["models.default", "'nope'"]),
        ("models: {default: ollama/a, haiku: nope/x}\n", {}, ["models.haiku", "'nope'"]),
        ("models: {default: {model: ollama/a, fallbacks: [nope/x]}}\n", {}, ["models.default.fallbacks", "'nope'"]),
        ("models: {default: ollama/a}\nfallbacks: [nope/x]\n", {}, ["fallbacks", "'nope'"]),
        ("models: {}\n", {"MODEL": "nope/x"}, ["MODEL", "'nope'"]),
        ("models: {default: ollama/a}\n", {"MODEL_FALLBACKS": "nope/x"}, ["MODEL_FALLBACKS", "'nope'"]),
    ],
)
def test_unknown_provider_names_the_key(routes, text: str, env: dict, expected: list[str]) -> None:
    message = config_error(routes(text), env)
    for part in expected:
        assert part in message


def test_unknown_like_and_incomplete_custom_provider(routes) -> None:
    message = config_error(routes("providers:\n  mine: {like: nope}\nmodels: {default: mine/x}\n"))
    assert "providers.mine.like" in message and "'nope'" in message
    message = config_error(routes("providers:\n  mine: {base_url: http://x}\nmodels: {default: mine/x}\n"))
    assert "providers.mine" in message and "transport" in message


def test_missing_key_variable_for_a_routed_provider(routes) -> None:
    message = config_error(routes("models: {default: openrouter/qwen/qwen3-coder:free}\n"))
    assert "openrouter" in message and "OPENROUTER_API_KEY" in message
    # A provider used only as a fallback is routed too.
    message = config_error(routes("models: {default: {model: ollama/a, fallbacks: [deepseek/deepseek-chat]}}\n"))
    assert "deepseek" in message and "DEEPSEEK_API_KEY" in message
    # A blank value is not a key.
    message = config_error(routes("models: {default: deepseek/deepseek-chat}\n"), {"DEEPSEEK_API_KEY": "  "})
    assert "DEEPSEEK_API_KEY" in message


def test_an_unrouted_provider_needs_no_key(routes) -> None:
    config = load_config(routes("providers:\n  openrouter: {requests_per_minute: 5}\nmodels: {default: ollama/a}\n"), {})
    assert config.providers["openrouter"].requests_per_minute == 5
    assert "openrouter" not in config.routed_providers


def test_unknown_tier(routes) -> None:
    message = config_error(routes("models: {default: ollama/a, fable: ollama/b}\n"))
    assert "models" in message and "'fable'" in message


@pytest.mark.parametrize(
    ("text", "env", "key"),
    [
        ("reasoning: extreme\nmodels: {default: ollama/a}\n", {}, "reasoning"),
        ("models: {default: {model: ollama/a, reasoning: extreme}}\n", {}, "models.default.reasoning"),
        ("models: {opus: {model: ollama/a, reasoning: extreme}}\n", {}, "models.opus.reasoning"),
        ("models: {default: ollama/a}\n", {"FCC_REASONING": "extreme"}, "FCC_REASONING"),
    ],
)
def test_bad_reasoning_value(routes, text: str, env: dict, key: str) -> None:
    message = config_error(routes(text), env)
    assert f"{key}:" in message
    assert "must be one of" in message or "is not one of" in message
    assert "Value error" not in message


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("models: {default: ollama/a}\ntimeout: 5\n", "timeout"),
        ("providers:\n  ollama: {rpm: 5}\nmodels: {default: ollama/a}\n", "providers.ollama.rpm"),
        ("models: {opus: {model: ollama/a, fallback: [ollama/b]}}\n", "models.opus.fallback"),
        ("providers:\n  ollama: {quirks: {max_tokens_feild: 5}}\nmodels: {default: ollama/a}\n",
         "providers.ollama.quirks.max_tokens_feild"),
    ],
)  # fmt: skip
def test_extra_unknown_key(routes, text: str, key: str) -> None:
    message = config_error(routes(text))
    assert key in message


def test_bad_values_name_their_key(routes) -> None:
    message = config_error(routes("providers:\n  ollama: {requests_per_minute: 0}\nmodels: {default: ollama/a}\n"))
    assert "providers.ollama.requests_per_minute" in message
    message = config_error(routes("providers:\n  ollama: {quirks: {tool_choice: sometimes}}\nmodels: {default: ollama/a}\n"))
    assert "providers.ollama" in message and "tool_choice" in message
    message = config_error(routes("models: {default: ollama}\n"))
    assert "models.default" in message and "slug" in message
    message = config_error(routes("models: {default: [ollama/a]}\n"))
    assert "models.default" in message
    message = config_error(routes("models: {default: ollama/a}\n"), {"OLLAMA_BASE_URL": "gpu-box:11434"})
    assert "ollama" in message and "base_url" in message


def test_custom_provider_with_a_bad_transport(routes) -> None:
    message = config_error(routes("providers:\n  mine: {transport: grpc, base_url: http://x}\nmodels: {default: mine/m}\n"))
    assert "providers.mine" in message and "grpc" in message
