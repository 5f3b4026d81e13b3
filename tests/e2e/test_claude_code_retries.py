"""The real Claude Code CLI's own retry loop, through fcc, against providers that always fail.

Claude Code retries on its own (../shared/research/claude-code-client.md section 5): up to 11
attempts for 429 (honouring retry-after), 3 for 529. Before issue 13, fcc's 4 tries
inside each of them cost 44 upstream requests for one prompt against an always-429
provider. These tests run the whole client cycle, until the CLI gives up, and count
what reached the upstream: <= 12 for always-429 (retry-after: 5, as measured then),
and at most one upstream request per client attempt for always-500 and a provider
that is down. The client attempts are counted from fcc's one log line per request.

The 429 cycle is the CLI's own (minutes with its default 10 retries are honest but
slow): CLAUDE_CODE_MAX_RETRIES, a knob of the CLI, is left at its default so the count
covers the real cycle; the cycles run in parallel to keep the wall time near the
longest one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e import test_claude_code_cli as cli
from tests.e2e.test_claude_code_cli import claude_bin  # noqa: F401  (fixture)
from tests.support.procs import MitmdumpProcess
from tests.support.upstream import ScriptedUpstream, refused_port
from tests.support.upstream_responses import openai_error

pytestmark = [pytest.mark.e2e, pytest.mark.cli]

CYCLE_TIMEOUT = 420.0  # the CLI's whole 429 cycle, with its backoff, stays well under this
LINE = re.compile(r"fcc: (\w+) \w+ -> (\S+) status=(\d+)\S* .*?attempts=(\d+)")


@dataclass
class Cycle:
    run: cli.CliRun
    upstream_requests: int
    client_attempts: list[tuple[str, int, int]]  # (request class, status, fcc's upstream attempts)
    log: str

    def explain(self) -> str:
        return (f"exit={self.run.returncode} in {self.run.seconds:.0f}s, upstream={self.upstream_requests}, "
                f"client attempts={len(self.client_attempts)}: {self.client_attempts}\n{self.log[-4000:]}\n"
                f"--- CLI stderr ---\n{self.run.stderr[-2000:]}\n--- stdout ---\n{self.run.stdout[-1000:]}")


def _cycle(claude: str, factory: Callable[..., MitmdumpProcess], workdir: Path, base_url: str,
           upstream: ScriptedUpstream | None) -> Cycle:
    routes = workdir / "routes.yaml"
    workdir.mkdir(parents=True, exist_ok=True)
    routes.write_text("{}\n")
    proxy = factory(env={"MODEL": f"vllm/{cli.UPSTREAM_MODEL}", "VLLM_BASE_URL": base_url, "FCC_CONFIG": str(routes)})
    original_timeout = cli.CLI_TIMEOUT_SECONDS
    cli.CLI_TIMEOUT_SECONDS = CYCLE_TIMEOUT  # type: ignore[misc]
    try:
        run = cli.run_claude(claude, proxy.base_url, workdir / "cli", "say hello")
    finally:
        cli.CLI_TIMEOUT_SECONDS = original_timeout  # type: ignore[misc]
    log = proxy.output()
    attempts = [(m.group(1), int(m.group(3)), int(m.group(4))) for m in LINE.finditer(log)]
    upstream_requests = len(upstream.requests) if upstream is not None else sum(n for _, _, n in attempts)
    return Cycle(run, upstream_requests, attempts, log)


def test_the_clients_whole_retry_cycle_costs_at_most_about_one_upstream_request_per_attempt(
    claude_bin: str, mitmdump_factory: Callable[..., MitmdumpProcess], tmp_path: Path
) -> None:
    with ScriptedUpstream(default=openai_error(429, "rate limited", code="rate_limit_exceeded", retry_after=5)) as limited, \
            ScriptedUpstream(default=openai_error(500, "boom", error_type="server_error")) as broken:
        down_url = f"http://127.0.0.1:{refused_port()}/v1"
        cases = {
            "429": (limited.url("/v1"), limited),
            "500": (broken.url("/v1"), broken),
            "down": (down_url, None),
        }
        with ThreadPoolExecutor(len(cases)) as pool:
            futures = {name: pool.submit(_cycle, claude_bin, mitmdump_factory, tmp_path / name, url, upstream)
                       for name, (url, upstream) in cases.items()}
            cycles = {name: future.result(timeout=CYCLE_TIMEOUT + 60) for name, future in futures.items()}

    for name, cycle in cycles.items():
        print(f"{name}: {cycle.upstream_requests} upstream requests over {len(cycle.client_attempts)} client "
              f"attempts in {cycle.run.seconds:.0f} s (exit {cycle.run.returncode})")
        assert cycle.run.returncode not in (0, None), f"{name}: the CLI should have given up: {cycle.explain()}"
        assert cycle.client_attempts, f"{name}: no request reached fcc: {cycle.explain()}"
    limited_cycle = cycles["429"]
    assert {status for _, status, _ in limited_cycle.client_attempts} == {429}, limited_cycle.explain()
    # Was 44 (4 per client attempt x 11); the target of issue 13 is <= 12.
    assert limited_cycle.upstream_requests <= 12, limited_cycle.explain()
    for name in ("500", "down"):
        cycle = cycles[name]
        assert {status for _, status, _ in cycle.client_attempts} == {529}, cycle.explain()
        assert cycle.upstream_requests <= len(cycle.client_attempts), cycle.explain()
