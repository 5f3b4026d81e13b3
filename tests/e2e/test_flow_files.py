"""Saving flows: a routed session written with `mitmdump -w` reads back with
mitmproxy's own reader, both sides of every exchange, and no credential.

    client (x-api-key + bearer) -> mitmdump -w flows.mitm (fcc, record mode on) -> ScriptedUpstream
        1. streaming: a 500 that echoes the provider key, then the answer
        2. not streaming: the answer
    then  mitmdump -n -r flows.mitm -w again.mitm -s addon/fcc.py  (what `mitmproxy -r` does)

Before fcc kept its live objects out of `flow.metadata`, the save addon failed
on every routed flow ("unserializable object: Plan(...)", with the request body
in the log line) and wrote an empty file. Record mode is on because it keeps the
client's request, credentials included, for its own scrubbed files: that copy
must never reach a flow file either.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest
from mitmproxy import http
from mitmproxy.io import FlowReader

from tests.e2e.test_record_replay import hermetic, routes_file
from tests.support.procs import ADDON_SCRIPT, MitmdumpProcess, find_mitmdump, run_mitmdump
from tests.support.upstream import ScriptedUpstream
from tests.support.upstream_responses import openai_error, openai_text_stream

pytestmark = pytest.mark.e2e

PROVIDER_KEY = "sk-or-v1-" + "f10wf11e0000000000000000000000000c0ffee1"
CLIENT_BEARER = "sk-ant-" + "api03-client-bearer-NOT-IN-FLOW-FILES-0123"
CLIENT_API_KEY = "client-x-api-key-not-in-flow-files-77"
SECRETS = (PROVIDER_KEY, CLIENT_BEARER, CLIENT_API_KEY)
STREAMED = "Hello from a saved session."
WHOLE = "A whole answer."


def post(proxy: MitmdumpProcess, prompt: str, stream: bool) -> httpx.Response:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 64, "stream": stream,
            "messages": [{"role": "user", "content": prompt}]}
    headers = {"authorization": f"Bearer {CLIENT_BEARER}", "x-api-key": CLIENT_API_KEY, "anthropic-version": "2023-06-01"}
    with httpx.Client(trust_env=False, timeout=30) as client:
        return client.post(proxy.base_url + "/v1/messages?beta=true", json=body, headers=headers)


def read_flows(path: Path) -> list[http.HTTPFlow]:
    with path.open("rb") as file:
        flows = list(FlowReader(file).stream())
    assert all(isinstance(f, http.HTTPFlow) for f in flows)
    return flows  # type: ignore[return-value]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str, list[httpx.Response]]:
    work = tmp_path_factory.mktemp("flowfile")
    flow_file = work / "flows.mitm"
    with ScriptedUpstream() as upstream:
        upstream.script(
            openai_error(500, f"internal error for key {PROVIDER_KEY}", error_type="server_error"),
            openai_text_stream(STREAMED, delay=0.01),
            openai_text_stream(WHOLE),
        )
        routes = routes_file(work, upstream.url("/v1"))
        env = hermetic({"FCC_E2E_PROVIDER_KEY": PROVIDER_KEY})
        args = ["--set", f"fcc_config={routes}", "--set", f"fcc_record={work / 'recording'}", "-w", str(flow_file)]
        with run_mitmdump(args, env, workdir=work / "proc") as proxy:
            responses = [post(proxy, "Say hello.", stream=True), post(proxy, "Say it whole.", stream=False)]
            proxy.wait_for_output(r"(?s)(fcc: \w+ sonnet -> .*){2}", timeout=10)
        output = proxy.output()
        assert len(upstream.requests) == 3, output
        assert upstream.requests[0].header("authorization") == f"Bearer {PROVIDER_KEY}"  # the key really went upstream
    assert [r.status_code for r in responses] == [200, 200], output
    return flow_file, upstream.url("/v1/chat/completions"), output, responses


def test_saving_a_routed_session_logs_no_error(saved: tuple[Path, str, str, list[httpx.Response]]) -> None:
    flow_file, _, output, _ = saved
    assert "Addon error" not in output and "unserializable" not in output, output
    assert flow_file.stat().st_size > 0


def test_the_file_holds_both_sides_of_every_exchange(saved: tuple[Path, str, str, list[httpx.Response]]) -> None:
    flow_file, upstream_url, _, responses = saved
    flows = read_flows(flow_file)
    clients = [f for f in flows if "fcc_upstream_of" not in f.metadata]
    by_id = {f.id: f for f in flows}
    assert len(clients) == 2 and len(flows) == 5, [f.comment for f in flows]
    for client, answer in zip(clients, responses):
        # The URL the client used, not the engine's one-time sidecar URL.
        assert client.request.url == "https://api.anthropic.com/v1/messages?beta=true"
        # The client's body as it came, though the sidecar leg carried none (the plan travels by token).
        sent = json.loads(client.request.raw_content or b"{}")
        assert sent["model"] == "claude-sonnet-4-5" and sent["messages"][0]["content"].startswith("Say")
        assert client.request.headers["content-length"] == str(len(client.request.raw_content or b""))
        assert client.response is not None and client.response.raw_content == answer.content
        assert client.metadata["fcc_summary"]["served_by"] == "keyed/recorded-model"
        json.dumps(client.metadata)  # plain data only
    streamed, whole = clients
    assert client_text(streamed.response.raw_content) == STREAMED
    assert json.loads(whole.response.raw_content)["content"][0]["text"] == WHOLE

    upstream = [[by_id[i] for i in client.metadata["fcc_upstream_flows"]] for client in clients]
    assert [[u.response.status_code for u in side] for side in upstream] == [[500, 200], [200]]
    for client, side in zip(clients, upstream):
        for number, flow in enumerate(side, 1):
            assert flow.metadata["fcc_upstream_of"] == client.id
            assert flow.comment.startswith(f"fcc upstream of {client.id}: attempt {number}/{len(side)} keyed/recorded-model")
            assert flow.request.url == upstream_url
            assert json.loads(flow.request.content)["model"] == "recorded-model"  # the translated request
    assert b"[redacted]" in upstream[0][0].response.raw_content  # the provider echoed its key; fcc kept none
    assert b"data: [DONE]" in upstream[0][1].response.raw_content  # the provider's raw stream


def test_no_credential_anywhere_in_the_file(saved: tuple[Path, str, str, list[httpx.Response]]) -> None:
    data = saved[0].read_bytes()
    for secret in SECRETS:
        assert secret.encode() not in data
    assert b"/fcc/" not in data  # the sidecar's one-time URL path


def test_reading_the_file_back_through_fcc_keeps_every_flow_and_url(
    saved: tuple[Path, str, str, list[httpx.Response]], tmp_path: Path
) -> None:
    """`mitmproxy -r` runs the same reader and hooks; fcc must neither re-route a flow read from a file nor
    let reverse mode point the upstream side at api.anthropic.com."""
    flow_file = saved[0]
    again = tmp_path / "again.mitm"
    env = {k: v for k, v in os.environ.items() if k.upper() not in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")}
    for name, value in hermetic({"HOME": str(tmp_path)}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    done = subprocess.run(
        [find_mitmdump(), "-n", "-s", str(ADDON_SCRIPT), "-r", str(flow_file), "-w", str(again),
         "--set", f"confdir={tmp_path / 'confdir'}"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, stdin=subprocess.DEVNULL, env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Addon error" not in done.stdout + done.stderr
    before, after = read_flows(flow_file), read_flows(again)
    assert [(f.id, f.request.url, f.response.status_code) for f in after] == [
        (f.id, f.request.url, f.response.status_code) for f in before
    ]


def client_text(raw: bytes) -> str:
    text = ""
    for line in raw.decode().splitlines():
        if line.startswith("data: "):
            event = json.loads(line[6:])
            if event.get("type") == "content_block_delta":
                text += event["delta"].get("text", "")
    return text

