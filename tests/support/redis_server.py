"""A real Redis for the team-gateway tests.

`.ci/run` starts Debian's redis-server on a free loopback port and exports
FCC_TEST_REDIS_URL (and FCC_TEST_REDIS_SERVER, the binary). Tests that need a Redis
skip without one locally and fail under CI. Tests that kill and restart Redis start
their own `RedisServer` (never the shared one).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.procs import free_port


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} (CI must provide it: .ci/run installs redis-server)", pytrace=False)
    pytest.skip(f"{what}: install redis-server (apt-get install redis-server) or set FCC_TEST_REDIS_URL")


def redis_binary() -> str | None:
    return os.environ.get("FCC_TEST_REDIS_SERVER") or shutil.which("redis-server")


class RedisServer:
    """redis-server on 127.0.0.1; kill() is a crash, start() brings it back: empty, or with
    `persistent` (an append-only file synced on every write) with everything it had."""

    def __init__(self, port: int | None = None, persistent: bool = False) -> None:
        self.persistent = persistent
        binary = redis_binary()
        if binary is None:
            _missing("no redis-server binary")
        self.binary = binary
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="fcc-redis-"))
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        log = (self.dir / "redis.log").open("ab")
        self.popen = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             *(("--appendonly", "yes", "--appendfsync", "always") if self.persistent else ("--appendonly", "no")),
             "--dir", str(self.dir), "--daemonize", "no"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"redis-server exited: {(self.dir / 'redis.log').read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on {self.port} within {timeout} s")

    def kill(self) -> None:
        """SIGKILL: what a crash looks like to the replicas."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(5)
        self.popen = None

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The CI Redis (FCC_TEST_REDIS_URL) or, locally, a redis-server started for this test."""
    url = os.environ.get("FCC_TEST_REDIS_URL")
    if url:
        yield url
        return
    server = RedisServer()
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def redis_prefix() -> str:
    """Keys of one test, apart from every other test's (several may share the CI Redis)."""
    return f"fcc-test-{uuid.uuid4().hex[:10]}:"


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server only this test uses, so it may kill and restart it."""
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
