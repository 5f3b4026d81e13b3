"""The `fcc` console script: run the proxy, launch Claude Code or Codex wired to it, check providers."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from fcc.config import ConfigError, load_config
from fcc.limits import limits
from fcc.launch import launch_flags
from fcc.users import new_token

# Inside the package, so that an installed fcc (not only a checkout) can start mitmproxy with it.
ADDON_SCRIPT = Path(__file__).resolve().parent / "mitm" / "entry_script.py"
DEFAULT_URL = "http://127.0.0.1:8082"
BYPASS_VARIABLES = ("CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX", "CLAUDE_CODE_USE_FOUNDRY")
# Claude Code 2.1.330 refuses an auto-compact window below this (it clamps and warns); smaller
# windows are enforced by fcc's `prompt is too long` answer instead, which makes it compact.
MIN_AUTO_COMPACT_WINDOW = 100_000

USAGE = """usage: fcc <command> [options]

commands:
  run [mitmdump options]    start the proxy (mitmdump -s fcc/mitm/entry_script.py ...), default 127.0.0.1:8082
  web [mitmweb options]     the same with mitmproxy's web inspector; open the address it prints
                            (mitmweb >= 11.1 adds a ?token=; --set web_password=... fixes one)
  claude [claude options]   run Claude Code against a running fcc (FCC_URL, default http://127.0.0.1:8082)
  codex [codex options]     run the Codex CLI against a running fcc (same FCC_URL; e.g. fcc codex exec "...")
  doctor [--check]          list providers, whether their keys are set; --check contacts them
  token NAME                a new proxy token for user NAME, and the routes.yaml `users` entry
                            that stores only its sha256 (give the token to the user, keep the entry)
"""


def _tool(name: str) -> str:
    """A mitmproxy executable from this environment, or PATH."""
    beside = Path(sys.executable).with_name(name)
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise SystemExit(f"fcc: {name} not found; install fcc with pip (it depends on mitmproxy)")
    return found


def auto_compact_window(environ: dict[str, str]) -> int | None:
    """The main route's context window, from the routes.yaml fcc reads too (None when unknown)."""
    try:
        config = load_config("", environ)
    except ConfigError:
        return None  # the proxy reports its own config errors
    route = config.tiers.get("opus") or config.tiers.get("default")  # Claude Code's default model is opus
    if route is None:
        return None
    window, _ = limits(route.target, config)
    return window if window is not None and window >= MIN_AUTO_COMPACT_WINDOW else None


def claude_environment(base_url: str, environ: dict[str, str], compact_window: int | None = None) -> dict[str, str]:
    """Environment for Claude Code: talk to fcc, authenticate with the proxy token, stay quiet,
    list fcc's models in /model, compact at the routed model's window."""
    env = dict(environ)
    env["ANTHROPIC_BASE_URL"] = base_url
    env["ANTHROPIC_AUTH_TOKEN"] = environ.get("FCC_AUTH_TOKEN") or "fcc"
    # A real Anthropic key in the environment would make Claude Code prompt about it.
    env.pop("ANTHROPIC_API_KEY", None)
    # These switch Claude Code to a cloud provider that ignores ANTHROPIC_BASE_URL: fcc would never see a request.
    for name in BYPASS_VARIABLES:
        env.pop(name, None)
    for name in ("DISABLE_TELEMETRY", "DISABLE_ERROR_REPORTING", "DISABLE_AUTOUPDATER"):
        env.setdefault(name, "1")
    env.setdefault("CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY", "1")  # GET /v1/models -> the /model picker
    if compact_window is not None:
        env.setdefault("CLAUDE_CODE_AUTO_COMPACT_WINDOW", str(compact_window))
    return env


# Codex reads the key of a custom provider from this variable and sends it as a bearer token.
CODEX_KEY_VARIABLE = "FCC_CODEX_KEY"


def codex_invocation(base_url: str, args: list[str], environ: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """(arguments, environment) for the Codex CLI: a provider `fcc` on fcc's /v1/responses, set with
    `-c` overrides so the user's own CODEX_HOME (sessions, settings) stays as it is; no OpenAI
    login (custom providers need none), no analytics, no plugin or app sync, no update check."""
    provider = f'{{name="fcc", base_url="{base_url.rstrip("/")}/v1", wire_api="responses", env_key="{CODEX_KEY_VARIABLE}"}}'
    overrides = [
        "-c", "model_provider=fcc",
        "-c", f"model_providers.fcc={provider}",
        "-c", "analytics.enabled=false",
        "-c", "features.plugins=false",
        "-c", "features.remote_plugin=false",
        "-c", "features.apps=false",
        "-c", "check_for_update_on_startup=false",
    ]
    env = dict(environ)
    env[CODEX_KEY_VARIABLE] = environ.get("FCC_AUTH_TOKEN") or "fcc"
    env.pop("OPENAI_BASE_URL", None)  # would point Codex's own OpenAI provider elsewhere; fcc is the provider now
    return [*overrides, *args], env


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command, rest = (args[0], args[1:]) if args else ("", [])
    if command == "doctor":
        from fcc.doctor import doctor_main

        return doctor_main(rest)
    if command == "token":
        if len(rest) != 1 or rest[0].startswith("-"):
            print("usage: fcc token NAME", file=sys.stderr)
            return 2
        token, digest = new_token()
        print(f"token for {rest[0]} (shown once; fcc stores only its hash):\n  {token}\n")
        print(f"routes.yaml:\nusers:\n  {rest[0]}:\n    token_sha256: {digest}")
        return 0
    if command in ("run", "web"):
        tool = _tool("mitmdump" if command == "run" else "mitmweb")
        os.execv(tool, [tool, "-s", str(ADDON_SCRIPT), *launch_flags(rest), *rest])
    if command == "claude":
        claude = os.environ.get("FCC_CLAUDE_BIN") or shutil.which("claude")
        if not claude:
            print("fcc: Claude Code not found (npm install -g @anthropic-ai/claude-code)", file=sys.stderr)
            return 2
        environ = dict(os.environ)
        env = claude_environment(environ.get("FCC_URL", DEFAULT_URL), environ, auto_compact_window(environ))
        os.execve(claude, [claude, *rest], env)
    if command == "codex":
        codex = os.environ.get("FCC_CODEX_BIN") or shutil.which("codex")
        if not codex:
            print("fcc: the Codex CLI not found (npm install -g @openai/codex)", file=sys.stderr)
            return 2
        codex_args, env = codex_invocation(os.environ.get("FCC_URL", DEFAULT_URL), rest, dict(os.environ))
        os.execve(codex, [codex, *codex_args], env)
    helping = command in ("-h", "--help", "help")
    print(USAGE, end="", file=sys.stdout if helping else sys.stderr)
    return 0 if helping else 2


if __name__ == "__main__":
    raise SystemExit(main())
