"""`mitmdump -s addon/fcc.py` and nothing else: fcc's defaults on every Python and mitmproxy.

On Python >= 3.12 mitmproxy starts its servers before it loads the script, so
fcc's defaults cannot be plain option changes (fcc/mitm/startup.py). These tests
start the real commands and look at the sockets the process really holds
(/proc/<pid>/fd against /proc/net/*), not at what it logs:

- no flags at all: one TCP listener on 127.0.0.1:8082, plus fcc's own engine on a
  loopback port, nothing else; a request routed to a scripted provider is served;
- `--mode regular` given explicitly is kept (it equals mitmproxy's default, but the
  user chose it);
- where fcc must not restart itself (Python >= 3.12 only), it refuses to start
  with one line naming the flag to pass.

8082 is a fixed port: when something already holds it before the test starts,
the test skips and says so (also under CI: the port is not ours to take).
"""

from __future__ import annotations

import errno
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fcc.mitm.startup import RESTARTED_ENV
from tests.e2e.sdk.support import hermetic_env
from tests.support.procs import ADDON_SCRIPT, find_mitmdump, free_port
from tests.support.upstream import ScriptedUpstream
from tests.support.upstream_responses import openai_text_stream

pytestmark = pytest.mark.e2e

DEFAULT_PORT = 8082
START_WITHIN = 30.0  # seconds; a restart on Python >= 3.12 starts mitmproxy twice, on a busy machine
SONNET = "claude-sonnet-4-5"
needs_proc = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads sockets from /proc (Linux)")


def _port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def _address(hex_address: str) -> tuple[str, int]:
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        text = socket.inet_ntop(socket.AF_INET, raw[::-1])
    else:  # /proc prints IPv6 as four little-endian 32-bit words
        text = socket.inet_ntop(socket.AF_INET6, b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4)))
    return text, int(port, 16)


def bound_sockets(pid: int) -> set[tuple[str, str, int]]:
    """(protocol, host, port) of every listening TCP and every bound UDP socket the process holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table in ("tcp", "tcp6", "udp", "udp6"):
        path = Path(f"/proc/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] not in inodes:
                continue
            if table.startswith("tcp") and fields[3] != "0A":  # 0A: LISTEN; the rest are connections
                continue
            host, port = _address(fields[1])
            found.add((table.rstrip("6"), host, port))
    return found


class Started:
    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process, self.log = process, log

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _start(workdir: Path, *args: str, env: dict[str, str | None] | None = None,
           command: list[str] | None = None) -> subprocess.Popen[bytes]:
    home = workdir / "home"
    home.mkdir(parents=True, exist_ok=True)
    child = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy") and k != RESTARTED_ENV}
    for name, value in {**hermetic_env(), **(env or {}), "HOME": str(home), "PYTHONUNBUFFERED": "1"}.items():
        if value is None:
            child.pop(name, None)
        else:
            child[name] = value
    log = open(workdir / "mitmdump.log", "wb")
    # Exactly the documented command: no -p, no --listen-host, no --mode, no --set (routes.yaml is in the cwd).
    return subprocess.Popen([*(command or [find_mitmdump(), "-s", str(ADDON_SCRIPT)]), *args], cwd=workdir, env=child,
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _wait_for(process: subprocess.Popen[bytes], log: Path, pattern: str) -> re.Match[str]:
    deadline = time.monotonic() + START_WITHIN
    while True:
        found = re.search(pattern, log.read_text(errors="replace"))
        if found:
            return found
        assert process.poll() is None, f"mitmdump exited {process.returncode}:\n{log.read_text(errors='replace')}"
        assert time.monotonic() < deadline, f"no {pattern!r} within {START_WITHIN}s:\n{log.read_text(errors='replace')}"
        time.sleep(0.05)


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream(default=openai_text_stream(["Hello", " from the default start."])) as server:
        yield server


@pytest.fixture
def bare(tmp_path: Path, upstream: ScriptedUpstream) -> Iterator[Started]:
    if _port_taken(DEFAULT_PORT):
        pytest.skip(f"127.0.0.1:{DEFAULT_PORT} is already in use on this machine; fcc's default port cannot be tested")
    (tmp_path / "routes.yaml").write_text("models:\n  default: vllm/test-model\n")
    process = _start(tmp_path, env={"VLLM_BASE_URL": upstream.url("/v1")})
    try:
        yield Started(process, tmp_path / "mitmdump.log")
    finally:
        _stop(process)


def _only_loopback_8082(pid: int, engine: int) -> set[tuple[str, str, int]]:
    """The process's sockets are fcc's proxy port and its engine, on 127.0.0.1 only."""
    sockets = bound_sockets(pid)
    assert {s for s in sockets if s[0] == "tcp"} == {("tcp", "127.0.0.1", DEFAULT_PORT), ("tcp", "127.0.0.1", engine)}, sockets
    # A reverse proxy to an https target also takes UDP on its port (mitmproxy's HTTP/3); same address.
    assert {s for s in sockets if s[0] == "udp"} <= {("udp", "127.0.0.1", DEFAULT_PORT)}, sockets
    return sockets


@needs_proc
def test_no_flags_listens_on_loopback_8082_only_and_serves_a_routed_request(bare: Started, upstream: ScriptedUpstream) -> None:
    engine = int(_wait_for(bare.process, bare.log, r"fcc addon active: .* engine on 127\.0\.0\.1:(\d+)").group(1))
    assert re.search(r"reverse proxy to https://api\.anthropic\.com listening at 127\.0\.0\.1:8082\b", bare.output())
    expected = _only_loopback_8082(bare.process.pid, engine)

    with httpx.Client(trust_env=False, timeout=30) as client:
        answer = client.post(f"http://127.0.0.1:{DEFAULT_PORT}/v1/messages", headers={"x-api-key": "dummy", "anthropic-version": "2023-06-01"},
                             json={"model": SONNET, "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]})
    assert answer.status_code == 200, (answer.text, bare.output())
    message = answer.json()
    assert message["type"] == "message" and message["role"] == "assistant", message
    assert "".join(block.get("text", "") for block in message["content"]) == "Hello from the default start."
    sent = upstream.wait_for_requests(1)
    assert sent[0].path == "/v1/chat/completions" and sent[0].json_body["model"] == "test-model"
    assert sent[0].header("x-api-key") is None  # the client's Anthropic credential stays with fcc
    assert bound_sockets(bare.process.pid) == expected
    if sys.version_info >= (3, 12):  # mitmproxy set up its servers first: fcc restarted once, with flags
        assert len(re.findall(r"fcc: mitmproxy set up its servers before loading fcc", bare.output())) == 1, bare.output()


@needs_proc
def test_an_explicit_regular_mode_is_kept(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "routes.yaml").write_text("models: {}\n")
    process = _start(tmp_path, "--mode", "regular", "--listen-host", "127.0.0.1", "-p", str(port))
    try:
        engine = int(_wait_for(process, tmp_path / "mitmdump.log", r"fcc addon active: .* engine on 127\.0\.0\.1:(\d+)").group(1))
        output = (tmp_path / "mitmdump.log").read_text()
        assert f"HTTP(S) proxy listening at 127.0.0.1:{port}." in output, output
        assert "reverse proxy" not in output and "restarting" not in output, output
        assert bound_sockets(process.pid) == {("tcp", "127.0.0.1", port), ("tcp", "127.0.0.1", engine)}
    finally:
        _stop(process)


@needs_proc
def test_fcc_run_passes_the_defaults_itself_so_nothing_restarts(tmp_path: Path) -> None:
    fcc = Path(sys.executable).with_name("fcc")
    assert fcc.is_file(), "the fcc console script is installed next to the interpreter (pip install -e .)"
    port = free_port()
    (tmp_path / "routes.yaml").write_text("models: {}\n")
    process = _start(tmp_path, "-p", str(port), command=[str(fcc), "run"])
    try:
        engine = int(_wait_for(process, tmp_path / "mitmdump.log", r"fcc addon active: .* engine on 127\.0\.0\.1:(\d+)").group(1))
        output = (tmp_path / "mitmdump.log").read_text()
        assert f"reverse proxy to https://api.anthropic.com listening at 127.0.0.1:{port}." in output, output
        assert "restarting" not in output and output.count("Loading script") == 1, output
        assert {s for s in bound_sockets(process.pid) if s[0] == "tcp"} == {("tcp", "127.0.0.1", port), ("tcp", "127.0.0.1", engine)}
    finally:
        _stop(process)


@pytest.mark.skipif(sys.version_info < (3, 12), reason="up to Python 3.11 mitmproxy loads scripts before it starts servers")
def test_when_it_cannot_restart_fcc_refuses_with_the_flag_to_pass(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "routes.yaml").write_text("models: {}\n")
    # As if fcc had restarted once already: it must not loop, nor serve a plain proxy.
    process = _start(tmp_path, "--listen-host", "127.0.0.1", "-p", str(port), env={RESTARTED_ENV: "1"})
    try:
        returncode = process.wait(START_WITHIN)
    finally:
        _stop(process)
    output = (tmp_path / "mitmdump.log").read_text()
    assert returncode != 0, output
    lines = [line for line in output.splitlines() if "cannot apply its defaults" in line]
    assert len(lines) == 1 and "--mode reverse:https://api.anthropic.com" in lines[0], output
    assert "--listen-port" not in lines[0] and "--listen-host" not in lines[0], lines  # those were given
    assert "fcc addon active" not in output and "Traceback" not in output, output
