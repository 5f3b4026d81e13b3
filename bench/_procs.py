"""Processes the benchmark starts, and what /proc says about them.

Every child runs in its own session (= process group), so stopping it stops
everything it spawned. `stop_all` runs from finally blocks, atexit and on
SIGTERM/SIGINT/SIGHUP, so nothing outlives the benchmark.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
_PROXY_ENV = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
_STARTED: list[Child] = []
_LOCK = threading.Lock()


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The parent's environment without proxy settings (all traffic stays on loopback)."""
    env = {k: v for k, v in os.environ.items() if k not in _PROXY_ENV}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra or {})
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Child:
    name: str
    popen: subprocess.Popen
    log_path: Path | None = None
    pids: list[int] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, limit: int = 1500) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-limit:]

    def refresh_pids(self) -> list[int]:
        """Every live process in the child's session (the child and whatever it spawned)."""
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = _stat_fields(int(entry))
            except OSError:
                continue
            if int(stat[3]) == self.pid:  # field 6 (session) after the comm field
                found.append(int(entry))
        self.pids = found or [self.pid]
        return self.pids

    def cpu_seconds(self) -> float:
        """utime+stime of the session's processes (all their threads, dead threads included)."""
        total = 0
        for pid in self.pids:
            try:
                stat = _stat_fields(pid)
            except OSError:
                continue
            total += int(stat[11]) + int(stat[12])  # utime, stime (fields 14, 15)
        return total / CLK_TCK

    def memory_kb(self) -> tuple[int, int]:
        """(VmRSS, VmHWM) summed over the session's processes, in KiB."""
        rss = hwm = 0
        for pid in self.pids:
            try:
                text = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in text.splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm += int(line.split()[1])
        return rss, hwm


def _stat_fields(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw[raw.rindex(")") + 2 :].split()  # fields from 3 (state) on; comm may hold spaces


def start(name: str, argv: list[str], *, env: dict[str, str], cwd: str | Path | None = None,
          log_dir: Path | None = None, stdout_pipe: bool = False) -> Child:
    log_path = (log_dir / f"{name}.log") if log_dir else None
    out = subprocess.PIPE if stdout_pipe else (open(log_path, "wb") if log_path else subprocess.DEVNULL)
    err = open(log_path, "ab") if log_path else subprocess.DEVNULL
    popen = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL if not stdout_pipe else subprocess.PIPE,
                             stdout=out, stderr=err, start_new_session=True)
    child = Child(name, popen, log_path)
    with _LOCK:
        _STARTED.append(child)
    return child


def stop(child: Child, grace: float = 3.0) -> None:
    """SIGTERM to the child's process group, SIGKILL after `grace` seconds."""
    pgid = child.pid
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if child.popen.poll() is not None and not _group_alive(pgid):
                break
            time.sleep(0.05)
        else:
            continue
        break
    try:
        child.popen.wait(1.0)
    except subprocess.TimeoutExpired:
        pass
    with _LOCK:
        if child in _STARTED:
            _STARTED.remove(child)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def stop_all() -> None:
    with _LOCK:
        children = list(reversed(_STARTED))
    for child in children:
        stop(child)


def install_cleanup() -> None:
    atexit.register(stop_all)

    def on_signal(signum, _frame):
        stop_all()
        sys.exit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)


def wait_port(port: int, child: Child, timeout: float) -> None:
    """Until something accepts on 127.0.0.1:port; raise with the child's log if it dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited with {child.popen.returncode}: {child.log_tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{child.name} did not listen on {port} within {timeout:.0f} s: {child.log_tail()}")


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields) - idle) / CLK_TCK, sum(fields) / CLK_TCK
