"""A team gateway: three fcc replicas (real mitmdump processes) share one Redis and one provider.

The provider (a scripted upstream) allows 40 requests per rolling window and answers 429 beyond.
fcc's windows are shortened with FCC_WINDOW_SECONDS (40 per 10 s instead of 40 per minute: the
same rule, six times faster), so the whole run stays well under 90 s. Its max_concurrency (8)
holds across the replicas too. 50 concurrent streaming
clients, spread over the replicas as a load balancer would, send requests for a bounded time.
Redis is killed in the middle and restarted (with its append-only file, as a real one runs).

Proven here: no more than the limit reaches the provider in any window across replicas; no
client sees an error except the deliberate 429s of the user over their own limit; that user's
limit holds across replicas; a user without access to a route gets a clear 403, a wrong token
403; requests keep being served while Redis is down and the shared window resumes after; the
usage counters in Redis and the replicas' Prometheus endpoints equal what the clients received;
no token appears in logs, metrics, recordings or Redis.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

pytest.importorskip("redis")

from fcc.users import token_digest
from tests.support.procs import MitmdumpProcess, free_port
from tests.support.redis_server import RedisServer
from tests.support.upstream import RecordedRequest, ScriptedUpstream
from tests.support.upstream_responses import Response, openai_error, openai_text_stream

pytestmark = pytest.mark.e2e

LIMIT = 40  # provider requests per window
CONCURRENCY = 8  # provider's max_concurrency, across replicas
WINDOW = 10.0  # seconds (FCC_WINDOW_SECONDS; a real provider's is 60)
CLIENTS = 50
LOAD_SECONDS = 24.0  # clients keep sending for this long...
DRAIN_SECONDS = 75.0  # ...then requests in flight get this long to finish (a bound, not a budget: a loaded CI box queues longer)
KILL_AT, RESTART_AT = 7.0, 17.0  # Redis is down in between (a window boundary falls inside)
CAROL_RPM = 4  # carol's own limit, per window, across replicas
PRICE = (1.0, 2.0)  # USD per million tokens in / out
PREFIX = "fcc:"

TOKENS = {name: f"fcc-{name}-" + os.urandom(12).hex() for name in ("alice", "bob", "carol", "intern")}


class RateLimitedUpstream(ScriptedUpstream):
    """An OpenAI-style provider allowing `limit` requests per rolling `window`; 429 + retry-after beyond."""

    def __init__(self, limit: int, window: float) -> None:
        super().__init__()
        self.limit, self.window = limit, window
        self.received: list[float] = []
        self.accepted: list[float] = []
        self._serial = 0
        self._admit_lock = threading.Lock()

    def _next_response(self, request: RecordedRequest | None = None) -> Response:
        now = time.monotonic()
        with self._admit_lock:
            self.received.append(now)
            recent = [t for t in self.accepted if now - t < self.window]
            if len(recent) >= self.limit:
                wait = recent[-self.limit] + self.window - now
                return openai_error(429, f"Rate limit exceeded: {self.limit} requests per window",
                                    error_type="rate_limit_error", retry_after=max(1, round(wait)))
            self.accepted.append(now)
            self._serial += 1
            serial = self._serial
        # Usage differs per answer, so the totals below add up something real.
        usage = {"prompt_tokens": 100 + serial % 7, "completion_tokens": 10 + serial % 5}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return openai_text_stream(["Hello ", "from ", "the ", "team ", "gateway."], usage=usage, delay=0.01)


def max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, left = 0, 0
    for right, t in enumerate(times):
        while t - times[left] >= window:
            left += 1
        best = max(best, right - left + 1)
    return best


@dataclass
class Outcome:
    user: str
    replica: int
    sent: float
    status: int | None = None
    error_type: str | None = None
    message: str = ""
    retry_after: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    problem: str | None = None  # anything a client would trip over

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.problem is None


async def one_request(client: httpx.AsyncClient, url: str, user: str, replica: int, t0: float,
                      model: str = "claude-sonnet-4-5") -> Outcome:
    outcome = Outcome(user, replica, time.monotonic() - t0)
    body = {"model": model, "max_tokens": 256, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"x-api-key": TOKENS[user], "anthropic-version": "2023-06-01", "content-type": "application/json"}
    try:
        async with client.stream("POST", url + "/v1/messages", json=body, headers=headers) as response:
            outcome.status = response.status_code
            if response.status_code != 200:
                raw = await response.aread()
                error = json.loads(raw)["error"]
                outcome.error_type, outcome.message = error["type"], error["message"]
                outcome.retry_after = response.headers.get("retry-after")
                return outcome
            names: list[str] = []
            buffer = b""
            async for piece in response.aiter_bytes():
                buffer += piece
                while b"\n\n" in buffer:
                    frame, buffer = buffer.split(b"\n\n", 1)
                    name, data = "", ""
                    for line in frame.decode().split("\n"):
                        if line.startswith("event:"):
                            name = line[6:].strip()
                        elif line.startswith("data:"):
                            data += line[5:].strip()
                    names.append(name)
                    if name == "error":
                        outcome.problem = f"stream error: {data}"
                    if name == "message_delta":
                        usage = json.loads(data).get("usage") or {}
                        outcome.tokens_in = int(usage.get("input_tokens") or 0) + int(usage.get("cache_read_input_tokens") or 0)
                        outcome.tokens_out = int(usage.get("output_tokens") or 0)
            real = [n for n in names if n != "ping"]
            if not real or real[0] != "message_start" or real[-1] != "message_stop":
                outcome.problem = outcome.problem or f"incomplete stream: {real[:3]}...{real[-3:]}"
    except httpx.HTTPError as exc:
        outcome.problem = f"transport: {type(exc).__name__}: {exc}"
    return outcome


def routes_file(tmp_path: Path, index: int, upstream: ScriptedUpstream, redis_url: str, metrics_port: int) -> Path:
    routes = {
        "providers": {"team": {"like": "vllm", "base_url": upstream.url("/v1"), "requests_per_minute": LIMIT,
                               "max_concurrency": CONCURRENCY, "quirks": {"price_per_mtok": list(PRICE)}}},
        "models": {"default": "team/team-model", "haiku": "team/team-small"},
        "shared_state": {"url": redis_url, "prefix": PREFIX},
        "metrics": {"listen": f"127.0.0.1:{metrics_port}"},
        "users": {
            "alice": {"token_sha256": token_digest(TOKENS["alice"])},
            "bob": {"token_sha256": token_digest(TOKENS["bob"])},
            "carol": {"token_sha256": token_digest(TOKENS["carol"]), "requests_per_minute": CAROL_RPM},
            "intern": {"token_sha256": token_digest(TOKENS["intern"]), "routes": ["haiku"]},
        },
    }
    path = tmp_path / f"routes-{index}.yaml"
    path.write_text(yaml.safe_dump(routes))
    return path


def scrape(port: int) -> dict[tuple[str, frozenset], float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    samples: dict[tuple[str, frozenset], float] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        head, value = line.rsplit(" ", 1)
        name, _, labels = head.partition("{")
        pairs = frozenset(tuple(p.split("=", 1)) for p in labels.rstrip("}").replace('"', "").split(",") if "=" in p)
        samples[(name, pairs)] = float(value)
    return samples


def total(samples: list[dict], name: str, **labels: str) -> float:
    want = {(k, v) for k, v in labels.items()}
    return sum(v for s in samples for (n, pairs), v in s.items() if n == name and want <= pairs)


def test_three_replicas_share_one_quota_and_survive_redis_going_away(
    tmp_path: Path, mitmdump_factory: Callable[..., MitmdumpProcess]
) -> None:
    redis = RedisServer(persistent=True)
    redis.start()
    upstream = RateLimitedUpstream(LIMIT, WINDOW).start()
    replicas: list[MitmdumpProcess] = []
    metrics_ports = [free_port() for _ in range(3)]
    record_dir = tmp_path / "recording"
    try:
        env = {name: None for name in os.environ if name.startswith("MODEL") or name == "FCC_REDIS_URL"}
        env["FCC_WINDOW_SECONDS"] = str(WINDOW)
        for index in range(3):
            routes = routes_file(tmp_path, index, upstream, redis.url, metrics_ports[index])
            args = ["--set", f"fcc_config={routes}", "--set", "flow_detail=0"]
            if index == 0:
                args += ["--set", f"fcc_record={record_dir}"]
            replica = mitmdump_factory(args=args, env=env)
            replica.wait_for_output(r"fcc addon active", timeout=20)
            replicas.append(replica)
        urls = [r.base_url for r in replicas]

        outcomes: list[Outcome] = []
        mid_scrape: list[dict] = []

        async def client_loop(index: int, t0: float, stop_at: float) -> None:
            user = "carol" if index % 10 == 0 else ("alice" if index % 2 else "bob")
            replica = index % 3  # the load balancer's round robin
            timeout = httpx.Timeout(connect=10, read=60, write=10, pool=10)
            async with httpx.AsyncClient(trust_env=False, timeout=timeout) as client:
                while time.monotonic() < stop_at:
                    outcome = await one_request(client, urls[replica], user, replica, t0)
                    outcomes.append(outcome)
                    if outcome.status == 429 and outcome.retry_after:
                        await asyncio.sleep(min(float(outcome.retry_after), 3.0))  # as Claude Code would, shorter

        async def redis_outage(t0: float) -> None:
            loop = asyncio.get_running_loop()
            await asyncio.sleep(KILL_AT)
            await loop.run_in_executor(None, redis.kill)
            await asyncio.sleep(RESTART_AT - KILL_AT)
            await loop.run_in_executor(None, redis.start)
            await asyncio.sleep(4.0)
            mid_scrape.extend(await asyncio.gather(*(loop.run_in_executor(None, scrape, p) for p in metrics_ports)))

        async def load() -> tuple[float, int]:
            t0 = time.monotonic()
            stop_at = t0 + LOAD_SECONDS
            tasks = [asyncio.ensure_future(client_loop(i, t0, stop_at)) for i in range(CLIENTS)]
            outage = asyncio.ensure_future(redis_outage(t0))
            done, pending = await asyncio.wait(tasks, timeout=LOAD_SECONDS + DRAIN_SECONDS)
            for task in pending:
                task.cancel()
            await outage
            for task in done:
                task.result()  # a client bug must fail the test, not vanish
            return t0, len(pending)

        t0, unfinished = asyncio.run(load())
        assert unfinished == 0, "clients still waiting after the drain"

        # ------------------------------------------------------------------ the provider
        received = [t - t0 for t in upstream.received]
        assert not upstream.errors, upstream.errors
        assert max_in_window(upstream.received, WINDOW) <= LIMIT, f"the provider's window was exceeded: {[round(t, 2) for t in received]}"
        assert len(upstream.accepted) == len(upstream.received), "fcc sent a request the provider refused"
        assert len(received) > LIMIT * 1.5  # the load really did exceed one window (a loaded box sends fewer in 24 s)
        spans = [(e.request.received_at, e.finished_at or e.client_closed_at or time.monotonic()) for e in upstream.exchanges]
        in_flight = max(sum(1 for start, end in spans if start <= t < end) for t, _ in spans)
        assert in_flight <= CONCURRENCY, f"{in_flight} requests at once at the provider (max_concurrency {CONCURRENCY})"

        # ---------------------------------------------------------------- the clients
        problems = [o for o in outcomes if not o.ok and not (o.user == "carol" and o.status == 429)]
        assert not problems, [(o.user, o.status, o.error_type, o.message, o.problem) for o in problems[:5]]
        ok = [o for o in outcomes if o.ok]
        during_outage = [t for t in received if KILL_AT + 0.5 <= t <= RESTART_AT - 0.5]
        assert during_outage, f"nothing reached the provider while Redis was down: {[round(t, 2) for t in received]}"
        carol = [o for o in outcomes if o.user == "carol"]
        carol_ok = sorted(o.sent for o in carol if o.ok)
        carol_refused = [o for o in carol if o.status == 429]
        assert carol_refused and all(o.error_type == "rate_limit_error" and "carol" in o.message and o.retry_after
                                     for o in carol_refused)
        # Her limit holds across the three replicas (send times seen by the clients; 0.5 s for the way in).
        carol_up = [o.sent for o in carol if o.ok and not KILL_AT <= o.sent <= RESTART_AT + 2]
        assert max_in_window(carol_up, WINDOW - 0.5) <= CAROL_RPM, carol_ok

        # ---------------------------------------------------------------- a route she may not use
        async def refusals() -> list[Outcome]:
            async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
                intern = await one_request(client, urls[1], "intern", 1, t0)
                TOKENS["mallory"] = "fcc-mallory-" + os.urandom(12).hex()
                stranger = await one_request(client, urls[2], "mallory", 2, t0)
                return [intern, stranger]

        intern, stranger = asyncio.run(refusals())
        assert (intern.status, intern.error_type) == (403, "permission_error")
        assert intern.message == ("fcc: user 'intern' may not use the 'default' route (model 'claude-sonnet-4-5'); "
                                  "allowed routes: haiku")
        assert (stranger.status, stranger.error_type) == (403, "permission_error")
        assert "proxy token" in stranger.message

        # ---------------------------------------------------------------- usage in Redis
        import redis as redis_py

        store = redis_py.Redis.from_url(redis.url, decode_responses=True)
        want = {"requests": len(ok), "input_tokens": sum(o.tokens_in for o in ok),
                "output_tokens": sum(o.tokens_out for o in ok)}
        deadline = time.monotonic() + 15
        while True:
            got = {name: 0.0 for name in want} | {"cost_usd": 0.0}
            for key in store.scan_iter(match=f"{PREFIX}usage:all:day:*"):
                for name, value in store.hgetall(key).items():
                    got[name] = got.get(name, 0.0) + float(value)
            if all(got[name] == value for name, value in want.items()) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert {name: got[name] for name in want} == want
        assert got["cost_usd"] == pytest.approx((want["input_tokens"] * PRICE[0] + want["output_tokens"] * PRICE[1]) / 1e6)
        for name in ("alice", "bob", "carol"):
            mine = [o for o in ok if o.user == name]
            day = sum(float(store.hget(k, "requests") or 0) for k in store.scan_iter(match=f"{PREFIX}usage:user:{name}:day:*"))
            assert day == len(mine), name
        # The shared window resumed after the restart: it holds the replicas' recent stamps.
        assert store.exists(f"{PREFIX}window:provider:team") or time.monotonic() - t0 > 60
        redis_keys = " ".join(store.scan_iter(match="*"))
        store.close()

        # ---------------------------------------------------------------- metrics = clients
        final = [scrape(p) for p in metrics_ports]
        assert total(final, "fcc_requests_total", status="200") == len(ok)
        assert total(final, "fcc_requests_total", status="429", user="carol") == len(carol_refused)
        assert total(final, "fcc_requests_total", status="403") == 2
        assert total(final, "fcc_tokens_total", direction="in") == want["input_tokens"]
        assert total(final, "fcc_tokens_total", direction="out") == want["output_tokens"]
        assert total(final, "fcc_errors_total", type="rate_limit_error", user="carol") == len(carol_refused)
        assert 0 < total(mid_scrape, "fcc_requests_total", status="200") <= len(ok)  # scraped during the load
        assert total(final, "fcc_shared_state_up") == 3
        assert total(final, "fcc_replicas") == 9  # each replica sees all three

        # ---------------------------------------------------------------- one line each way per replica
        for replica in replicas:
            output = replica.output()
            assert output.count("unreachable") == 1, output[-3000:]
            assert output.count("is back;") == 1, output[-3000:]

        # ---------------------------------------------------------------- tokens are nowhere
        recorded = " ".join(p.read_text() for p in record_dir.rglob("*.yaml"))
        assert "user: alice" in recorded or "user: bob" in recorded or "user: carol" in recorded
        metrics_text = " ".join(httpx.get(f"http://127.0.0.1:{p}/metrics").text for p in metrics_ports)
        for name, token in TOKENS.items():
            secret_part = token.rsplit("-", 1)[1]
            for where, text in (("log", "".join(r.output() for r in replicas)), ("recording", recorded),
                                ("metrics", metrics_text), ("redis keys", redis_keys)):
                assert secret_part not in text, f"{name}'s token is in the {where}"
    finally:
        for replica in replicas:
            replica.stop()
        upstream.stop()
        redis.stop()
