"""A normal (non-editable) install works: the wheel carries every module and the entry script, and the
installed `fcc run` starts mitmdump with the installed entry script and serves a routed request.

The wheel is built with `pip wheel --no-deps` (pip fetches the build backend the way any user's pip does)
and unpacked with `pip install --no-deps --target`, so nothing of the checkout is on the path of the
process under test: PYTHONPATH puts the install first, and its `fcc` is the one that answers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.sdk.support import hermetic_env
from tests.support.procs import REPO_ROOT, MitmdumpProcess, free_port
from tests.support.upstream import ScriptedUpstream
from tests.support.upstream_responses import openai_text_stream

pytestmark = pytest.mark.e2e

PACKAGE = REPO_ROOT / "addon" / "fcc"
ENTRY_SCRIPT = "fcc/mitm/entry_script.py"
BUILD_TIMEOUT = 300  # seconds: pip may have to fetch setuptools into its build environment first


def _pip(*args: str, cwd: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=BUILD_TIMEOUT, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    assert done.returncode == 0, f"pip {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy of the tracked files: setuptools leaves build/ behind in the tree it builds, and a
    # stale build/lib (or an untracked module) must neither reach the wheel nor hide a missing file.
    source = tmp_path_factory.mktemp("source")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        if (REPO_ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    _pip("wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(source), cwd=out)
    [built] = out.glob("fcc-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    _pip("install", "--no-deps", "--quiet", "--target", str(target), str(wheel), cwd=target)
    return target


def test_the_wheel_carries_every_module_the_entry_script_and_the_console_script(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = subprocess.run(["git", "ls-files", "addon/fcc"], cwd=REPO_ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    modules = {name.removeprefix("addon/") for name in tracked if name.endswith(".py")}
    assert ENTRY_SCRIPT in modules
    missing = modules - names
    assert not missing, f"not in the wheel: {sorted(missing)}"
    [entry_points] = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
    assert "fcc = fcc.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    assert not [name for name in names if name.startswith(("tests/", "bench/", "recordings/"))]


def _env(installed: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    for name, value in hermetic_env().items():
        env.pop(name, None) if value is None else env.__setitem__(name, value)
    env.update(PYTHONPATH=str(installed), PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1", **extra)
    return env


def test_the_installed_cli_finds_the_installed_entry_script(installed: Path) -> None:
    probe = "import fcc.cli as c; print(c.__file__); print(c.ADDON_SCRIPT); print(c.ADDON_SCRIPT.is_file())"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                          env=_env(installed), cwd=installed)
    assert done.returncode == 0, done.stderr
    module, script, exists = done.stdout.split()
    assert Path(module).is_relative_to(installed)
    assert Path(script) == installed / ENTRY_SCRIPT and exists == "True"


@pytest.fixture
def fcc_run(installed: Path, tmp_path: Path) -> Iterator[tuple[MitmdumpProcess, ScriptedUpstream]]:
    console_script = installed / "bin" / "fcc"
    assert console_script.is_file(), f"pip --target made no console script: {sorted(os.listdir(installed))}"
    with ScriptedUpstream(default=openai_text_stream("Served by the installed fcc.")) as upstream:
        routes = tmp_path / "routes.yaml"
        routes.write_text("models:\n  default: vllm/wheel-model\n")
        (tmp_path / "home").mkdir()
        port = free_port()
        command = [sys.executable, str(console_script), "run", "-p", str(port), "--listen-host", "127.0.0.1",
                   "--set", f"confdir={tmp_path / 'confdir'}", "--set", f"fcc_config={routes}"]
        env = _env(installed, HOME=str(tmp_path / "home"), VLLM_BASE_URL=upstream.base_url + "/v1")
        popen = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 env=env, cwd=tmp_path, start_new_session=True)
        process = MitmdumpProcess(popen=popen, port=port, command=command, confdir=tmp_path / "confdir",
                                  home=tmp_path / "home")
        process._reader = threading.Thread(target=process._drain_output, daemon=True)
        process._reader.start()
        try:
            process.wait_for_output(r"fcc addon active", timeout=30)
            yield process, upstream
        finally:
            process.stop()


def test_fcc_run_from_the_install_loads_its_entry_script_and_serves(fcc_run, installed: Path) -> None:
    process, upstream = fcc_run
    assert f"{installed / ENTRY_SCRIPT}" in process.output()  # mitmproxy names the script it loads
    with httpx.Client(trust_env=False, timeout=30) as client:
        response = client.post(f"{process.base_url}/v1/messages", headers={"x-api-key": "dummy"},
                               json={"model": "claude-sonnet-4-5", "max_tokens": 64,
                                     "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 200, response.text
    assert response.json()["content"] == [{"type": "text", "text": "Served by the installed fcc."}]
    [request] = upstream.requests
    assert request.json_body["model"] == "wheel-model"
