"""Local answers (count_tokens, models), request classification on real captures, and the CLI's
environment for Claude Code."""

from __future__ import annotations

import json
from pathlib import Path

import anthropic
import httpx
import pytest

from fcc import cli
from fcc.claude_code import classify
from fcc.config import load_config
from fcc.core.local_answers import IMAGE_TOKENS, count_tokens_body, estimate_input_tokens, models_body
from fcc.router import advertised_models
from tests.support.captures import count_tokens_requests, message_requests

# ------------------------------------------------------------------ local answers


def sdk_client(handler) -> anthropic.Anthropic:
    """The official SDK talking to a handler that answers like fcc's local paths."""
    return anthropic.Anthropic(
        api_key="fcc", base_url="http://fcc.local", max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )  # fmt: skip


def test_count_tokens_body_shape_and_sdk_parse() -> None:
    request = {"model": "claude-opus-5-5", "messages": [{"role": "user", "content": "foo"}], "tools": []}
    raw = count_tokens_body(request)
    assert json.loads(raw) == {"input_tokens": estimate_input_tokens(request)}

    def handler(http_request: httpx.Request) -> httpx.Response:
        assert http_request.url.path == "/v1/messages/count_tokens"
        return httpx.Response(200, content=count_tokens_body(json.loads(http_request.content)),
                              headers={"content-type": "application/json"})  # fmt: skip

    counted = sdk_client(handler).messages.count_tokens(model="claude-opus-5-5", messages=[{"role": "user", "content": "foo"}])
    assert isinstance(counted.input_tokens, int) and counted.input_tokens >= 1


def test_models_body_is_an_anthropic_page_the_sdk_reads(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text("models:\n  default: ollama/qwen3\n  opus: ollama/big\n  haiku: ollama/small\n")
    ids = advertised_models(load_config(str(path), {}))
    page = json.loads(models_body(ids))
    assert set(page) == {"data", "has_more", "first_id", "last_id"}
    assert page["has_more"] is False
    assert [m["id"] for m in page["data"]] == ids
    assert page["first_id"] == ids[0] and page["last_id"] == ids[-1]
    for model in page["data"]:
        assert model["type"] == "model" and model["display_name"] and model["created_at"].endswith("Z")
        anthropic.types.ModelInfo.model_validate(model)

    def handler(http_request: httpx.Request) -> httpx.Response:
        assert http_request.url.path == "/v1/models"
        return httpx.Response(200, content=models_body(ids), headers={"content-type": "application/json"})

    listed = [model.id for model in sdk_client(handler).models.list(limit=1000)]
    assert listed == ids
    assert "claude-opus" in listed and "anthropic/ollama/big" in listed


def test_models_body_empty() -> None:
    assert json.loads(models_body([])) == {"data": [], "has_more": False, "first_id": None, "last_id": None}


def test_estimate_counts_every_part() -> None:
    base = {"model": "m", "messages": [{"role": "user", "content": "x" * 360}]}
    plain = estimate_input_tokens(base)
    assert 90 <= plain <= 110  # ~3.6 characters per token, plus a little per message
    with_system = estimate_input_tokens({**base, "system": "y" * 360})
    with_blocks = estimate_input_tokens({**base, "system": [{"type": "text", "text": "y" * 360}]})
    assert with_system == with_blocks > plain
    with_tool = estimate_input_tokens({**base, "tools": [{"name": "Bash", "input_schema": {"type": "object"}}]})
    assert with_tool > plain
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "A" * 100_000}}
    with_image = estimate_input_tokens({"model": "m", "messages": [{"role": "user", "content": [image]}]})
    assert IMAGE_TOKENS <= with_image < IMAGE_TOKENS + 20  # an image is a fixed cost, not its base64 length
    history = {
        "model": "m",
        "messages": [
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "t" * 360, "signature": "s" * 5000},
                {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "c" * 360}},
            ]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": [
                {"type": "text", "text": "r" * 360}, image]}]},
        ],
    }  # fmt: skip
    estimate = estimate_input_tokens(history)
    assert IMAGE_TOKENS + 250 <= estimate <= IMAGE_TOKENS + 400  # signatures are not text the model reads
    # Nor is opaque state in a redacted_thinking block (fcc carries Gemini thought signatures there).
    history["messages"][0]["content"].insert(0, {"type": "redacted_thinking", "data": "fcc1." + "Q" * 20_000})
    assert estimate_input_tokens(history) == estimate
    assert estimate_input_tokens({"model": "m", "messages": []}) == 1


def test_count_tokens_for_the_context_command_captures() -> None:
    """`/context` sends 25 count_tokens requests: every one gets a plausible positive count."""
    requests = count_tokens_requests("slash_context")
    assert len(requests) == 25
    for record in requests:
        counted = json.loads(count_tokens_body(record.body))["input_tokens"]
        size = len(json.dumps(record.body))
        assert counted >= 1
        assert counted <= size / 1.5
        if size > 2000:
            assert counted >= size / 8


# ------------------------------------------------------------------ classify


def gateway_headers(record) -> dict[str, str]:
    """The headers the addon hands to classify (lowercase names, only the ones it keeps)."""
    keep = ("x-claude-code-session-id", "x-claude-code-agent-id", "x-claude-code-request-class", "x-claude-1p-request-class")
    return {name: value for name, value in record.headers.items() if name in keep}


def classes(capture: str) -> list[str]:
    return [classify(r.body, gateway_headers(r)) for r in message_requests(capture)]


def test_classify_main_loop() -> None:
    for capture in ("quiet_apikey", "bare_authtoken", "model_sonnet45", "streamjson", "notoolsearch"):
        assert classes(capture) == ["main"], capture
    assert classes("tooluse_bash") == ["main", "main"]
    assert classes("thinking_tool") == ["main", "main"]


def test_classify_title() -> None:
    assert sorted(classes("ia_title_ok")) == ["main", "main", "title"]
    [title] = [r for r in message_requests("ia_title_ok") if not r.body["tools"]]
    assert classify(title.body, gateway_headers(title)) == "title"
    # The system prompt alone is enough when the schema is missing.
    body = {k: v for k, v in title.body.items() if k != "output_config"}
    assert classify(body, {}) == "title"


def test_classify_subagent() -> None:
    records = message_requests("subagent_explore")
    result = {r.seq: classify(r.body, gateway_headers(r)) for r in records}
    [sub] = [r for r in records if "x-claude-code-agent-id" in r.headers]
    assert result[sub.seq] == "subagent"
    assert sorted(result.values()) == ["main", "main", "main", "subagent"]
    # Without the header, the subagent's body looks like a main loop (its own loop, with tools).
    assert classify(sub.body, {}) == "main"


def test_classify_compaction() -> None:
    assert classes("compact_trigger") == ["main", "compaction", "main"]


def test_classify_websearch_and_webfetch() -> None:
    assert classes("websearch") == ["main", "websearch", "main"]
    assert sorted(classes("webfetch_https")) == ["main", "main", "webfetch"]


def test_classify_first_party_header_wins() -> None:
    records = message_requests("mitm_tool_subagent")
    for record in records:
        declared = record.headers["x-claude-code-request-class"]
        assert declared in ("main", "subagent")
        assert classify(record.body, gateway_headers(record)) == declared
    assert {"main", "subagent"} <= {classify(r.body, gateway_headers(r)) for r in records}


def test_classify_synthetic_bodies() -> None:
    assert classify({"messages": [], "tools": []}, {}) == "side"
    assert classify({"messages": [{"role": "user", "content": "hi"}], "tools": [{"name": "Bash"}]}, {}) == "main"
    web = {"messages": [], "tools": [{"type": "web_search_20250305", "name": "web_search"}]}
    assert classify(web, {}) == "websearch"
    # First-party "auxiliary" is refined by the body: the WebSearch side request stays websearch.
    assert classify(web, {"x-claude-code-request-class": "auxiliary"}) == "websearch"
    assert classify({"messages": [], "tools": [{"name": "Bash"}]}, {"x-claude-code-request-class": "auxiliary"}) == "side"


# ------------------------------------------------------------------------ cli


def test_claude_environment_points_claude_code_at_fcc() -> None:
    user_env = {
        "PATH": "/usr/bin", "HOME": "/home/dev",
        "ANTHROPIC_API_KEY": "sk-ant-real-key", "ANTHROPIC_BASE_URL": "https://api.anthropic.com",
        "ANTHROPIC_AUTH_TOKEN": "real-oauth-token", "DISABLE_TELEMETRY": "0",
    }  # fmt: skip
    before = dict(user_env)
    env = cli.claude_environment("http://127.0.0.1:9999", user_env)
    assert user_env == before  # the caller's environment is not touched
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9999"
    assert env["ANTHROPIC_AUTH_TOKEN"] == "fcc"
    assert "ANTHROPIC_API_KEY" not in env
    assert "sk-ant-real-key" not in env.values() and "real-oauth-token" not in env.values()
    assert env["PATH"] == "/usr/bin" and env["HOME"] == "/home/dev"
    assert env["DISABLE_TELEMETRY"] == "0"  # the user's explicit choice stays
    assert env["DISABLE_ERROR_REPORTING"] == "1" and env["DISABLE_AUTOUPDATER"] == "1"


def test_claude_environment_uses_the_proxy_token() -> None:
    env = cli.claude_environment(cli.DEFAULT_URL, {"FCC_AUTH_TOKEN": "proxy-secret"})
    assert env["ANTHROPIC_AUTH_TOKEN"] == "proxy-secret"
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:8082"


def test_claude_environment_drops_cloud_provider_switches() -> None:
    """With CLAUDE_CODE_USE_BEDROCK (or VERTEX / FOUNDRY) Claude Code ignores ANTHROPIC_BASE_URL."""
    env = cli.claude_environment(cli.DEFAULT_URL, {
        "CLAUDE_CODE_USE_BEDROCK": "1", "CLAUDE_CODE_USE_VERTEX": "1", "CLAUDE_CODE_USE_FOUNDRY": "1",
    })  # fmt: skip
    for name in ("CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX", "CLAUDE_CODE_USE_FOUNDRY"):
        assert name not in env


def test_cli_claude_execs_with_that_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "claude"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("FCC_CLAUDE_BIN", str(fake))
    monkeypatch.setenv("FCC_URL", "http://127.0.0.1:7777")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-real")
    seen: dict = {}

    def fake_execve(path: str, argv: list[str], env: dict[str, str]) -> None:
        seen.update(path=path, argv=argv, env=env)
        raise SystemExit(0)

    monkeypatch.setattr(cli.os, "execve", fake_execve)
    with pytest.raises(SystemExit):
        cli.main(["claude", "-p", "say hi"])
    assert seen["path"] == str(fake)
    assert seen["argv"] == [str(fake), "-p", "say hi"]
    assert seen["env"]["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:7777"
    assert "ANTHROPIC_API_KEY" not in seen["env"]


def test_cli_claude_missing_binary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    monkeypatch.delenv("FCC_CLAUDE_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert cli.main(["claude"]) == 2
    assert "Claude Code not found" in capsys.readouterr().err


def test_cli_usage(capsys) -> None:
    assert cli.main(["--help"]) == 0
    assert "usage: fcc" in capsys.readouterr().out
    assert cli.main([]) == 2
    assert cli.main(["frobnicate"]) == 2
    assert "usage: fcc" in capsys.readouterr().err


def test_claude_environment_turns_on_model_discovery_and_the_compact_window() -> None:
    env = cli.claude_environment(cli.DEFAULT_URL, {}, compact_window=1_048_576)
    assert env["CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY"] == "1"
    assert env["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] == "1048576"
    assert "CLAUDE_CODE_AUTO_COMPACT_WINDOW" not in cli.claude_environment(cli.DEFAULT_URL, {})
    mine = cli.claude_environment(cli.DEFAULT_URL, {"CLAUDE_CODE_AUTO_COMPACT_WINDOW": "300000"}, 1_048_576)
    assert mine["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] == "300000"  # the user's own setting wins


def test_auto_compact_window_follows_the_main_route(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text("models:\n  default: gemini/gemini-2.5-pro\n")
    assert cli.auto_compact_window({"FCC_CONFIG": str(routes), "GEMINI_API_KEY": "g"}) == 1_048_576
    routes.write_text("models:\n  default: {model: ollama/qwen3:8b, context_window: 32768}\n")
    # Below Claude Code's minimum: left unset; fcc's `prompt is too long` makes it compact instead.
    assert cli.auto_compact_window({"FCC_CONFIG": str(routes)}) is None
    routes.write_text("models:\n  default: {model: ollama/qwen3:8b, context_window: 131072}\n")
    assert cli.auto_compact_window({"FCC_CONFIG": str(routes)}) == 131072
    routes.write_text("models: [broken\n")
    assert cli.auto_compact_window({"FCC_CONFIG": str(routes)}) is None
