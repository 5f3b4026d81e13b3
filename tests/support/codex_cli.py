"""The real Codex CLI (npm `@openai/codex`), run headless the way ../shared/research/codex-client.md found
works offline: a fresh CODEX_HOME with a custom provider on fcc's /v1/responses, nothing phoning home.

Used by tests/e2e/test_codex_cli.py and recordings/make_codex_sessions.py. The binary is found via
FCC_CODEX_BIN, then `<repo>/.fcc-tools` (where .ci/run installs it), then PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.procs import REPO_ROOT

CODEX_VERSION = "0.171.0"
CODEX_TIMEOUT_SECONDS = 150


def find_codex() -> tuple[str | None, str]:
    explicit = os.environ.get("FCC_CODEX_BIN")
    candidates = [explicit] if explicit else [str(REPO_ROOT / ".fcc-tools" / "node_modules" / ".bin" / "codex"), shutil.which("codex")]
    tried = []
    for candidate in [c for c in candidates if c]:
        try:
            done = subprocess.run([candidate, "--version"], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as error:
            tried.append(f"{candidate}: {error}")
            continue
        if done.returncode == 0 and done.stdout.strip():
            return candidate, done.stdout.strip()
        tried.append(f"{candidate}: exit {done.returncode}")
    return None, "no Codex CLI (set FCC_CODEX_BIN, or run .ci/run to install it into .fcc-tools): " + "; ".join(tried)


@dataclass
class CodexRun:
    command: list[str]
    returncode: int | None
    stdout: str
    stderr: str
    last_message: str
    seconds: float

    @property
    def events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.stdout.splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out


def write_codex_home(home: Path, base_url: str, model: str | None) -> None:
    """The offline recipe of ../shared/research/codex-client.md: a custom provider, nothing phoning home."""
    home.mkdir(parents=True, exist_ok=True)
    lines = [f'model = "{model}"'] if model else []
    lines += [
        'model_provider = "fcc"',
        "check_for_update_on_startup = false",
        "",
        "[model_providers.fcc]",
        'name = "fcc"',
        f'base_url = "{base_url}/v1"',
        'wire_api = "responses"',
        'env_key = "FCC_CODEX_KEY"',
        "",
        "[analytics]",
        "enabled = false",
        "",
        "[features]",
        "plugins = false",
        "remote_plugin = false",
        "apps = false",
    ]
    (home / "config.toml").write_text("\n".join(lines) + "\n")


def run_codex(binary: str, base_url: str, workdir: Path, model: str | None, prompt: str) -> CodexRun:
    home = workdir / "home"
    codex_home = home / ".codex"
    project = workdir / "project"
    project.mkdir(parents=True)
    write_codex_home(codex_home, base_url, model)
    out_file = workdir / "last-message.txt"
    env = {name: os.environ[name] for name in ("PATH", "LANG", "LC_ALL", "TMPDIR") if name in os.environ}
    env.update(HOME=str(home), CODEX_HOME=str(codex_home), TERM="dumb", FCC_CODEX_KEY="dummy-codex-key", NO_PROXY="127.0.0.1,localhost")
    command = [binary, "exec", "--skip-git-repo-check", "--json", "--color", "never", "-o", str(out_file),
               "--dangerously-bypass-approvals-and-sandbox", prompt]
    started = time.monotonic()
    try:
        done = subprocess.run(command, cwd=project, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=CODEX_TIMEOUT_SECONDS)
        returncode, stdout, stderr = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as timeout:
        returncode = None
        stdout = timeout.stdout.decode() if isinstance(timeout.stdout, bytes) else (timeout.stdout or "")
        stderr = (timeout.stderr.decode() if isinstance(timeout.stderr, bytes) else (timeout.stderr or "")) + "\n[killed]"
    last = out_file.read_text() if out_file.exists() else ""
    return CodexRun(command, returncode, stdout, stderr, last, time.monotonic() - started)
