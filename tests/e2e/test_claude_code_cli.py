"""The real Claude Code CLI, headless, through fcc, against a scripted OpenAI-style upstream.

    claude -p ... --allowedTools "Bash(echo *)"
        -> mitmdump -s addon/fcc.py   (MODEL=vllm/<model>, VLLM_BASE_URL=<scripted upstream>)
        -> ScriptedUpstream: 1) a Bash tool call `echo <token>`  2) a text answer with a marker

The CLI really runs the tool, so the token can only reach the upstream's second
request through the whole loop: OpenAI tool call -> Anthropic tool_use (fcc) ->
Bash (CLI) -> Anthropic tool_result -> OpenAI `role: tool` message (fcc).

The CLI binary (npm `@anthropic-ai/claude-code@2.1.330`, a native ELF) is found via
FCC_CLAUDE_BIN, then `<repo>/.fcc-tools` (where .ci/run installs it), then PATH.
Without it these tests skip locally and fail under CI (env CI set).
Recipe and request shapes: ../shared/research/claude-code-client.md sections 1, 2 and 4.5.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.procs import REPO_ROOT, MitmdumpProcess
from tests.support.upstream import RecordedRequest, ScriptedUpstream
from tests.support.upstream_responses import (
    SSE_DONE,
    CutMidStream,
    Stream,
    openai_chunk,
    openai_text_stream,
    openai_tool_call_stream,
    openai_usage_chunk,
    sse_data,
)

pytestmark = [pytest.mark.e2e, pytest.mark.cli]

CLI_VERSION = "2.1.330"
CLI_TIMEOUT_SECONDS = 120
UPSTREAM_MODEL = "any-model"
EXTRA_REQUEST_TEXT = "Extra request answered by the scripted upstream's default."
_TOOLS_DIR = REPO_ROOT / ".fcc-tools" / "node_modules"
# The package's bin is bin/claude.exe, which its postinstall overwrites with the native
# binary; npm 11 may skip that postinstall, and the binary also ships in the optional
# platform package (claude-code-linux-x64 here).


def _claude_candidates() -> list[Path]:
    return [_TOOLS_DIR / ".bin" / "claude", *sorted((_TOOLS_DIR / "@anthropic-ai").glob("claude-code-*/claude"))]


# --------------------------------------------------------------- the CLI ---


def _version_of(binary: str) -> tuple[str | None, str]:
    """(first line of `--version`, or None when the binary does not run; diagnostics)."""
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as error:
        return None, f"{binary}: {error}"
    if done.returncode != 0 or not done.stdout.strip():
        return None, f"{binary} --version exited {done.returncode}: {(done.stdout + done.stderr).strip()[:300]}"
    return done.stdout.strip().splitlines()[0], ""


def find_claude_cli() -> tuple[str | None, str]:
    """(path of a Claude Code binary that runs, or None; why not / which were tried)."""
    tried: list[str] = []
    explicit = os.environ.get("FCC_CLAUDE_BIN")
    if explicit:
        version, problem = _version_of(explicit)
        if version is None:
            return None, f"FCC_CLAUDE_BIN={explicit} does not run ({problem})"
        return explicit, version
    on_path = shutil.which("claude")
    for candidate in [str(path) for path in _claude_candidates()] + ([on_path] if on_path else []):
        if not os.path.exists(candidate):
            tried.append(f"{candidate}: missing")
            continue
        version, problem = _version_of(candidate)
        if version is not None:
            return candidate, version
        tried.append(problem)
    return None, "no Claude Code CLI found (set FCC_CLAUDE_BIN, or run .ci/run to install it into .fcc-tools): " + "; ".join(tried)


@pytest.fixture(scope="module")
def claude_bin() -> str:
    binary, detail = find_claude_cli()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {detail}", pytrace=False)
        pytest.skip(detail)
    if CLI_VERSION not in detail:
        print(f"note: {binary} is {detail!r}, these tests were written against {CLI_VERSION}")
    return binary


@dataclass
class CliRun:
    command: list[str]
    returncode: int | None  # None: killed after the timeout
    stdout: str
    stderr: str
    seconds: float


def run_claude(
    binary: str, base_url: str, workdir: Path, prompt: str, *extra_args: str, env_changes: dict[str, str | None] | None = None
) -> CliRun:
    """The headless recipe: fresh HOME and project dir, quiet flags, no stdin, a hard timeout.
    `env_changes` sets variables (None removes one)."""
    home = workdir / "home"
    project = workdir / "project"
    home.mkdir(parents=True)
    project.mkdir(parents=True)
    keep = ("PATH", "LANG", "LC_ALL", "TMPDIR", "TERM")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update(
        HOME=str(home),
        ANTHROPIC_BASE_URL=base_url,
        ANTHROPIC_AUTH_TOKEN="dummy",
        DISABLE_TELEMETRY="1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_AUTOUPDATER="1",
        DISABLE_ERROR_REPORTING="1",
        CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL="1",
    )
    for name, value in (env_changes or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    command = [binary, "-p", prompt, *extra_args]
    started = time.monotonic()
    try:
        done = subprocess.run(
            command, cwd=project, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=CLI_TIMEOUT_SECONDS
        )
        returncode, stdout, stderr = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as timeout:
        returncode = None
        stdout = _text(timeout.stdout)
        stderr = _text(timeout.stderr) + f"\n[killed after {CLI_TIMEOUT_SECONDS}s]"
    return CliRun(command, returncode, stdout, stderr, time.monotonic() - started)


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", "replace")


# --------------------------------------------------------- the plumbing ---


@dataclass
class Rig:
    upstream: ScriptedUpstream
    proxy: MitmdumpProcess
    claude: Callable[..., CliRun]
    runs: list[CliRun]


@pytest.fixture
def rig(claude_bin: str, mitmdump_factory: Callable[..., MitmdumpProcess], tmp_path: Path) -> Iterator[Rig]:
    """Scripted upstream + fcc routed to it + a way to run the CLI; prints every side on failure."""
    routes = tmp_path / "routes.yaml"
    routes.write_text("{}\n")  # isolate from any routes.yaml in the checkout: environment only
    with ScriptedUpstream(default=openai_text_stream(EXTRA_REQUEST_TEXT, model=UPSTREAM_MODEL)) as upstream:
        proxy = mitmdump_factory(
            env={"MODEL": f"vllm/{UPSTREAM_MODEL}", "VLLM_BASE_URL": upstream.url("/v1"), "FCC_CONFIG": str(routes)}
        )
        runs: list[CliRun] = []

        def claude(prompt: str, *args: str) -> CliRun:
            run = run_claude(claude_bin, proxy.base_url, tmp_path / f"cli-{len(runs)}", prompt, *args)
            runs.append(run)
            return run

        yield Rig(upstream, proxy, claude, runs)
        # pytest shows captured teardown output only when the test failed.
        _dump(upstream, proxy, runs)


def _dump(upstream: ScriptedUpstream, proxy: MitmdumpProcess, runs: list[CliRun]) -> None:
    print("\n===== upstream requests =====")
    for index, recorded in enumerate(upstream.requests):
        print(f"--- #{index} {recorded.method} {recorded.path}")
        print(_summarise(recorded.json_body) if recorded.json_body is not None else recorded.body[:2000])
    print(f"upstream errors: {upstream.errors!r}")
    print("\n===== mitmdump output =====")
    print(proxy.output()[-20000:])
    for run in runs:
        print(f"\n===== CLI {run.command} exit={run.returncode} in {run.seconds:.1f}s =====")
        print("--- stdout ---\n" + run.stdout[-20000:])
        print("--- stderr ---\n" + run.stderr[-20000:])


def _summarise(body: Any) -> str:
    """The request minus the bulky tool schemas and system prompt."""
    if not isinstance(body, dict):
        return repr(body)[:2000]
    short = dict(body)
    if isinstance(short.get("tools"), list):
        short["tools"] = [tool.get("function", {}).get("name", "?") for tool in short["tools"] if isinstance(tool, dict)]
    if isinstance(short.get("messages"), list):
        short["messages"] = [
            {**message, "content": _clip(message.get("content"))} if isinstance(message, dict) else message for message in short["messages"]
        ]
    return json.dumps(short, indent=1)[:8000]


def _clip(content: Any) -> Any:
    if content is None:
        return None
    text = content if isinstance(content, str) else json.dumps(content)
    return text if len(text) < 300 else text[:150] + f" ...[{len(text)} chars]... " + text[-150:]


# ------------------------------------------------------------- checkers ---


def _content_text(content: Any) -> str:
    """OpenAI message content as text: a string or a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _keys_anywhere(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from _keys_anywhere(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _keys_anywhere(inner)


def _chat_bodies(upstream: ScriptedUpstream) -> list[dict[str, Any]]:
    requests = upstream.requests
    assert requests, "the upstream received no request"
    for recorded in requests:
        assert (recorded.method, recorded.path.split("?")[0]) == ("POST", "/v1/chat/completions"), _where(recorded)
        assert isinstance(recorded.json_body, dict), _where(recorded)
    return [recorded.json_body for recorded in requests]


def _where(recorded: RecordedRequest) -> str:
    return f"{recorded.method} {recorded.path}: {recorded.body[:300]!r}"


def assert_translated_first_request(body: dict[str, Any]) -> None:
    assert body["model"] == UPSTREAM_MODEL
    assert body.get("stream") is True
    messages = body["messages"]
    system = [message for message in messages if message.get("role") == "system"]
    assert system, "the Claude Code system prompt was not sent as a system message"
    system_text = "\n".join(_content_text(message.get("content")) for message in system)
    assert "Claude" in system_text  # the real prompt, not an empty shell
    assert "x-anthropic-billing-header" not in json.dumps(body)
    assert messages[-1]["role"] == "user"
    assert "run the command" in _content_text(messages[-1]["content"])
    tools = body.get("tools")
    assert isinstance(tools, list) and tools, "no tools were sent"
    for tool in tools:
        assert tool["type"] == "function", tool
        assert isinstance(tool["function"]["name"], str) and tool["function"]["name"]
        assert isinstance(tool["function"].get("parameters"), dict), tool["function"]["name"]
    names = {tool["function"]["name"] for tool in tools}
    assert "Bash" in names, sorted(names)
    assert "$schema" not in set(_keys_anywhere([tool["function"]["parameters"] for tool in tools]))


def find_tool_result(bodies: list[dict[str, Any]], call_id: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(request, assistant message with the call, `role: tool` message answering it)."""
    for body in bodies:
        messages = body.get("messages", [])
        for index, message in enumerate(messages):
            if message.get("role") == "tool" and message.get("tool_call_id") == call_id:
                callers = [
                    earlier
                    for earlier in messages[:index]
                    if earlier.get("role") == "assistant" and any(call.get("id") == call_id for call in earlier.get("tool_calls") or [])
                ]
                assert callers, f"tool message {call_id} has no assistant tool_calls entry before it"
                return body, callers[-1], message
    raise AssertionError(f"no upstream request carried a `role: tool` message with tool_call_id={call_id!r}")


def bash_call(token: str) -> dict[str, str]:
    # Bash's input schema in 2.1.330: command (required), description, timeout, run_in_background, ...
    return {"command": f"echo {token}", "description": "print token"}


# ---------------------------------------------------------------- tests ---


def test_bash_tool_round_trip_through_fcc(rig: Rig) -> None:
    token = f"fcctok{secrets.token_hex(8)}"
    marker = f"FCCDONE{secrets.token_hex(6)}"
    call_id = f"call_{secrets.token_hex(12)}"
    rig.upstream.script(
        openai_tool_call_stream("Bash", bash_call(token), id=call_id, model=UPSTREAM_MODEL),
        openai_text_stream(f"The command printed the token. {marker}", model=UPSTREAM_MODEL),
    )

    run = rig.claude("run the command", "--output-format", "json", "--allowedTools", "Bash(echo *)")

    assert run.returncode == 0, f"claude exited {run.returncode}"
    bodies = _chat_bodies(rig.upstream)
    assert_translated_first_request(bodies[0])

    followup, assistant, tool_message = find_tool_result(bodies, call_id)
    assert followup["model"] == UPSTREAM_MODEL
    assert token in _content_text(tool_message["content"]), "the Bash output did not come back as the tool result"
    [call] = [call for call in assistant["tool_calls"] if call["id"] == call_id]
    assert call["type"] == "function"
    assert call["function"]["name"] == "Bash"
    assert json.loads(call["function"]["arguments"]) == bash_call(token)

    result = json.loads(run.stdout)
    assert result["type"] == "result"
    assert result["is_error"] is False, result
    assert marker in result["result"]
    assert result.get("num_turns", 2) >= 2
    assert rig.upstream.errors == []


def _reasoning_then_tool_call(reasoning: str, name: str, arguments: dict[str, Any], call_id: str) -> Stream:
    """vLLM/DeepSeek shape: `reasoning_content` deltas, then one tool call, finish_reason tool_calls."""
    encoded = json.dumps(arguments, separators=(",", ":"))
    frames = [openai_chunk({"role": "assistant", "content": ""}, model=UPSTREAM_MODEL)]
    frames += [openai_chunk({"reasoning_content": piece, "content": None}, model=UPSTREAM_MODEL) for piece in (reasoning[:10], reasoning[10:])]
    frames.append(
        openai_chunk({"tool_calls": [{"index": 0, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}]}, model=UPSTREAM_MODEL)
    )
    half = len(encoded) // 2
    for piece in (encoded[:half], encoded[half:]):
        frames.append(openai_chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}, model=UPSTREAM_MODEL))
    frames.append(openai_chunk({}, finish_reason="tool_calls", model=UPSTREAM_MODEL))
    frames.append(openai_usage_chunk({"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70}, model=UPSTREAM_MODEL))
    return Stream([sse_data(frame) for frame in frames] + [SSE_DONE])


def test_reasoning_and_tool_call_in_stream_json(rig: Rig) -> None:
    token = f"fcctok{secrets.token_hex(8)}"
    marker = f"FCCDONE{secrets.token_hex(6)}"
    thought = f"I should run echo to print {token}, so let me call Bash."
    call_id = f"call_{secrets.token_hex(12)}"
    rig.upstream.script(
        _reasoning_then_tool_call(thought, "Bash", bash_call(token), call_id),
        openai_text_stream(f"Done: {marker}", model=UPSTREAM_MODEL),
    )

    run = rig.claude("run the command", "--output-format", "stream-json", "--verbose", "--allowedTools", "Bash(echo *)")

    assert run.returncode == 0, f"claude exited {run.returncode}"
    events = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    blocks = [
        block
        for event in events
        if event.get("type") == "assistant"
        for block in event.get("message", {}).get("content", [])
        if isinstance(block, dict)
    ]
    thinking = [block for block in blocks if block.get("type") == "thinking"]
    assert any(thought in block.get("thinking", "") for block in thinking), f"no thinking block with the reasoning: {blocks}"
    assert any(block.get("type") == "tool_use" and block.get("name") == "Bash" and block.get("input") == bash_call(token) for block in blocks)
    tool_results = [
        block
        for event in events
        if event.get("type") == "user"
        for block in event.get("message", {}).get("content", [])
        if isinstance(block, dict) and block.get("type") == "tool_result"
    ]
    assert any(token in json.dumps(block.get("content")) and not block.get("is_error") for block in tool_results), tool_results
    [result] = [event for event in events if event.get("type") == "result"]
    assert result["is_error"] is False, result
    assert marker in result["result"]

    bodies = _chat_bodies(rig.upstream)
    assert_translated_first_request(bodies[0])
    _, assistant, tool_message = find_tool_result(bodies, call_id)
    assert token in _content_text(tool_message["content"])
    # vLLM's profile replays reasoning as `reasoning_content` on the assistant turn.
    assert thought in assistant.get("reasoning_content", ""), assistant
    assert rig.upstream.errors == []


def test_a_cut_answer_is_continued_and_the_cli_gets_the_exact_text(rig: Rig) -> None:
    """vLLM continues a prefilled turn: fcc asks it to go on from what the CLI already has and
    splices the rest in, so the CLI sees one message (no error, no non-streaming redo)."""
    marker = f"FCCDONE{secrets.token_hex(6)}"
    pieces = ["The answer ", "is forty ", "two, and ", f"the marker is {marker}."]
    rig.upstream.script(
        CutMidStream(openai_text_stream(pieces, model=UPSTREAM_MODEL), after_chunks=3),
        openai_text_stream(pieces[2:], model=UPSTREAM_MODEL),
    )

    run = rig.claude("what is the answer", "--output-format", "json")

    assert run.returncode == 0, f"claude exited {run.returncode}"
    result = json.loads(run.stdout)
    assert result["is_error"] is False, result
    assert result["result"] == "".join(pieces)
    bodies = _chat_bodies(rig.upstream)
    prefilled = [body for body in bodies if body["messages"][-1]["role"] == "assistant"]
    assert len(prefilled) == 1, [body["messages"][-1]["role"] for body in bodies]
    assert _content_text(prefilled[0]["messages"][-1]["content"]) == "The answer is forty "
    assert prefilled[0]["continue_final_message"] is True
    assert len(bodies) == 2, "the CLI redid the call (an error reached it)"
