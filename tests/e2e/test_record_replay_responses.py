"""Record a Codex (Responses) session through a real mitmdump + fcc, replay it with the upstream gone.

The replayed stream must be the recorded one but for `created_at` (a clock reading): the
response id is the recorded one, and item ids derive from it. The client's bearer key must
appear in no recorded file, and the usage of the session is accounted like Claude Code's.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.procs import MitmdumpProcess, run_mitmdump
from tests.support.upstream import ScriptedUpstream, refused_port
from tests.support.upstream_responses import openai_text_stream, openai_tool_call_stream

pytestmark = pytest.mark.e2e

CLIENT_KEY = "sk-" + "codex-client-key-DO-NOT-RECORD-0123456789"
PROVIDER_KEY = "sk-or-v1-" + "c0dec0dec0dec0de0000000000000000feedbeef"
TOOLS = [{"type": "function", "name": "exec_command", "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}},
         {"type": "custom", "name": "apply_patch", "format": {"type": "grammar", "syntax": "lark", "definition": "start: x"}}]


def body(prompt: str) -> dict:
    return {"model": "gpt-5.5", "stream": True, "store": False, "tools": TOOLS, "input": [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "You are Codex."}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": prompt}]}]}


EXCHANGES = [body("Say hello."), body("Run echo hi."), body("Patch a file.")]


def routes_file(directory: Path, base_url: str) -> Path:
    routes = {"providers": {"keyed": {"transport": "openai_chat", "base_url": base_url, "api_key_env": "FCC_E2E_PROVIDER_KEY"}},
              "models": {"codex": "keyed/recorded-model"}}
    path = directory / "routes.yaml"
    path.write_text(yaml.safe_dump(routes))
    return path


def post(proxy: MitmdumpProcess, payload: dict) -> httpx.Response:
    with httpx.Client(trust_env=False, timeout=30) as client:
        return client.post(proxy.base_url + "/v1/responses", json=payload, headers={"authorization": f"Bearer {CLIENT_KEY}"})


def without_clock(text: str) -> str:
    return re.sub(r'"created_at": ?\d+', '"created_at": 0', text)


def test_a_codex_session_records_and_replays(tmp_path: Path) -> None:
    recording = tmp_path / "recordings" / "codex"
    env = {"FCC_CONFIG": None, "MODEL": None, "MODEL_CODEX": None, "FCC_E2E_PROVIDER_KEY": PROVIDER_KEY}
    with ScriptedUpstream() as upstream:
        upstream.script(
            openai_text_stream("Hello, Codex."),
            openai_tool_call_stream("exec_command", {"cmd": "echo hi"}, id="call_rec1", text_before="Running it."),
            openai_tool_call_stream("apply_patch", {"input": "*** Begin Patch\n*** End Patch\n"}, id="call_rec2"),
        )
        routes = routes_file(tmp_path, upstream.url("/v1"))
        args = ["--set", f"fcc_config={routes}", "--set", f"fcc_record={recording}"]
        with run_mitmdump(args, env, workdir=tmp_path / "record") as proxy:
            recorded = [post(proxy, payload) for payload in EXCHANGES]
            deadline = time.monotonic() + 10
            while len(list(recording.glob("0*.yaml"))) < len(EXCHANGES) and time.monotonic() < deadline:
                time.sleep(0.05)
        output = proxy.output()
    assert [r.status_code for r in recorded] == [200, 200, 200], output
    assert "fcc usage: keyed/recorded-model requests=3 in=33 out=21" in output
    files = sorted(recording.glob("0*.yaml"))
    assert len(files) == 3
    for path in recording.rglob("*"):
        if path.is_file():
            assert CLIENT_KEY.encode() not in path.read_bytes() and PROVIDER_KEY.encode() not in path.read_bytes(), path.name
    doc = yaml.safe_load(files[2].read_text())
    assert doc["client_request"]["path"] == "/v1/responses"
    assert '"custom_tool_call"' in doc["client_response"]["body"]["text"]

    dead = routes_file(tmp_path, f"http://127.0.0.1:{refused_port()}/v1")
    args = ["--set", f"fcc_config={dead}", "--set", f"fcc_replay={recording}", "--set", "fcc_replay_speed=fast"]
    with run_mitmdump(args, {**env, "FCC_E2E_PROVIDER_KEY": "replay-key"}, workdir=tmp_path / "replay") as proxy:
        replayed = [post(proxy, payload) for payload in EXCHANGES]
        output = proxy.output()
    for original, again in zip(recorded, replayed):
        assert again.status_code == 200, output
        assert without_clock(again.text) == without_clock(original.text), output
    events = [json.loads(line[6:]) for line in replayed[2].text.splitlines() if line.startswith("data: ")]
    [call] = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert (call["type"], call["name"], call["input"]) == ("custom_tool_call", "apply_patch", "*** Begin Patch\n*** End Patch\n")
