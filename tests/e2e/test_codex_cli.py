"""The real Codex CLI 0.171.0, headless (`codex exec`), through fcc, against scripted providers.

    codex exec "run the command"          (config.toml: provider fcc, wire_api responses)
        -> POST /v1/responses -> mitmdump -s addon/fcc.py
        -> ScriptedUpstream: 1) a tool call that prints a token  2) a final text with a marker

Codex really runs the command, so the token can reach the provider's second request only
through the whole loop: chat tool call -> Responses function_call / custom_tool_call (fcc)
-> Codex runs it -> function_call_output -> `role: tool` message (fcc). All three request
profiles of ../shared/research/codex-client.md: no model (lite, code-mode `exec` custom tool), a
catalog model (gpt-5.5: function exec_command, custom apply_patch), a provider model name
(fallback metadata, namespace tools). And an Anthropic-native provider.

The binary (npm `@openai/codex@0.171.0`) is found via FCC_CODEX_BIN, then `<repo>/.fcc-tools`
(where .ci/run installs it), then PATH. Without it these tests skip locally, fail under CI.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.codex_cli import CODEX_TIMEOUT_SECONDS, CODEX_VERSION, CodexRun, find_codex, run_codex
from tests.support.procs import REPO_ROOT, MitmdumpProcess
from tests.support.upstream import ScriptedUpstream
from tests.support.upstream_responses import Stream, openai_error, openai_text_stream, openai_tool_call_stream, sse_event

pytestmark = [pytest.mark.e2e, pytest.mark.cli]

UPSTREAM_MODEL = "scripted-coder"
EXTRA_TEXT = "Extra request answered by the scripted upstream's default."


@pytest.fixture(scope="module")
def codex_bin() -> str:
    binary, detail = find_codex()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {detail}", pytrace=False)
        pytest.skip(detail)
    if CODEX_VERSION not in detail:
        print(f"note: {binary} is {detail!r}; these tests were written against {CODEX_VERSION}")
    return binary


@dataclass
class Rig:
    upstream: ScriptedUpstream
    proxy: MitmdumpProcess
    codex: Callable[[str | None, str], CodexRun]
    runs: list[CodexRun]


def _rig(codex_bin: str, factory: Callable[..., MitmdumpProcess], tmp_path: Path, env: dict[str, str],
         upstream: ScriptedUpstream) -> Rig:
    routes = tmp_path / "routes.yaml"
    routes.write_text("{}\n")
    proxy = factory(env={**env, "FCC_CONFIG": str(routes)})
    proxy.wait_for_output("fcc addon active", timeout=15)
    runs: list[CodexRun] = []

    def codex(model: str | None, prompt: str) -> CodexRun:
        run = run_codex(codex_bin, proxy.base_url, tmp_path / f"codex-{len(runs)}", model, prompt)
        runs.append(run)
        return run

    return Rig(upstream, proxy, codex, runs)


@pytest.fixture
def chat_rig(codex_bin: str, mitmdump_factory: Callable[..., MitmdumpProcess], tmp_path: Path) -> Iterator[Rig]:
    with ScriptedUpstream(default=openai_text_stream(EXTRA_TEXT, model=UPSTREAM_MODEL)) as upstream:
        rig = _rig(codex_bin, mitmdump_factory, tmp_path,
                   {"MODEL_CODEX": f"vllm/{UPSTREAM_MODEL}", "VLLM_BASE_URL": upstream.url("/v1")}, upstream)
        yield rig
        _dump(rig)


def _dump(rig: Rig) -> None:
    print("\n===== upstream requests =====")
    for index, recorded in enumerate(rig.upstream.requests):
        body = recorded.json_body
        if isinstance(body, dict):
            body = {**body, "tools": [t.get("function", {}).get("name") or t.get("name") for t in body.get("tools") or []]}
        print(f"--- #{index} {recorded.method} {recorded.path}\n{json.dumps(body)[-6000:]}")
    print("\n===== mitmdump output =====\n" + rig.proxy.output()[-15000:])
    for run in rig.runs:
        print(f"\n===== {run.command} exit={run.returncode} in {run.seconds:.1f}s =====")
        print("--- stdout ---\n" + run.stdout[-15000:] + "\n--- stderr ---\n" + run.stderr[-15000:])


# ------------------------------------------------------------- checks ---


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def chat_tool_result(upstream: ScriptedUpstream, call_id: str) -> tuple[dict, dict]:
    """(assistant tool_calls entry, the `role: tool` message answering it) from the provider's requests."""
    for recorded in upstream.requests:
        assert recorded.path.split("?")[0] == "/v1/chat/completions", recorded.path
        messages = (recorded.json_body or {}).get("messages", [])
        for index, message in enumerate(messages):
            if message.get("role") == "tool" and message.get("tool_call_id") == call_id:
                calls = [c for m in messages[:index] if m.get("role") == "assistant" for c in m.get("tool_calls") or []
                         if c.get("id") == call_id]
                assert calls, f"tool message {call_id} has no assistant call before it"
                return calls[-1], message
    raise AssertionError(f"no provider request carried the result of {call_id}")


def assert_first_request(body: dict, *expected_tools: str) -> None:
    assert body["model"] == UPSTREAM_MODEL
    assert body["stream"] is True
    messages = body["messages"]
    assert messages[0]["role"] == "system" and "Codex" in _text(messages[0]["content"])
    assert messages[-1]["role"] == "user" and "run the command" in _text(messages[-1]["content"])
    names = {tool["function"]["name"] for tool in body.get("tools") or []}
    for name in expected_tools:
        assert name in names, sorted(names)
    assert not {"web_search", "tool_search"} & names  # hosted tools a provider cannot run


def assert_codex_finished(run: CodexRun, marker: str, token: str) -> None:
    assert run.returncode == 0, f"codex exited {run.returncode}"
    assert marker in run.last_message, run.last_message
    commands = [e for e in run.events if e.get("type") == "item.completed" and (e.get("item") or {}).get("type") == "command_execution"]
    if commands:  # the code-mode profile runs its command inside `exec`, which --json reports differently
        assert any(token in json.dumps(e) for e in commands), commands


PROFILES = {
    # profile id: (model in config.toml, tool the provider calls, arguments builder)
    "catalog-gpt-5.5": ("gpt-5.5", "exec_command", lambda token: {"cmd": f"echo {token}"}),
    "provider-model-name": (UPSTREAM_MODEL, "exec_command", lambda token: {"cmd": f"echo {token}"}),
    "default-lite-code-mode": (None, "exec", lambda token: {
        "input": f'const r = await tools.exec_command({{cmd: "echo {token}"}});\ntext(typeof r === "string" ? r : JSON.stringify(r));\n'}),
}


@pytest.mark.parametrize("profile", list(PROFILES))
def test_codex_runs_a_command_through_a_chat_provider(chat_rig: Rig, profile: str) -> None:
    model, tool, arguments = PROFILES[profile]
    token = f"fcctok{secrets.token_hex(6)}"
    marker = f"FCCDONE{secrets.token_hex(5)}"
    call_id = f"call_{secrets.token_hex(10)}"
    chat_rig.upstream.script(
        openai_tool_call_stream(tool, arguments(token), id=call_id, model=UPSTREAM_MODEL),
        openai_text_stream(f"The command printed the token. {marker}", model=UPSTREAM_MODEL),
    )

    run = chat_rig.codex(model, "run the command")

    assert_codex_finished(run, marker, token)
    first = chat_rig.upstream.requests[0].json_body
    assert_first_request(first, tool)
    call, result = chat_tool_result(chat_rig.upstream, call_id)
    assert call["function"]["name"] == tool
    assert json.loads(call["function"]["arguments"]) == arguments(token)
    assert token in _text(result["content"]), result
    assert chat_rig.upstream.errors == []


# ------------------------------------------------------ Anthropic-native ---


def anthropic_tool_use_stream(name: str, arguments: dict, tool_id: str) -> Stream:
    usage = {"input_tokens": 30, "output_tokens": 1, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 4}
    message = {"id": "msg_native1", "type": "message", "role": "assistant", "model": "native-model", "content": [],
               "stop_reason": None, "stop_sequence": None, "usage": usage}
    encoded = json.dumps(arguments)
    return Stream([
        sse_event("message_start", {"type": "message_start", "message": message}),
        sse_event("content_block_start", {"type": "content_block_start", "index": 0,
                                          "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
        sse_event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                          "delta": {"type": "thinking_delta", "thinking": "I will run echo."}}),
        sse_event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                          "delta": {"type": "signature_delta", "signature": "native-signature-abc"}}),
        sse_event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        sse_event("content_block_start", {"type": "content_block_start", "index": 1,
                                          "content_block": {"type": "tool_use", "id": tool_id, "name": name, "input": {}}}),
        sse_event("content_block_delta", {"type": "content_block_delta", "index": 1,
                                          "delta": {"type": "input_json_delta", "partial_json": encoded}}),
        sse_event("content_block_stop", {"type": "content_block_stop", "index": 1}),
        sse_event("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                                    "usage": {"output_tokens": 12}}),
        sse_event("message_stop", {"type": "message_stop"}),
    ])


def anthropic_text(text: str) -> Stream:
    from tests.support.upstream_responses import anthropic_text_stream

    return anthropic_text_stream(text, model="native-model")


@pytest.mark.parametrize("profile", list(PROFILES))
def test_codex_through_an_anthropic_native_provider(codex_bin: str, mitmdump_factory: Callable[..., MitmdumpProcess],
                                                    tmp_path: Path, profile: str) -> None:
    model, tool, arguments = PROFILES[profile]
    token = f"fcctok{secrets.token_hex(6)}"
    marker = f"FCCDONE{secrets.token_hex(5)}"
    tool_id = f"toolu_{secrets.token_hex(10)}"
    routes_dir = tmp_path / "native"
    routes_dir.mkdir()
    with ScriptedUpstream(default=anthropic_text(EXTRA_TEXT)) as upstream:
        upstream.script(anthropic_tool_use_stream(tool, arguments(token), tool_id),
                        anthropic_text(f"Done. {marker}"))
        routes = routes_dir / "routes.yaml"
        routes.write_text(
            "providers:\n  native:\n    transport: anthropic_messages\n"
            f"    base_url: {upstream.base_url}\n"
            "models:\n  codex: native/native-model\n"
        )
        proxy = mitmdump_factory(env={"FCC_CONFIG": str(routes)})
        proxy.wait_for_output("fcc addon active", timeout=15)
        rig = Rig(upstream, proxy, lambda *_: None, [])  # type: ignore[arg-type]
        try:
            run = run_codex(codex_bin, proxy.base_url, tmp_path / "codex", model, "run the command")
            rig.runs.append(run)
            assert_codex_finished(run, marker, token)
            bodies = [r.json_body for r in upstream.requests]
            assert all(r.path.startswith("/v1/messages") for r in upstream.requests)
            first = bodies[0]
            assert first["model"] == "native-model" and isinstance(first["max_tokens"], int)
            assert "Codex" in json.dumps(first.get("system"))
            assert tool in {t["name"] for t in first["tools"]}
            followups = [b for b in bodies[1:] if any(
                isinstance(m.get("content"), list) and any(blk.get("type") == "tool_result" and blk.get("tool_use_id") == tool_id
                                                           for blk in m["content"]) for m in b["messages"])]
            assert followups, "the tool result never reached the provider"
            messages = followups[0]["messages"]
            [result] = [blk for m in messages if isinstance(m.get("content"), list) for blk in m["content"]
                        if blk.get("type") == "tool_result" and blk.get("tool_use_id") == tool_id]
            assert token in json.dumps(result["content"])
            # The thinking signature came back from Codex (via encrypted_content) exactly as the provider sent it.
            thinking = [blk for m in messages if m["role"] == "assistant" for blk in m["content"] if blk.get("type") == "thinking"]
            assert thinking and thinking[0]["signature"] == "native-signature-abc", thinking
            assert upstream.errors == []
        finally:
            _dump(rig)


def test_fcc_codex_launches_codex_wired_to_fcc(chat_rig: Rig, codex_bin: str, tmp_path: Path) -> None:
    """`fcc codex exec ...` with an empty CODEX_HOME: the -c overrides alone reach fcc, no login."""
    import sys

    token = f"fcctok{secrets.token_hex(6)}"
    marker = f"FCCDONE{secrets.token_hex(5)}"
    call_id = f"call_{secrets.token_hex(10)}"
    chat_rig.upstream.script(
        openai_tool_call_stream("exec_command", {"cmd": f"echo {token}"}, id=call_id, model=UPSTREAM_MODEL),
        openai_text_stream(f"Printed it. {marker}", model=UPSTREAM_MODEL),
    )
    home = tmp_path / "fcc-codex-home"
    (home / ".codex").mkdir(parents=True)
    project = tmp_path / "fcc-codex-project"
    project.mkdir()
    env = {name: os.environ[name] for name in ("PATH", "LANG", "TMPDIR") if name in os.environ}
    env.update(HOME=str(home), CODEX_HOME=str(home / ".codex"), TERM="dumb", FCC_URL=chat_rig.proxy.base_url,
               FCC_CODEX_BIN=codex_bin, PYTHONPATH=str(REPO_ROOT / "addon"), NO_PROXY="127.0.0.1")
    out_file = tmp_path / "fcc-codex-last.txt"
    done = subprocess.run(
        [sys.executable, "-m", "fcc.cli", "codex", "exec", "--skip-git-repo-check", "--json", "-o", str(out_file),
         "--dangerously-bypass-approvals-and-sandbox", "-m", "gpt-5.5", "run the command"],
        cwd=project, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=CODEX_TIMEOUT_SECONDS)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert marker in out_file.read_text()
    _, result = chat_tool_result(chat_rig.upstream, call_id)
    assert token in _text(result["content"])
    assert chat_rig.upstream.requests[0].header("authorization") is None  # vllm is keyless; the Codex key stays home


def test_a_provider_refusal_reaches_codex_as_its_message_without_a_retry_storm(chat_rig: Rig) -> None:
    """A request the provider cannot serve: Codex shows the provider's words and stops (HTTP 400)."""
    refusal = f"model scripted-coder does not support this request {secrets.token_hex(4)}"
    chat_rig.upstream.default = openai_error(400, refusal)
    run = chat_rig.codex("gpt-5.5", "run the command")
    assert run.returncode != 0
    assert refusal in run.stdout + run.stderr
    assert len(chat_rig.upstream.requests) == 1, "a 400 must not be retried by fcc or by Codex"


def test_a_stream_cut_after_content_is_reported_as_a_failed_turn(chat_rig: Rig) -> None:
    """The provider dies mid-answer: Codex gets response.failed with fcc's message, not a silent end."""
    from tests.support.upstream_responses import CutMidStream

    chat_rig.upstream.default = CutMidStream(openai_text_stream(["Partial ", "answer ", "that ", "never ", "ends"]), after_chunks=3)
    run = chat_rig.codex("gpt-5.5", "say something")
    assert run.returncode != 0
    assert "stream closed before response.completed" not in run.stdout, "the failure must carry fcc's message"
    assert "connection lost mid-stream" in run.stdout + run.stderr or "ended before" in run.stdout + run.stderr


def test_codex_is_served_by_the_fallback_when_the_primary_is_rate_limited(
    codex_bin: str, mitmdump_factory: Callable[..., MitmdumpProcess], tmp_path: Path
) -> None:
    """Same engine as Claude Code: a 429 before commit moves to the fallback, and Codex never sees it."""
    marker = f"FCCDONE{secrets.token_hex(5)}"
    with ScriptedUpstream(default=openai_error(429, "Rate limit reached", retry_after=30)) as primary, \
            ScriptedUpstream(default=openai_text_stream(f"From the fallback. {marker}", model="backup")) as backup:
        routes = tmp_path / "routes.yaml"
        routes.write_text(
            "providers:\n"
            f"  primary: {{like: vllm, base_url: '{primary.url('/v1')}'}}\n"
            f"  backup: {{like: vllm, base_url: '{backup.url('/v1')}'}}\n"
            "models:\n  codex: {model: primary/main-model, fallbacks: [backup/backup-model]}\n"
        )
        proxy = mitmdump_factory(env={"FCC_CONFIG": str(routes), "MODEL": None, "MODEL_CODEX": None})
        proxy.wait_for_output("fcc addon active", timeout=15)
        rig = Rig(backup, proxy, lambda *_: None, [])  # type: ignore[arg-type]
        try:
            run = run_codex(codex_bin, proxy.base_url, tmp_path / "codex", "gpt-5.5", "say something")
            rig.runs.append(run)
            assert run.returncode == 0 and marker in run.last_message
            assert len(primary.requests) >= 1 and backup.requests[0].json_body["model"] == "backup-model"
            assert not any(e.get("type") == "error" for e in run.events), "Codex saw the primary's 429"
        finally:
            _dump(rig)


def test_a_slow_provider_gets_codex_an_early_stream_with_keepalives(chat_rig: Rig) -> None:
    """The provider thinks for 16 s before its first byte: Codex hears response.created after a few
    seconds and in_progress keepalives after that, and still takes the answer as one turn."""
    from tests.support.upstream_responses import SlowFirstByte

    marker = f"FCCDONE{secrets.token_hex(5)}"
    chat_rig.upstream.script(SlowFirstByte(16.0, openai_text_stream(f"Finally. {marker}", model=UPSTREAM_MODEL)))
    run = chat_rig.codex("gpt-5.5", "say something")
    assert run.returncode == 0 and marker in run.last_message
    assert len(chat_rig.upstream.requests) == 1, "Codex did not give up and retry while fcc kept the stream alive"
    assert not any(e.get("type") == "error" for e in run.events)


def test_context_overflow_reaches_codex_as_context_window_exceeded(chat_rig: Rig) -> None:
    """A provider's context-length 400 becomes response.failed context_length_exceeded, which Codex
    knows (its own context-window message, and compaction in longer sessions), not a generic error."""
    chat_rig.upstream.default = openai_error(
        400, "This model's maximum context length is 8192 tokens. However, your messages resulted in 30000 tokens.")
    run = chat_rig.codex("gpt-5.5", "say something")
    assert run.returncode != 0
    failed = [e for e in run.events if e.get("type") == "turn.failed"]
    assert failed and "context window" in failed[0]["error"]["message"], run.events
    assert len(chat_rig.upstream.requests) == 1
