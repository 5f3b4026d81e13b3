"""Startup failures: a bad routes.yaml, an unknown provider, a routed provider
without its key, a bad option value, a typo'd option name. mitmdump must exit
non-zero quickly with one clear line naming the key, instead of serving
something the user did not ask for (../shared/DESIGN.md, "Rules that hold everywhere").

All cases start at once (each mitmdump costs ~1 s of CPU) and are collected by
one module fixture; each test then reads its own case's result.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.sdk.support import hermetic_env
from tests.support.procs import free_port, mitmdump_command

pytestmark = pytest.mark.e2e

EXIT_WITHIN = 20.0  # seconds; generous for 6 processes on 2 busy cores
QUICKLY = 12.0  # what "quickly" means per process, even with the others starting alongside

EMPTY_ROUTES = "models: {}\n"


@dataclass(frozen=True)
class Case:
    expect: str  # regex for the one line that names the problem
    routes: str = EMPTY_ROUTES
    env: dict[str, str | None] = field(default_factory=dict)
    args: tuple[str, ...] = ()


CASES: dict[str, Case] = {
    "yaml-syntax-error": Case(r"routes\.yaml line 3: not valid YAML", routes="models:\n  default: [unclosed\n"),
    "unknown-routes-key": Case(r"routes\.yaml: modles: Extra inputs are not permitted", routes="modles:\n  default: ollama/x\n"),
    "unknown-provider": Case(r"MODEL: unknown provider 'nosuch'", env={"MODEL": "nosuch/some-model"}),
    "routed-provider-key-missing": Case(
        r"provider 'deepseek' is routed but its key variable DEEPSEEK_API_KEY is not set",
        env={"MODEL": "deepseek/deepseek-chat"},
    ),
    "bad-max-flows": Case(r"fcc_max_flows: expected a positive whole number, got 'abc'", args=("--set", "fcc_max_flows=abc")),
    "typo-option": Case(r"unknown options: fcc_confg", args=("--set", "fcc_confg=x")),
}


@dataclass
class Exit:
    returncode: int | None  # None: still running after EXIT_WITHIN (then killed)
    seconds: float
    output: str

    def lines(self, pattern: str) -> list[str]:
        return [line for line in self.output.splitlines() if re.search(pattern, line)]


def _run(case: Case, workdir: Path) -> Exit:
    home, confdir = workdir / "home", workdir / "confdir"
    home.mkdir(parents=True)
    confdir.mkdir()
    routes = workdir / "routes.yaml"
    routes.write_text(case.routes)
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    for name, value in {**hermetic_env(), **case.env}.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    env.update(HOME=str(home), PYTHONUNBUFFERED="1")
    command = mitmdump_command(free_port(), confdir, args=["--set", f"fcc_config={routes}", *case.args])
    started = time.monotonic()
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env=env, cwd=workdir, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=EXIT_WITHIN)
        return Exit(process.returncode, time.monotonic() - started, output.decode("utf-8", "replace"))
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate(timeout=5)
        return Exit(None, time.monotonic() - started, output.decode("utf-8", "replace"))


@pytest.fixture(scope="module")
def exits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Exit]:
    results: dict[str, Exit] = {}

    def run(name: str) -> None:
        results[name] = _run(CASES[name], tmp_path_factory.mktemp(f"startup-{name}"))

    threads = [threading.Thread(target=run, args=(name,)) for name in CASES]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(EXIT_WITHIN + 10)
    return results


@pytest.mark.parametrize("name", list(CASES))
def test_mitmdump_exits_non_zero_quickly_naming_the_problem(exits: dict[str, Exit], name: str) -> None:
    result = exits[name]
    assert result.returncode is not None, f"mitmdump still running after {EXIT_WITHIN}s:\n{result.output}"
    assert result.returncode != 0, result.output
    assert result.seconds < QUICKLY, f"took {result.seconds:.1f}s"
    assert result.lines(CASES[name].expect), f"no line matches {CASES[name].expect!r}:\n{result.output}"
    assert "fcc addon active" not in result.output or name == "typo-option", result.output


@pytest.mark.parametrize("name", list(CASES))
def test_the_problem_is_one_clear_line_without_a_traceback(exits: dict[str, Exit], name: str) -> None:
    result = exits[name]
    assert "Traceback" not in result.output, result.output
    assert len(result.lines(CASES[name].expect)) == 1, result.output
    assert len(result.lines(r"(?i)error")) <= 2, result.output  # the line itself + mitmproxy's "exiting" line
