"""The real Claude Code CLI through fcc: the /model picker, request-class routes, context windows.

    claude -p ...  ->  mitmdump -s addon/fcc.py (routes.yaml in tmp)  ->  ScriptedUpstream(s)

Recipe: tests/e2e/test_claude_code_cli.py (the CLI is found the same way; skips locally
without it, fails under CI).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_claude_code_cli import _chat_bodies, _content_text, _dump, claude_bin, run_claude  # noqa: F401
from tests.support.procs import MitmdumpProcess
from tests.support.upstream import ScriptedUpstream
from tests.support.upstream_responses import JsonResponse, anthropic_text_stream, openai_text_stream, openai_tool_call_stream

pytestmark = [pytest.mark.e2e, pytest.mark.cli]

DISCOVERY = {"CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": None}


def _texts(body: dict[str, Any]) -> str:
    return "\n".join(_content_text(message.get("content")) for message in body.get("messages", []))


def _start(mitmdump_factory: Callable[..., MitmdumpProcess], tmp_path: Path, routes: str, **env: str) -> MitmdumpProcess:
    path = tmp_path / "routes.yaml"
    path.write_text(routes)
    return mitmdump_factory(env={"FCC_CONFIG": str(path), **env})


def test_model_picker_lists_provider_models_and_one_of_them_reaches_its_provider(
    claude_bin: str, mitmdump_factory: Callable[..., MitmdumpProcess], tmp_path: Path
) -> None:
    marker = f"PICKED{secrets.token_hex(5)}"
    with ScriptedUpstream(default=openai_text_stream("from the default route", model="main-model")) as upstream:
        # The provider's own list (vLLM shape): fcc fetches it when the client asks for /v1/models.
        upstream.answer("GET", "/v1/models", JsonResponse(200, {"object": "list", "data": [
            {"id": "main-model", "object": "model", "max_model_len": 131072},
            {"id": "picked-model", "object": "model", "max_model_len": 65536}]}))  # fmt: skip
        proxy = _start(mitmdump_factory, tmp_path, f"models:\n  default: vllm/main-model\nproviders:\n"
                                                   f"  vllm: {{base_url: '{upstream.url('/v1')}'}}\n")  # fmt: skip
        runs = []
        try:
            first = run_claude(claude_bin, proxy.base_url, tmp_path / "cli-0", "say hi", "--output-format", "json",
                               env_changes=DISCOVERY)  # fmt: skip
            runs.append(first)
            assert first.returncode == 0
            [cache] = list((tmp_path / "cli-0" / "home").rglob("gateway-models.json"))
            kept = {model["id"]: model for model in json.loads(cache.read_text())["models"]}
            # Claude Code keeps (and shows in /model) only ids with "claude"/"anthropic" in them.
            assert "anthropic/vllm/picked-model" in kept and "anthropic/vllm/main-model" in kept, kept
            assert "picked-model" in kept["anthropic/vllm/picked-model"]["display_name"]
            assert "66k context" in kept["anthropic/vllm/picked-model"]["description"]

            upstream.script(openai_text_stream(f"picked {marker}", model="picked-model"))
            second = run_claude(claude_bin, proxy.base_url, tmp_path / "cli-1", "say hi", "--output-format", "json",
                                "--model", "anthropic/vllm/picked-model", env_changes=DISCOVERY)  # fmt: skip
            runs.append(second)
            assert second.returncode == 0
            assert marker in json.loads(second.stdout)["result"]
            chats = [r.json_body for r in upstream.requests if r.path.startswith("/v1/chat/completions")]
            assert chats[-1]["model"] == "picked-model"
            assert [r.path for r in upstream.requests].count("/v1/models") == 1  # cached across both runs
        finally:
            _dump(upstream, proxy, runs)


def test_subagent_request_reaches_the_subagent_route(
    claude_bin: str, mitmdump_factory: Callable[..., MitmdumpProcess], tmp_path: Path
) -> None:
    marker = f"SUBDONE{secrets.token_hex(5)}"
    agent_call = {"description": "Find python files", "prompt": f"List the python files here {marker}", "subagent_type": "Explore"}
    with ScriptedUpstream(default=openai_text_stream("main says done", model="main-model")) as main, \
            ScriptedUpstream(default=openai_text_stream("Found nothing.", model="sub-model")) as sub:  # fmt: skip
        main.script(openai_tool_call_stream("Agent", agent_call, id="call_agent1", model="main-model"))
        proxy = _start(mitmdump_factory, tmp_path, "models:\n  default: vllm/main-model\n"
                       f"classes:\n  subagent: subvllm/sub-model\nproviders:\n  vllm: {{base_url: '{main.url('/v1')}'}}\n"
                       f"  subvllm: {{like: vllm, base_url: '{sub.url('/v1')}'}}\n")  # fmt: skip
        run = run_claude(claude_bin, proxy.base_url, tmp_path / "cli", "find the python files", "--output-format", "json")
        try:
            assert run.returncode == 0
            sub_bodies = _chat_bodies(sub)
            assert any(marker in _texts(body) for body in sub_bodies), "the subagent's prompt did not reach its route"
            assert all(body["model"] == "sub-model" for body in sub_bodies)
            for body in _chat_bodies(main):
                assert body["model"] == "main-model"
                system = " ".join(_content_text(m.get("content")) for m in body["messages"] if m.get("role") == "system")
                assert "file search specialist" not in system  # the Explore agent's prompt never went to main
            assert "sub-model" in proxy.output() or "subagent" in proxy.output()
        finally:
            _dump(main, proxy, [run])
            _dump(sub, proxy, [])


def test_conversation_over_a_small_window_gets_prompt_too_long_compacts_and_continues(
    claude_bin: str, mitmdump_factory: Callable[..., MitmdumpProcess], tmp_path: Path
) -> None:
    marker = f"AFTERCOMPACT{secrets.token_hex(5)}"
    with ScriptedUpstream(default=openai_text_stream(f"Continuing after the summary. {marker}", model="small")) as upstream:
        # Turn 1 (~13.5k tokens) fits; its tool result (~24 KB, under Claude Code's own cut-off for
        # long outputs) makes the next request outgrow the 18k window.
        upstream.script(
            openai_tool_call_stream("Bash", {"command": "seq 1 5000", "description": "numbers"}, id="call_seq", model="small"),
        )
        proxy = _start(mitmdump_factory, tmp_path,
                       "models:\n  default: {model: vllm/small, context_window: 18000}\n"
                       "classes:\n  compaction: {model: vllm/summariser, context_window: 1000000}\n"
                       f"providers:\n  vllm: {{base_url: '{upstream.url('/v1')}'}}\n")  # fmt: skip
        run = run_claude(claude_bin, proxy.base_url, tmp_path / "cli", "count with seq", "--output-format", "json",
                         "--allowedTools", "Bash(seq *)")  # fmt: skip
        try:
            assert run.returncode == 0, run.stderr
            assert "prompt is too long" in proxy.output()
            bodies = _chat_bodies(upstream)
            summariser = [b for b in bodies if b["model"] == "summariser"]
            assert summariser, "no compaction request reached the compaction route"
            assert "CRITICAL: Respond with TEXT ONLY" in _texts(summariser[0])
            last = max(i for i, b in enumerate(bodies) if b["model"] == "summariser")
            after = bodies[last + 1:]
            assert after and all(b["model"] == "small" for b in after)
            result = json.loads(run.stdout)
            assert result["is_error"] is False and marker in result["result"]
        finally:
            _dump(upstream, proxy, [run])


def test_subscription_passthrough_sends_the_clients_credentials_to_anthropic_only(
    claude_bin: str, mitmdump_factory: Callable[..., MitmdumpProcess], tmp_path: Path
) -> None:
    """opus -> Anthropic with the client's own token (no key where fcc runs); haiku -> a local model."""
    token = f"sk-ant-oat01-{secrets.token_hex(16)}"  # shaped like a Claude subscription's OAuth token
    marker = f"FROMANTHROPIC{secrets.token_hex(4)}"
    with ScriptedUpstream(default=anthropic_text_stream(f"Anthropic here {marker}", model="claude-opus-4-5")) as anthropic, \
            ScriptedUpstream(default=openai_text_stream("local here", model="small")) as local:  # fmt: skip
        proxy = _start(mitmdump_factory, tmp_path,
                       "models:\n  opus: anthropic/claude-opus-4-5\n  haiku: vllm/small\n"
                       f"providers:\n  vllm: {{base_url: '{local.url('/v1')}'}}\n",
                       FCC_ANTHROPIC_BASE_URL=anthropic.base_url, ANTHROPIC_API_KEY="")  # fmt: skip
        runs = [run_claude(claude_bin, proxy.base_url, tmp_path / f"cli-{i}", "say hi", "--output-format", "json",
                           *extra, env_changes={"ANTHROPIC_AUTH_TOKEN": token})
                for i, extra in enumerate(((), ("--model", "haiku")))]  # fmt: skip
        try:
            assert [run.returncode for run in runs] == [0, 0]
            assert marker in json.loads(runs[0].stdout)["result"]
            [sent] = anthropic.requests
            assert sent.path.startswith("/v1/messages") and sent.json_body["model"] == "claude-opus-4-5"
            assert sent.header("authorization") == f"Bearer {token}"
            assert local.requests, "the haiku run never reached its provider"
            for request in local.requests:
                assert token not in repr(request.headers) and token.encode() not in request.body
            assert token not in proxy.output()  # nor in fcc's log
        finally:
            _dump(anthropic, proxy, runs)
            _dump(local, proxy, [])
