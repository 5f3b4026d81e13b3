"""Replay every recorded exchange in recordings/ through a real mitmdump + fcc.

One test per `recordings/<session>/NNNN-*.yaml` file, found by listing the
directory: a new recording is a new test. Each runs mitmdump with
`fcc_replay=<that file>` (fast, no network), sends the recorded client request
and checks that the answer

- is a valid Anthropic answer: a stream passes the strict event grammar and the
  official SDK's accumulator; a JSON body is a Message or an error envelope
  (a Codex exchange, `/v1/responses`: a Responses stream numbered from 0 that ends in
  a terminal event, or an OpenAI error body), and
- has the recorded status and is the recorded answer: byte-identical (replay reuses
  the recorded message id), or at least the same events adding up to the same
  message, so a deliberate change of wire details does not need a re-recording.
"""

from __future__ import annotations

import json
from pathlib import Path

import anthropic
import httpx
import pytest
import yaml

from fcc.core.catalog import CATALOG
from fcc.config import env_base_url_name
from fcc.core.events import MessageAccumulator
from fcc.record.recording import decode_body, load_document
from tests.protocol.test_stream_rules import check_grammar, parse_with_sdk, read_raw_events
from tests.support.procs import REPO_ROOT, MitmdumpProcess

pytestmark = pytest.mark.e2e

RECORDINGS = REPO_ROOT / "recordings"
_NOT_SENT = frozenset({"host", "content-length", "connection", "accept-encoding", "transfer-encoding", "authorization",
                       "x-api-key", "proxy-authorization", "cookie"})


def recording_files() -> list[Path]:
    return sorted(RECORDINGS.glob("*/[0-9][0-9][0-9][0-9]-*.yaml"))


def replay_env(routes: Path) -> dict[str, str | None]:
    """Hermetic: nothing from the shell may route or re-point fcc; every key variable a dummy."""
    env: dict[str, str | None] = {name: None for name in ("MODEL", "MODEL_OPUS", "MODEL_SONNET", "MODEL_HAIKU",
                                                           "MODEL_FALLBACKS", "FCC_CONFIG", "FCC_REASONING", "FCC_AUTH_TOKEN")}
    for pid, profile in CATALOG.items():
        env[env_base_url_name(pid)] = None
        if profile.api_key_env:
            env[profile.api_key_env] = "replay-dummy-key"
    if routes.is_file():
        for entry in ((yaml.safe_load(routes.read_text()) or {}).get("providers") or {}).values():
            if isinstance(entry, dict) and entry.get("api_key_env"):
                env[entry["api_key_env"]] = "replay-dummy-key"
    return env


def test_there_are_recordings() -> None:
    sessions = {path.parent.name for path in recording_files()}
    assert {"cli-tool-use", "cli-thinking", "cli-retry"} <= sessions, sessions


@pytest.mark.parametrize("path", recording_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_recorded_exchange_replays_to_a_valid_identical_answer(path: Path, mitmdump_factory) -> None:
    doc = load_document(path)
    assert path.stat().st_size < 200 * 1024, f"{path.name} is {path.stat().st_size} bytes; keep recordings small"
    if doc.get("handled") == "passthrough":
        pytest.skip("a pass-through exchange: fcc had no route, so there is nothing of fcc's to replay")
    routes = path.parent / "routes.yaml"
    proxy: MitmdumpProcess = mitmdump_factory(
        args=["--set", f"fcc_replay={path}", "--set", "fcc_replay_speed=fast"], env=replay_env(routes)
    )
    request = doc["client_request"]
    headers = {k: v for k, v in (request.get("headers") or {}).items() if k.lower() not in _NOT_SENT}
    headers["authorization"] = "Bearer replay-client"
    with httpx.Client(trust_env=False, timeout=60) as client:
        answer = client.request(request["method"], proxy.base_url + request["path"], headers=headers,
                                content=decode_body(request.get("body")))
    recorded = doc["client_response"]
    output = proxy.output()
    assert answer.status_code == recorded["status"], output
    if request["path"].split("?", 1)[0].endswith("/responses"):
        check_valid_responses_answer(answer)
    else:
        check_valid_anthropic_answer(answer)
    expected = decode_body(recorded["body"])
    if answer.content != expected:
        # Bytes may legitimately change with the translator (field order, an extra field);
        # what the client ends up with may not. Re-record when the change is intended.
        assert meaning(answer.content) == meaning(expected), (
            f"the replay of {path.name} no longer adds up to the recorded answer; if the change is intended, "
            f"re-record: python recordings/make_cli_sessions.py {path.parent.name}\n{output[-3000:]}"
        )


def meaning(body: bytes) -> object:
    """What a client makes of an answer: the event sequence and the accumulated message, or the JSON."""
    if body.startswith(b"event: response."):
        events = [json.loads(line[6:]) for line in body.decode().splitlines() if line.startswith("data: ")]
        final = dict(events[-1].get("response") or {})
        final.pop("created_at", None)  # a clock reading
        return [e["type"] for e in events], final
    if body.startswith(b"event:"):
        events = [e for e in read_raw_events(body) if e.name != "ping"]
        accumulator = MessageAccumulator()
        accumulator.add([e.data for e in events])
        return [e.name for e in events], accumulator.message, accumulator.error
    return json.loads(body)


def check_valid_anthropic_answer(answer: httpx.Response) -> None:
    content_type = answer.headers.get("content-type", "")
    if content_type.startswith("text/event-stream"):
        check_grammar(read_raw_events(answer.content))
        outcome = parse_with_sdk(answer.content)
        if outcome.error is None:
            assert outcome.message is not None and outcome.message.stop_reason is not None
        else:  # a stream that ends in `event: error`: the SDK must read it as an Anthropic error
            assert isinstance(outcome.error, anthropic.APIStatusError)
            assert read_raw_events(answer.content)[-1].name == "error"
        return
    assert content_type.startswith("application/json"), content_type
    body = answer.json()
    if answer.status_code == 200 and body.get("type") == "message":
        message = anthropic.types.Message.model_validate(body)
        assert message.stop_reason is not None and message.content
    else:
        assert body["type"] == "error" and body["error"]["type"] and body["error"]["message"], body


def check_valid_responses_answer(answer: httpx.Response) -> None:
    """What Codex needs (../shared/research/codex-client.md): numbered events, items done, one terminal event."""
    if not answer.headers.get("content-type", "").startswith("text/event-stream"):
        assert set(answer.json()["error"]) >= {"message", "type", "code"}
        return
    events = [json.loads(line[6:]) for line in answer.text.splitlines() if line.startswith("data: ")]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[0]["type"] == "response.created"
    assert events[-1]["type"] in ("response.completed", "response.failed", "response.incomplete")
    if events[-1]["type"] == "response.completed":
        done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
        assert done and events[-1]["response"]["output"] == done
        usage = events[-1]["response"]["usage"]
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
