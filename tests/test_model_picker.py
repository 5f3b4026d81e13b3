"""The /model picker: provider model lists (fetched, cached, bounded), the ids Claude Code keeps,
context windows from every source, and the `prompt is too long` answer."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import httpx
import pytest

from fcc import limits, model_picker
from fcc.config import Target, load_config
from fcc.core.local_answers import models_body
from fcc.engine import model_lists, upstream
from fcc.router import route_model
from tests.support.wire_samples import require_shared

# Claude Code 2.1.330's gateway discovery filter, copied from the binary: ids must match it.
CLAUDE_CODE_KEEPS = re.compile(r"(claude|anthropic)", re.IGNORECASE)
# Anthropic's wording, and the pattern Claude Code parses it with (also from the binary).
CLAUDE_CODE_PTL = re.compile(r"^prompt is too long: \d+ tokens > \d+ maximum$")

KEYS = {"NVIDIA_NIM_API_KEY": "nim-key", "OPENROUTER_API_KEY": "or-key", "DEEPSEEK_API_KEY": "d", "GEMINI_API_KEY": "g",
        "KIMI_API_KEY": "k"}  # fmt: skip


@pytest.fixture(autouse=True)
def fresh_lists():
    model_lists.reset()
    yield
    model_lists.reset()
    upstream.use_transport(None)


def config_with(tmp_path: Path, text: str):
    path = tmp_path / "routes.yaml"
    path.write_text(text)
    return load_config(str(path), KEYS)


def test_the_real_nim_list_parses_bounded() -> None:
    payload = json.loads((require_shared() / "fcc-fixtures" / "nvidia_nim_models.json").read_text())
    models = model_lists.parse_models("nvidia_nim", payload)
    assert len(models) == min(len({item["id"] for item in payload["data"]}), model_lists.MAX_MODELS)
    assert models[0].slug == "nvidia_nim/" + payload["data"][0]["id"]
    assert len({m.model for m in models}) == len(models)


def test_parse_reads_windows_and_caps_where_providers_say_them() -> None:
    openrouter = {"data": [{"id": "qwen/qwen3-coder:free", "name": "Qwen3 Coder (free)", "context_length": 262144,
                            "top_provider": {"context_length": 262144, "max_completion_tokens": 65536}}]}  # fmt: skip
    [model] = model_lists.parse_models("openrouter", openrouter)
    assert (model.display_name, model.context_window, model.max_output_tokens) == ("Qwen3 Coder (free)", 262144, 65536)
    vllm = {"object": "list", "data": [{"id": "Qwen/Qwen3-8B", "max_model_len": 32768}]}
    assert model_lists.parse_models("vllm", vllm)[0].context_window == 32768
    gemini = {"data": [{"id": "models/gemini-2.5-flash"}]}
    assert model_lists.parse_models("gemini", gemini)[0].model == "gemini-2.5-flash"
    ollama = {"models": [{"name": "qwen3:8b"}, {"name": "qwen3:8b"}, {"bad": 1}, "junk"]}
    assert [m.model for m in model_lists.parse_models("ollama", ollama)] == ["qwen3:8b"]
    assert model_lists.parse_models("x", "not a list") == ()


def test_lists_are_fetched_in_the_background_cached_and_kept_on_failure(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("NVIDIA_NIM_API_KEY", "nim-key")  # fcc reads keys where it runs
    config = config_with(tmp_path, "models:\n  default: nvidia_nim/meta/llama-3.3-70b-instruct\n")
    seen: list[httpx.Request] = []
    listing = {"data": [{"id": "meta/llama-3.3-70b-instruct"}, {"id": "moonshotai/kimi-k2"}]}
    answers = [httpx.Response(200, stream=httpx.ByteStream(json.dumps(listing).encode())),
               httpx.Response(500, stream=httpx.ByteStream(b"down"))]  # fmt: skip

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    upstream.use_transport(httpx.MockTransport(handler))

    async def scenario() -> None:
        assert model_lists.known(config) == []  # nothing is awaited at start-up
        listed = await model_lists.current(config, max_wait=5)
        assert [m.slug for m in listed] == ["nvidia_nim/meta/llama-3.3-70b-instruct", "nvidia_nim/moonshotai/kimi-k2"]
        assert await model_lists.current(config) == listed  # cached: no second fetch
        assert len(seen) == 1
        # Stale: refetched; the failure keeps the last good list.
        for entry in model_lists._LISTS.values():
            entry.fetched_at -= model_lists.REFRESH_AFTER + 1
        assert await model_lists.current(config, max_wait=5) == listed
        assert len(seen) == 2

    asyncio.run(scenario())
    assert str(seen[0].url) == "https://integrate.api.nvidia.com/v1/models"
    assert seen[0].headers["authorization"] == "Bearer nim-key"


def test_a_slow_provider_never_holds_the_answer(tmp_path: Path) -> None:
    config = config_with(tmp_path, "models:\n  default: nvidia_nim/meta/llama-3.3-70b-instruct\n")

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(200, json={"data": []})

    upstream.use_transport(httpx.MockTransport(slow))

    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await model_lists.current(config, max_wait=0.2) == []
        for entry in model_lists._LISTS.values():
            entry.task.cancel()
        return loop.time() - started

    assert asyncio.run(scenario()) < 5


def test_picker_lists_tiers_routes_and_provider_models_under_ids_claude_code_keeps(tmp_path: Path) -> None:
    config = config_with(tmp_path, "models:\n  default: nvidia_nim/meta/llama-3.3-70b-instruct\n"
                                   "  opus: {model: openrouter/qwen/qwen3-coder:free, context_window: 100000}\n"
                                   "classes:\n  title: ollama/qwen3:8b\n")  # fmt: skip
    listed = model_lists.parse_models("nvidia_nim", {"data": [{"id": "moonshotai/kimi-k2"}, {"id": "meta/llama-3.3-70b-instruct"}]})
    entries = model_picker.entries(config, listed, lambda t: limits.limits(t, config))
    ids = [e.id for e in entries]
    assert ids == ["claude-opus", "anthropic/nvidia_nim/meta/llama-3.3-70b-instruct", "anthropic/openrouter/qwen/qwen3-coder:free",
                   "anthropic/ollama/qwen3:8b", "anthropic/nvidia_nim/moonshotai/kimi-k2"]  # fmt: skip
    assert all(CLAUDE_CODE_KEEPS.search(i) for i in ids)
    by_id = {e.id: e for e in entries}
    assert by_id["claude-opus"].context_window == 100000 and "100k context" in by_id["claude-opus"].description
    assert by_id["anthropic/nvidia_nim/moonshotai/kimi-k2"].display_name == "moonshotai/kimi-k2 (NVIDIA NIM)"
    # Every id routes back to exactly that provider and model.
    for entry in entries[1:]:
        route = route_model(entry.id, config, KEYS)
        assert "anthropic/" + route.primary.slug == entry.id
    page = json.loads(models_body(entries))
    assert page["data"][0]["max_input_tokens"] == 100000 and page["data"][0]["display_name"].startswith("Opus")


def test_windows_come_from_routes_yaml_then_the_list_then_the_catalog(tmp_path: Path) -> None:
    config = config_with(tmp_path, "models:\n  default: {model: deepseek/deepseek-chat, context_window: 64000}\n"
                                   "  opus: gemini/gemini-2.5-pro\n  haiku: kimi/kimi-k2-0711-preview\n"
                                   "providers:\n  vllm: {context_window: 32768}\n")  # fmt: skip
    assert limits.limits(config.tiers["default"].target, config) == (64000, 32768)  # cap: the profile's
    assert limits.limits(config.tiers["opus"].target, config)[0] == 1_048_576
    assert limits.limits(config.tiers["haiku"].target, config)[0] == 131_072  # the glob for the 0711 model
    vllm = Target(config.providers["vllm"], "m")
    assert limits.limits(vllm, config) == (32768, vllm.profile.max_tokens_cap)
    listed = model_lists.ListedModel("vllm", "m", context_window=50000, max_output_tokens=4000)
    lookup = lambda profile, model: listed  # noqa: E731
    assert limits.limits(vllm, config, lookup) == (32768, 4000)  # routes.yaml beats the list; the smaller cap
    gemini = config.tiers["opus"].target
    assert limits.limits(gemini, config, lookup)[0] == 50000  # the list beats the catalog
    bare = vllm.profile.replace(context_window=None, max_tokens_cap=None)
    assert limits.limits(Target(bare, "m"), config) == (None, None)


def test_a_route_may_set_its_own_window_and_cap(tmp_path: Path) -> None:
    config = config_with(tmp_path, "models:\n  default: {model: deepseek/deepseek-chat, context_window: 64000, max_tokens_cap: 8192}\n"
                                   "  opus: {model: deepseek/deepseek-reasoner, quirks: {model_windows: {'deepseek-r*': 100000}}}\n")  # fmt: skip
    assert limits.limits(config.tiers["default"].target, config) == (64000, 8192)
    assert limits.limits(config.tiers["opus"].target, config)[0] == 100000


def test_a_prompt_over_every_window_gets_anthropics_exact_error(tmp_path: Path) -> None:
    config = config_with(tmp_path, "models:\n  default:\n    model: vllm/small\n    context_window: 8000\n"
                                   "    fallbacks: [ollama/big]\nproviders:\n  ollama: {context_window: 32000}\n")  # fmt: skip
    route = route_model("claude-opus-5-5", config, KEYS)
    assert limits.fit(route, 8000, config) is route
    smaller = limits.fit(route, 8001, config)
    assert [t.slug for t in smaller.targets] == ["ollama/big"]  # the fallback that fits answers
    error = limits.fit(route, 40000, config)
    assert error.status == 400 and error.type == "invalid_request_error"
    assert CLAUDE_CODE_PTL.match(error.message) and error.message == "prompt is too long: 40000 tokens > 32000 maximum"
    assert error.headers["x-should-retry"] == "false"
    # Unknown windows are never enforced.
    unknown = config_with(tmp_path, "models:\n  default: vllm/small\n")
    assert limits.fit(route_model("x", unknown, KEYS), 10**7, unknown).primary.slug == "vllm/small"
