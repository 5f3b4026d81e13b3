"""`fcc codex`: the Codex CLI wired to a running fcc with -c overrides only."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from fcc import cli


def overrides(args: list[str]) -> dict[str, object]:
    """The `-c key=value` pairs, values parsed as TOML the way Codex parses them."""
    out: dict[str, object] = {}
    for flag, pair in zip(args[::2], args[1::2]):
        if flag != "-c":
            break
        key, _, value = pair.partition("=")
        out[key] = tomllib.loads(f"v = {value}")["v"] if value[:1] in '{"' or value in ("true", "false") else value
    return out


def test_codex_invocation_points_codex_at_fcc_and_keeps_the_users_arguments() -> None:
    args, env = cli.codex_invocation("http://127.0.0.1:7777/", ["exec", "hi"], {"PATH": "/bin", "OPENAI_BASE_URL": "https://x"})
    assert args[-2:] == ["exec", "hi"]
    settings = overrides(args)
    assert settings["model_provider"] == "fcc"
    assert settings["model_providers.fcc"] == {"name": "fcc", "base_url": "http://127.0.0.1:7777/v1", "wire_api": "responses",
                                               "env_key": "FCC_CODEX_KEY"}
    assert settings["analytics.enabled"] is False
    assert settings["features.plugins"] is False and settings["features.remote_plugin"] is False and settings["features.apps"] is False
    assert settings["check_for_update_on_startup"] is False
    assert env["FCC_CODEX_KEY"] == "fcc" and env["PATH"] == "/bin" and "OPENAI_BASE_URL" not in env


def test_codex_sends_the_proxy_token_when_fcc_has_one() -> None:
    _, env = cli.codex_invocation("http://h:1", [], {"FCC_AUTH_TOKEN": "proxy-token"})
    assert env["FCC_CODEX_KEY"] == "proxy-token"


def test_cli_codex_execs_the_binary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "codex"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("FCC_CODEX_BIN", str(fake))
    monkeypatch.setenv("FCC_URL", "http://127.0.0.1:7777")
    seen: dict = {}

    def fake_execve(path: str, argv: list[str], env: dict[str, str]) -> None:
        seen.update(path=path, argv=argv, env=env)
        raise SystemExit(0)

    monkeypatch.setattr(cli.os, "execve", fake_execve)
    with pytest.raises(SystemExit):
        cli.main(["codex", "exec", "say hi"])
    assert seen["path"] == str(fake) and seen["argv"][0] == str(fake)
    assert seen["argv"][-2:] == ["exec", "say hi"]
    assert 'base_url="http://127.0.0.1:7777/v1"' in " ".join(seen["argv"])


def test_cli_codex_missing_binary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    monkeypatch.delenv("FCC_CODEX_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert cli.main(["codex"]) == 2
    assert "Codex CLI not found" in capsys.readouterr().err

