"""fcc overhead benchmark: one command, bounded in time, loopback only.

    python bench/run.py            # full run, < 5 min
    python bench/run.py --quick    # < 1 min, coarser
    python bench/run.py --peers    # also LiteLLM's proxy and claude-code-router, when installed under bench/

Against one fast scripted upstream (bench/_upstream.py) it measures, taking
turns block by block so machine noise hits every target alike: the direct
floor, plain mitmdump, fcc (openai_chat and anthropic_messages transports) and
optionally the peers. Results: tables on stdout, JSON under bench/results/.
See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _procs
import _report
import _targets


@dataclass(frozen=True)
class Plan:
    warmup: int
    seq_rounds: int
    seq_n: int
    seq_budget: float
    fit_rounds: int
    fit_n: int
    fit_budget: float
    conc_rounds: int
    conc_n: int
    conc_budget: float
    limit_s: float
    conc_clients: int = 50
    fit_chunks: tuple[int, ...] = (1, 10, 100, 400)
    chunks: int = 100


FULL = Plan(warmup=10, seq_rounds=8, seq_n=25, seq_budget=2.0, fit_rounds=3, fit_n=15, fit_budget=1.5,
            conc_rounds=2, conc_n=250, conc_budget=4.0, limit_s=280)
QUICK = Plan(warmup=4, seq_rounds=3, seq_n=12, seq_budget=0.8, fit_rounds=1, fit_n=10, fit_budget=0.8,
             conc_rounds=1, conc_n=100, conc_budget=2.0, limit_s=55)
# LiteLLM alone needs ~20 s to start and ~20 s for one round of 50 concurrent streams.
QUICK_PEERS = Plan(**{**QUICK.__dict__, "limit_s": 110})
REQUEST_TIMEOUT = 60.0


class Bench:
    def __init__(self, plan: Plan, targets: list[_targets.Target], upstream_port: int, worker: _procs.Child, started: float):
        self.plan = plan
        self.targets = targets
        self.upstream_port = upstream_port
        self.worker = worker
        self.deadline = started + plan.limit_s
        self.blocks: list[dict] = []
        self.skipped: list[str] = []
        self.rss_peak_kb: dict[str, int] = {}
        self._chunks = 0
        self.seconds_per_request: dict[str, float] = {}  # from the latest sequential block, for time estimates
        self.conc_wall: dict[str, float] = {}

    def set_chunks(self, chunks: int) -> None:
        if chunks == self._chunks:
            return
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=5)
        conn.request("POST", "/_bench/config", json.dumps({"chunks": chunks}), {"content-type": "application/json"})
        if conn.getresponse().status != 200:
            raise RuntimeError("the scripted upstream refused its configuration")
        conn.close()
        self._chunks = chunks

    def block(self, target: _targets.Target, phase: str, chunks: int, requests: int, concurrency: int,
              budget: float, round_no: int = 0, record: bool = True) -> dict | None:
        if record and time.monotonic() + self._estimate(target, chunks, requests, concurrency, budget) > self.deadline:
            self.skipped.append(f"{phase} round {round_no} {target.name} ({chunks} chunks)")
            return None
        self.set_chunks(chunks)
        child = target.child
        if child is not None:
            child.refresh_pids()
        cpu0 = child.cpu_seconds() if child else 0.0
        busy0, _ = _procs.machine_busy()
        command = {"cmd": "run", "target": target.spec(), "chunks": chunks, "requests": requests,
                   "concurrency": concurrency, "budget_s": budget, "timeout_s": REQUEST_TIMEOUT}
        answer, rss_max = self._ask(command, child, budget + REQUEST_TIMEOUT * 2 + 30)
        cpu1 = child.cpu_seconds() if child else 0.0
        busy1, _ = _procs.machine_busy()
        if child is not None:
            self.rss_peak_kb[target.name] = max(self.rss_peak_kb.get(target.name, 0), rss_max)
        results = answer["results"]
        errors = [r[3] for r in results if r[3] is not None] + answer.get("connect_errors", [])
        if answer.get("fatal"):
            errors.append("client worker: " + answer["fatal"])
        block = {"phase": phase, "round": round_no, "target": target.name, "chunks": chunks, "concurrency": concurrency,
                 "requests": len(results), "wall_s": answer["wall_s"], "cpu_s": cpu1 - cpu0 if child else None,
                 "machine_busy_s": busy1 - busy0, "rss_max_kb": rss_max or None, "errors": len(errors),
                 "first_error": errors[0] if errors else None, "results": results}
        if record:
            self.blocks.append(block)
        if results and concurrency == 1 and chunks == self.plan.chunks:
            self.seconds_per_request[target.name] = answer["wall_s"] / len(results)
        elif results and concurrency > 1:
            self.conc_wall[target.name] = answer["wall_s"]
        return block

    def _estimate(self, target: _targets.Target, chunks: int, requests: int, concurrency: int, budget: float) -> float:
        """How long a block will probably take, so the time limit is kept by skipping what would not fit."""
        per = self.seconds_per_request.get(target.name, 0.05) * max(1.0, chunks / self.plan.chunks)
        if concurrency == 1:
            return min(requests * per, budget + per)
        if target.name in self.conc_wall:
            return self.conc_wall[target.name]
        return max(budget, concurrency * per * 1.5)

    def _ask(self, command: dict, child: _procs.Child | None, timeout: float) -> tuple[dict, int]:
        """Send one block to the client worker; sample the proxy's RSS while it runs."""
        popen = self.worker.popen
        assert popen.stdin is not None and popen.stdout is not None
        popen.stdin.write((json.dumps(command) + "\n").encode())
        popen.stdin.flush()
        rss_max = 0
        end = time.monotonic() + timeout
        while True:
            if child is not None:
                rss_max = max(rss_max, child.memory_kb()[0])
            ready, _, _ = select.select([popen.stdout], [], [], 0.05)
            if ready:
                line = popen.stdout.readline()
                if not line:
                    raise RuntimeError(f"client worker exited: {self.worker.log_tail()}")
                return json.loads(line), rss_max
            if time.monotonic() > end:
                raise RuntimeError("client worker did not answer in time")

    def rotation(self, round_no: int) -> list[_targets.Target]:
        k = round_no % len(self.targets)
        return self.targets[k:] + self.targets[:k]

    def run(self) -> None:
        p = self.plan
        for r in range(p.seq_rounds):
            for target in self.rotation(r):
                self.block(target, "seq", p.chunks, p.seq_n, 1, p.seq_budget, r)
        for r in range(p.fit_rounds):
            for i, chunks in enumerate(p.fit_chunks):
                for target in self.rotation(r + i):
                    self.block(target, "fit", chunks, p.fit_n, 1, p.fit_budget, r)
        for r in range(p.conc_rounds):
            for target in self.rotation(r):
                self.block(target, "conc", p.chunks, p.conc_n, p.conc_clients, p.conc_budget, r)


def machine_info() -> dict:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"nproc": os.cpu_count(), "cpu_model": model, "kernel": platform.release(), "python": platform.python_version(),
            "loadavg_start": os.getloadavg()}
    try:
        from mitmproxy import version
        info["mitmproxy"] = version.VERSION
    except ImportError:
        info["mitmproxy"] = "?"
    git = shutil.which("git")
    if git:
        repo = str(_targets.REPO)
        head = subprocess.run([git, "-C", repo, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run([git, "-C", repo, "status", "--porcelain", "--", "addon"], capture_output=True, text=True).stdout
        info["fcc_commit"] = head + (f" (+{len(dirty.splitlines())} uncommitted files under addon/)" if dirty.strip() else "")
    node = shutil.which("node")
    if node:
        info["node"] = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    return info


def start_upstream(log_dir: Path) -> tuple[_procs.Child, int]:
    child = _procs.start("upstream", [sys.executable, str(_targets.BENCH / "_upstream.py")], env=_procs.clean_env(),
                         log_dir=log_dir, stdout_pipe=True)
    assert child.popen.stdout is not None
    ready, _, _ = select.select([child.popen.stdout], [], [], 15)
    line = child.popen.stdout.readline().decode() if ready else ""
    if not line.startswith("PORT "):
        raise RuntimeError(f"scripted upstream did not start: {line!r} {child.log_tail()}")
    return child, int(line.split()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description="fcc overhead benchmark (loopback only)")
    parser.add_argument("--quick", action="store_true", help="under a minute; fewer, shorter blocks")
    parser.add_argument("--peers", action="store_true", help="also LiteLLM's proxy and claude-code-router (if installed)")
    parser.add_argument("--no-mitm-stream", action="store_true", help="skip the mitmdump stream_large_bodies=1 variant")
    parser.add_argument("--only", help="comma list of targets to keep (direct and mitm are always kept as references)")
    parser.add_argument("--addon", help="benchmark another fcc entry script (e.g. a patched copy) instead of addon/fcc.py")
    parser.add_argument("--addon-b", help="also benchmark this entry script as fcc-openai-b / fcc-native-b (A/B, interleaved)")
    parser.add_argument("--limit", type=float, help="time limit in seconds (default 280, --quick 55, --quick --peers 110)")
    parser.add_argument("--out", help="JSON result path (default bench/results/run-<time>.json)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the proxies' logs and configs (printed path)")
    args = parser.parse_args()
    plan = (QUICK_PEERS if args.peers else QUICK) if args.quick else FULL
    if args.limit:
        plan = Plan(**{**plan.__dict__, "limit_s": args.limit})
    if args.addon:
        _targets.ADDON = Path(args.addon).resolve()
    started = time.monotonic()
    _procs.install_cleanup()
    work = Path(tempfile.mkdtemp(prefix="fcc-bench-"))
    notes: list[str] = []
    info = machine_info()
    info["fcc_addon"] = str(_targets.ADDON)
    try:
        upstream, up_port = start_upstream(work)
        targets = _targets.core_targets(up_port, work, with_mitm_stream=not args.no_mitm_stream)
        if args.addon_b:
            targets += _targets.fcc_targets(up_port, work, Path(args.addon_b).resolve(), suffix="-b")
            info["fcc_addon_b"] = str(Path(args.addon_b).resolve())
        if args.peers:
            peers, peer_notes = _targets.peer_targets(up_port, work)
            targets += peers
            notes += peer_notes
        if args.only:
            keep = set(args.only.split(",")) | {"direct", "mitm"}
            keep |= {name + "-b" for name in keep}
            targets = [t for t in targets if t.name in keep]
        for target in targets:
            target.start(work)
        ready = []
        for target in targets:
            try:
                target.wait_ready()
                ready.append(target)
            except RuntimeError as exc:
                notes.append(f"{target.name} dropped: did not start: {str(exc)[:400]}")
                if target.child:
                    _procs.stop(target.child)
        targets = ready
        print(f"# started {', '.join(t.name + (f' (pid {t.child.pid})' if t.child else '') for t in targets)} "
              f"in {time.monotonic() - started:.1f} s", file=sys.stderr)
        rss_start = {}
        for target in targets:
            if target.child:
                target.child.refresh_pids()
                rss_start[target.name] = target.child.memory_kb()[0]
        worker = _procs.start("clients", [sys.executable, str(_targets.BENCH / "_clients.py")], env=_procs.clean_env(),
                              log_dir=work, stdout_pipe=True)
        bench = Bench(plan, targets, up_port, worker, started)
        for target in list(targets):  # one checked request, then warm-up, per target
            check = bench.block(target, "check", plan.chunks, 1, 1, 0, record=False)
            if check is None or check["errors"]:
                notes.append(f"{target.name} dropped: its first answer was wrong: {check and check['first_error']}")
                targets.remove(target)
                if target.child:
                    _procs.stop(target.child)
                continue
            bench.block(target, "warmup", plan.chunks, plan.warmup, 1, 5.0, record=False)
        if not any(t.name == "direct" for t in targets):
            raise RuntimeError("the direct floor failed; nothing to compare against")
        bench.run()
        rss_end, rss_hwm = {}, {}
        for target in targets:
            if target.child:
                target.child.refresh_pids()
                rss_end[target.name], rss_hwm[target.name] = target.child.memory_kb()
        conn = http.client.HTTPConnection("127.0.0.1", up_port, timeout=5)
        conn.request("GET", "/_bench/stats")
        upstream_stats = json.loads(conn.getresponse().read())
        conn.close()
        info["loadavg_end"] = os.getloadavg()
        info["elapsed_s"] = round(time.monotonic() - started, 1)
        if bench.skipped:
            notes.append(f"time limit ({plan.limit_s:.0f} s) reached: skipped {len(bench.skipped)} blocks: {', '.join(bench.skipped[:8])}")
        if upstream_stats.get("trapped"):
            notes.append(f"the upstream saw {upstream_stats['trapped']} untranslated /v1/messages requests (a proxy passed them through)")
        versions = {t.name: t.version for t in targets if t.version}
        summary = _report.summarize(targets, bench.blocks, rss_start, bench.rss_peak_kb, rss_hwm, rss_end)
        result = {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "mode": "quick" if args.quick else "full",
                  "machine": info, "versions": versions, "plan": plan.__dict__, "notes": notes,
                  "upstream_stats": upstream_stats, "summary": summary, "blocks": bench.blocks}
        out = Path(args.out) if args.out else _targets.BENCH / "results" / f"run-{time.strftime('%Y%m%d-%H%M%S')}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1, default=str))
        print(_report.render(result))
        print(f"\nJSON: {out}")
        return 0
    finally:
        _procs.stop_all()
        if args.keep_logs:
            print(f"logs and configs kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
