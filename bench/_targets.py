"""What the benchmark measures: how each target is started, configured and spoken to.

All of them talk to the same scripted upstream on 127.0.0.1. Peers (LiteLLM's
proxy, claude-code-router) are used only when installed under bench/ and are
configured as ../shared/research/peers-bench.md describes.
"""

from __future__ import annotations

import json
import secrets
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import _procs
import _workload

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
ADDON = REPO / "addon" / "fcc.py"
PEERS_VENV = BENCH / ".venv-peers"
PEERS_NPM = BENCH / ".peers"
LITELLM_BIN = PEERS_VENV / "bin" / "litellm"
CCR_CLI = PEERS_NPM / "node_modules" / "@musistudio" / "claude-code-router" / "dist" / "cli.js"
MESSAGES_PATH = "/v1/messages?beta=true"
# Variables that would change fcc's routing or auth if inherited from the shell.
_FCC_ENV_PREFIXES = ("MODEL", "FCC_")


@dataclass
class Target:
    name: str
    dialect: str  # what the client speaks: "openai" or "anthropic"
    path: str
    port: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    startup_timeout: float = 20.0
    child: _procs.Child | None = None  # None: no proxy process (direct)
    version: str = ""

    def spec(self) -> dict:
        """What the client worker needs."""
        return {"name": self.name, "host": "127.0.0.1", "port": self.port, "path": self.path,
                "dialect": self.dialect, "headers": self.headers}

    def start(self, log_dir: Path) -> None:
        if self.argv:
            self.child = _procs.start(self.name, self.argv, env=self.env, cwd=self.cwd, log_dir=log_dir)

    def wait_ready(self) -> None:
        if self.child is not None:
            _procs.wait_port(self.port, self.child, self.startup_timeout)


def mitmdump_bin() -> str:
    beside = Path(sys.executable).with_name("mitmdump")
    return str(beside) if beside.is_file() else (shutil.which("mitmdump") or "mitmdump")


def _mitm_argv(port: int, confdir: Path, *extra: str) -> list[str]:
    return [mitmdump_bin(), "-p", str(port), "--listen-host", "127.0.0.1", "--set", f"confdir={confdir}",
            "--set", "termlog_verbosity=warn", "--set", "flow_detail=0", *extra]


def _fcc_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in _procs.clean_env().items() if not k.startswith(_FCC_ENV_PREFIXES) and not k.endswith("_BASE_URL")}
    env.update(extra)
    return env


def anthropic_headers(**extra: str) -> dict[str, str]:
    return {**_workload.CLAUDE_CODE_HEADERS, "x-api-key": "sk-ant-bench-not-a-key", **extra}


def core_targets(upstream: int, work: Path, with_mitm_stream: bool) -> list[Target]:
    """direct, plain mitmdump (and its streaming variant), fcc on both transports."""
    up = f"http://127.0.0.1:{upstream}"
    targets = [Target("direct", "openai", "/v1/chat/completions", port=upstream)]

    port = _procs.free_port()
    targets.append(Target("mitm", "openai", "/v1/chat/completions", port=port,
                          argv=_mitm_argv(port, work / "conf-mitm", "--mode", f"reverse:{up}"), env=_procs.clean_env()))
    if with_mitm_stream:
        port = _procs.free_port()
        targets.append(Target("mitm-stream", "openai", "/v1/chat/completions", port=port,
                              argv=_mitm_argv(port, work / "conf-mitm-stream", "--mode", f"reverse:{up}",
                                              "--set", "stream_large_bodies=1"), env=_procs.clean_env()))

    targets += fcc_targets(upstream, work, ADDON)
    return targets


def fcc_targets(upstream: int, work: Path, addon: Path, suffix: str = "") -> list[Target]:
    """fcc routing to the upstream over openai_chat, and over the anthropic_messages passthrough."""
    up = f"http://127.0.0.1:{upstream}"
    targets: list[Target] = []
    # fcc's reverse target is the upstream too, so a request the addon failed to route
    # stays on loopback, and the upstream's trap header turns it into an error.
    empty_routes = work / f"routes-empty{suffix}.yaml"
    empty_routes.write_text("{}\n")
    port = _procs.free_port()
    targets.append(Target(f"fcc-openai{suffix}", "anthropic", MESSAGES_PATH, port=port, headers=anthropic_headers(),
                          argv=_mitm_argv(port, work / f"conf-fcc-openai{suffix}", "-s", str(addon), "--mode", f"reverse:{up}",
                                          "--set", f"fcc_config={empty_routes}"),
                          env=_fcc_env({"MODEL": f"vllm/{_workload.MODEL}", "VLLM_BASE_URL": f"{up}/v1"})))

    native_routes = work / f"routes-native{suffix}.yaml"
    native_routes.write_text(json.dumps({
        "providers": {"native": {"transport": "anthropic_messages", "base_url": up}},
        "models": {"default": f"native/{_workload.MODEL}"},
    }) + "\n")
    port = _procs.free_port()
    targets.append(Target(f"fcc-native{suffix}", "anthropic", MESSAGES_PATH, port=port, headers=anthropic_headers(),
                          argv=_mitm_argv(port, work / f"conf-fcc-native{suffix}", "-s", str(addon), "--mode", f"reverse:{up}",
                                          "--set", f"fcc_config={native_routes}"),
                          env=_fcc_env({})))
    return targets


def peer_targets(upstream: int, work: Path) -> tuple[list[Target], list[str]]:
    """LiteLLM and claude-code-router when installed; notes say what was skipped and why."""
    up = f"http://127.0.0.1:{upstream}"
    targets: list[Target] = []
    notes: list[str] = []

    if LITELLM_BIN.is_file():
        key = "sk-" + secrets.token_urlsafe(32)
        config = work / "litellm.yaml"
        config.write_text(json.dumps({  # JSON is YAML
            "model_list": [{"model_name": "claude-*", "litellm_params": {
                "model": f"openai/{_workload.MODEL}", "api_base": f"{up}/v1", "api_key": "sk-mock"}}],
            "litellm_settings": {"drop_params": True, "use_chat_completions_url_for_anthropic_messages": True},
            "general_settings": {"master_key": key},
        }))
        port = _procs.free_port()
        env = _procs.clean_env({"LITELLM_LOCAL_MODEL_COST_MAP": "True",
                                "LITELLM_USE_CHAT_COMPLETIONS_URL_FOR_ANTHROPIC_MESSAGES": "True",
                                "LITELLM_TELEMETRY": "False", "HOME": str(work / "home-litellm")})
        (work / "home-litellm").mkdir(exist_ok=True)
        targets.append(Target("litellm", "anthropic", MESSAGES_PATH, port=port,
                              headers=anthropic_headers(authorization=f"Bearer {key}"),
                              argv=[str(LITELLM_BIN), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
                              env=env, cwd=work, startup_timeout=90.0, version=_litellm_version()))
    else:
        notes.append(f"litellm skipped: not installed ({LITELLM_BIN} missing; "
                     f"python -m venv {PEERS_VENV} && {PEERS_VENV}/bin/pip install 'litellm[proxy]')")

    node = shutil.which("node")
    if CCR_CLI.is_file() and node:
        home = work / "home-ccr"
        (home / ".claude-code-router").mkdir(parents=True, exist_ok=True)
        (home / ".claude" / "projects").mkdir(parents=True, exist_ok=True)  # else ccr logs an ENOENT per request
        port = _procs.free_port()
        (home / ".claude-code-router" / "config.json").write_text(json.dumps({
            "LOG": False, "HOST": "127.0.0.1", "PORT": port, "API_TIMEOUT_MS": 600000,
            "Providers": [{"name": "mock", "api_base_url": f"{up}/v1/chat/completions", "api_key": "sk-mock",
                           "models": [_workload.MODEL]}],
            "Router": {"default": f"mock,{_workload.MODEL}"},
        }))
        targets.append(Target("ccr", "anthropic", MESSAGES_PATH, port=port, headers=anthropic_headers(),
                              argv=[node, str(CCR_CLI), "start"], env=_procs.clean_env({"HOME": str(home)}),
                              cwd=home, startup_timeout=30.0, version=_ccr_version()))
    else:
        notes.append(f"ccr skipped: not installed ({CCR_CLI} missing or no node; "
                     f"npm install --prefix {PEERS_NPM} @musistudio/claude-code-router)")
    return targets, notes


def _litellm_version() -> str:
    for meta in PEERS_VENV.glob("lib/python*/site-packages/litellm-*.dist-info/METADATA"):
        for line in meta.read_text(errors="replace").splitlines():
            if line.startswith("Version:"):
                return line.split(":", 1)[1].strip()
    return "?"


def _ccr_version() -> str:
    try:
        return json.loads((CCR_CLI.parent.parent / "package.json").read_text()).get("version", "?")
    except (OSError, ValueError):
        return "?"
