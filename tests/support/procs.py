"""Run a real `mitmdump` process for end-to-end tests.

Every process gets its own HOME and mitmproxy confdir in a temp directory, so
tests never read or write ~/.mitmproxy (CA keys, options). Output is drained
by a thread into memory: a full pipe would otherwise block mitmdump's logging
and, with it, the proxy.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ADDON_SCRIPT = REPO_ROOT / "addon" / "fcc.py"
STARTUP_TIMEOUT_SECONDS = 15.0
TERMINATE_GRACE_SECONDS = 5.0
# An inherited proxy setting would send the addon's own upstream calls (or a
# test client) through some unrelated proxy; tests opt in explicitly instead.
_PROXY_ENV_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy")
_PORT_TAKEN = re.compile(r"address already in use", re.I)
FCC_READY = "fcc addon active"  # logged by the addon's running hook, after mitmproxy's servers are up


class MitmdumpStartupError(RuntimeError):
    pass


def free_port() -> int:
    """A loopback port that was free a moment ago (the OS may hand it out again)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def find_mitmdump() -> str:
    """Prefer the mitmdump of the running interpreter: a pyenv/asdf shim on PATH
    is a shell wrapper that costs startup time and may pick another Python."""
    beside_python = Path(sys.executable).with_name("mitmdump")
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    on_path = shutil.which("mitmdump")
    if on_path is None:
        raise FileNotFoundError("mitmdump not found next to sys.executable or on PATH")
    return on_path


@dataclass
class MitmdumpProcess:
    popen: subprocess.Popen[bytes]
    port: int
    command: list[str]
    confdir: Path
    home: Path
    host: str = "127.0.0.1"
    _output: list[str] = field(default_factory=list)
    _output_lock: threading.Lock = field(default_factory=threading.Lock)
    _reader: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def is_running(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        """Everything mitmdump wrote to stdout and stderr so far."""
        with self._output_lock:
            return "".join(self._output)

    def wait_for_output(self, pattern: str, timeout: float = 5.0) -> re.Match[str]:
        """Wait until the output matches the regex `pattern`; raise TimeoutError with the output."""
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.output())
            if match:
                return match
            if time.monotonic() > deadline:
                raise TimeoutError(f"mitmdump output did not match {pattern!r} within {timeout}s:\n{self.output()}")
            time.sleep(0.02)

    def stop(self) -> int:
        """SIGTERM, then SIGKILL after a grace period; returns the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(TERMINATE_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(TERMINATE_GRACE_SECONDS)
        if self._reader is not None:
            self._reader.join(2.0)
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        return self.popen.returncode

    def _drain_output(self) -> None:
        assert self.popen.stdout is not None
        for raw_line in iter(self.popen.stdout.readline, b""):
            with self._output_lock:
                self._output.append(raw_line.decode("utf-8", "replace"))


def mitmdump_command(
    port: int,
    confdir: Path,
    *,
    script: Path | str | None = ADDON_SCRIPT,
    mode: str | None = None,
    args: Sequence[str] = (),
) -> list[str]:
    command = [find_mitmdump()]
    if script is not None:
        command += ["-s", str(script)]
    if mode is not None:
        command += ["--mode", mode]
    command += ["-p", str(port), "--listen-host", "127.0.0.1", "--set", "termlog_verbosity=info", "--set", f"confdir={confdir}"]
    return command + list(args)


@contextmanager
def run_mitmdump(
    args: Sequence[str] = (),
    env: Mapping[str, str | None] | None = None,
    port: int | None = None,
    *,
    script: Path | str | None = ADDON_SCRIPT,
    mode: str | None = None,
    workdir: Path | None = None,
    startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
) -> Iterator[MitmdumpProcess]:
    """Start mitmdump, wait until it accepts connections, stop it on exit.

    `script=None` runs plain mitmdump (no fcc addon). `mode` is passed as
    `--mode` (e.g. "reverse:http://127.0.0.1:8000"). `env` entries override the
    inherited environment; a None value removes the variable. Raises
    MitmdumpStartupError (with mitmdump's output) if it exits or never listens.
    """
    with ExitStack() as cleanup:
        if workdir is None:
            workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="fcc-mitmdump-")))
        process = _start_listening(args, env, port, script=script, mode=mode, workdir=workdir, startup_timeout=startup_timeout)
        cleanup.callback(process.stop)
        yield process


def _start_listening(
    args: Sequence[str],
    env: Mapping[str, str | None] | None,
    port: int | None,
    *,
    script: Path | str | None,
    mode: str | None,
    workdir: Path,
    startup_timeout: float,
) -> MitmdumpProcess:
    # free_port() can race with another process; retry only ports we picked.
    attempts = 1 if port is not None else 3
    for attempt in range(attempts):
        process = _spawn(args, env, port or free_port(), script=script, mode=mode, workdir=workdir)
        # fcc may restart mitmdump once at start-up (Python >= 3.12, fcc/mitm/startup.py); a port that
        # answers before fcc says it is active can be the process about to be replaced.
        ready = FCC_READY if script is not None and Path(script).resolve() == ADDON_SCRIPT.resolve() else None
        try:
            _wait_until_listening(process, startup_timeout, ready)
            return process
        except MitmdumpStartupError:
            process.stop()
            if attempt + 1 < attempts and _PORT_TAKEN.search(process.output()):
                continue
            raise
    raise AssertionError("unreachable")


def _spawn(
    args: Sequence[str],
    env: Mapping[str, str | None] | None,
    port: int,
    *,
    script: Path | str | None,
    mode: str | None,
    workdir: Path,
) -> MitmdumpProcess:
    home = workdir / "home"
    confdir = workdir / "mitmproxy-confdir"
    home.mkdir(parents=True, exist_ok=True)
    confdir.mkdir(parents=True, exist_ok=True)
    child_env = {k: v for k, v in os.environ.items() if k not in _PROXY_ENV_VARS}
    child_env.update(HOME=str(home), PYTHONUNBUFFERED="1")
    for name, value in (env or {}).items():
        if value is None:
            child_env.pop(name, None)
        else:
            child_env[name] = value
    command = mitmdump_command(port, confdir, script=script, mode=mode, args=args)
    popen = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=child_env,
        cwd=workdir,
        start_new_session=True,  # a Ctrl-C aimed at pytest must not reach the proxy first
    )
    process = MitmdumpProcess(popen=popen, port=port, command=command, confdir=confdir, home=home)
    process._reader = threading.Thread(target=process._drain_output, name=f"mitmdump-{popen.pid}-output", daemon=True)
    process._reader.start()
    return process


def _wait_until_listening(process: MitmdumpProcess, timeout: float, ready: str | None = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.popen.poll() is not None:
            if process._reader is not None:
                process._reader.join(2.0)  # collect the last words before reporting them
            raise MitmdumpStartupError(
                f"mitmdump exited with code {process.popen.returncode} before listening on {process.port}\n"
                f"command: {' '.join(process.command)}\n--- output ---\n{process.output()}"
            )
        try:
            # A bare TCP probe: fine with connection_strategy=lazy; in eager reverse
            # mode mitmproxy also opens one (idle) upstream connection for it.
            if ready is None or ready in process.output():
                with socket.create_connection((process.host, process.port), timeout=0.2):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise MitmdumpStartupError(f"mitmdump did not listen on {process.port} within {timeout}s\n--- output ---\n{process.output()}")
        time.sleep(0.05)


@pytest.fixture
def mitmdump_factory(tmp_path: Path) -> Iterator[Callable[..., MitmdumpProcess]]:
    """`start(args=..., env=..., script=..., mode=...)` -> a running MitmdumpProcess;
    every process started through it is stopped at teardown."""
    with ExitStack() as stack:
        counter = iter(range(1_000_000))

        def start(
            args: Sequence[str] = (),
            env: Mapping[str, str | None] | None = None,
            port: int | None = None,
            **options: object,
        ) -> MitmdumpProcess:
            workdir = tmp_path / f"mitmdump-{next(counter)}"
            return stack.enter_context(run_mitmdump(args, env, port, workdir=workdir, **options))  # type: ignore[arg-type]

        yield start
