"""Routing by request class (routes.yaml `classes:`), on real Claude Code request bodies.

Each rule: a class route wins over the tier route, falls back to it, and the title
request never gets thinking switched on by its `output_config.effort`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fcc import claude_code
from fcc.config import ConfigError, load_config
from fcc.core.dialects.anthropic_native import translate_native_request
from fcc.core.dialects.openai_chat_request import translate_request
from fcc.core.tools import ToolIdCodec
from fcc.router import route_request
from tests.support.captures import message_requests

KEYS = {"OPENROUTER_API_KEY": "or", "DEEPSEEK_API_KEY": "ds", "GROQ_API_KEY": "gq"}
_KEEP = ("x-claude-code-session-id", "x-claude-code-agent-id", "x-claude-code-request-class", "x-claude-1p-request-class")


def headers_of(record) -> dict[str, str]:
    return {name: value for name, value in record.headers.items() if name in _KEEP}


def config_with(tmp_path: Path, text: str, env: dict[str, str] | None = None):
    path = tmp_path / "routes.yaml"
    path.write_text(text)
    return load_config(str(path), {**KEYS, **(env or {})})


CLASSED = (
    "models:\n"
    "  default: deepseek/deepseek-chat\n"
    "  opus: {model: openrouter/qwen/qwen3-coder, reasoning: high}\n"
    "classes:\n"
    "  title: groq/llama-3.1-8b-instant\n"
    "  subagent: {model: openrouter/z-ai/glm-4.6, fallbacks: [groq/kimi-k2]}\n"
    "  compaction: openrouter/google/gemini-flash\n"
    "  websearch: openrouter/perplexity/sonar\n"
    "  side: ollama/qwen3:8b\n"
    "  images: openrouter/qwen/qwen-vl\n"
    "  long_context: {model: openrouter/google/gemini-pro, over_tokens: 100000}\n"
)


def route_for(record, config, estimate: int = 1000):
    facts = claude_code.describe(record.body, headers_of(record))
    return route_request(record.body, facts, config, estimate, KEYS)


def the(capture: str, wanted: str):
    [record] = [r for r in message_requests(capture) if claude_code.classify(r.body, headers_of(r)) == wanted][:1]
    return record


def test_each_class_takes_its_own_route_then_the_tier_route(tmp_path: Path) -> None:
    config = config_with(tmp_path, CLASSED)
    main = message_requests("quiet_apikey")[0]  # claude-opus-5-5
    route = route_for(main, config)
    assert (route.request_class, route.via, [t.slug for t in route.targets]) == ("main", "", ["openrouter/qwen/qwen3-coder"])
    assert route.reasoning == "high"

    sub = route_for(the("subagent_explore", "subagent"), config)
    assert sub.request_class == "subagent" and sub.via == "subagent"
    # The class route, its own fallbacks, then the tier route the model names.
    assert [t.slug for t in sub.targets] == ["openrouter/z-ai/glm-4.6", "groq/kimi-k2", "openrouter/qwen/qwen3-coder"]
    assert sub.reasoning == "high"  # inherited from the tier

    assert route_for(the("compact_trigger", "compaction"), config).primary.slug == "openrouter/google/gemini-flash"
    assert route_for(the("websearch", "websearch"), config).primary.slug == "openrouter/perplexity/sonar"
    # WebFetch has no route of its own: the `side` route catches it.
    webfetch = route_for(the("webfetch_https", "webfetch"), config)
    assert (webfetch.via, webfetch.primary.slug, webfetch.reasoning) == ("side", "ollama/qwen3:8b", "off")


def test_a_plain_sdk_call_is_a_conversation_and_keeps_its_thinking(tmp_path: Path) -> None:
    config = config_with(tmp_path, CLASSED)
    body = {"model": "claude-opus-5-5", "max_tokens": 2048, "thinking": {"type": "enabled", "budget_tokens": 1024},
            "messages": [{"role": "user", "content": "hi"}]}  # fmt: skip
    facts = claude_code.describe(body, {})
    assert facts.request_class == "main"
    assert route_request(body, facts, config, 10, KEYS).reasoning == "high"  # the tier's, not "off"
    side = {**body, "tools": []}  # Claude Code's shape for an unrecognised side request
    facts = claude_code.describe(side, {})
    route = route_request(side, facts, config, 10, KEYS)
    assert (facts.request_class, route.via, route.reasoning) == ("side", "side", "high")


def test_first_party_headers_route_the_same_way(tmp_path: Path) -> None:
    config = config_with(tmp_path, CLASSED)
    title = the("mitm_ia_loud", "title")
    assert title.headers["x-claude-1p-request-class"] == "summary-extraction"
    assert route_for(title, config).primary.slug == "groq/llama-3.1-8b-instant"
    sub = the("mitm_tool_subagent", "subagent")
    assert sub.headers["x-claude-code-request-class"] == "subagent"
    without_agent_id = {k: v for k, v in headers_of(sub).items() if k != "x-claude-code-agent-id"}
    facts = claude_code.describe(sub.body, without_agent_id)  # the class header alone is enough
    assert route_request(sub.body, facts, config, 1000, KEYS).via == "subagent"
    assert route_for(the("mitm_compact", "compaction"), config).via == "compaction"


def test_title_route_has_thinking_off_although_the_body_asks_for_effort(tmp_path: Path) -> None:
    config = config_with(tmp_path, CLASSED)
    title = the("ia_title_ok", "title")
    assert title.body["output_config"]["effort"] == "high"  # what switched thinking on before
    route = route_for(title, config)
    assert (route.via, route.reasoning) == ("title", "off")
    body = translate_request(title.body, route.primary.profile, route.primary.model, reasoning=route.reasoning,
                             codec=ToolIdCodec("any"))  # fmt: skip
    assert not {"reasoning_effort", "reasoning", "thinking", "chat_template_kwargs"} & set(body)
    assert body["response_format"]["type"] == "json_schema"  # the {"title"} schema still goes


def test_title_without_a_class_route_goes_to_the_haiku_tier_thinking_off(tmp_path: Path) -> None:
    config = config_with(tmp_path, "models:\n  default: deepseek/deepseek-chat\n  haiku: groq/llama-3.1-8b-instant\n")
    title = the("ia_title_ok", "title")  # model stub-small: would take the default tier
    route = route_for(title, config)
    assert (route.via, route.primary.slug, route.reasoning) == ("tier haiku", "groq/llama-3.1-8b-instant", "off")
    assert [t.slug for t in route.targets] == ["groq/llama-3.1-8b-instant", "deepseek/deepseek-chat"]


def test_title_on_the_tier_route_still_has_thinking_off_also_for_anthropic_native(tmp_path: Path) -> None:
    config = config_with(tmp_path, "models:\n  default: deepseek_anthropic/deepseek-chat\n")
    title = the("ia_title_ok", "title")
    route = route_for(title, config)
    assert (route.via, route.reasoning) == ("", "off")
    body = translate_native_request(title.body, route.primary.model, reasoning=route.reasoning)
    assert body["thinking"] == {"type": "disabled"}
    assert "effort" not in body.get("output_config", {})


def test_a_class_route_may_ask_for_thinking(tmp_path: Path) -> None:
    config = config_with(tmp_path, "models:\n  default: deepseek/deepseek-chat\nclasses:\n  title: {model: groq/qwen3-32b, reasoning: low}\n")
    assert route_for(the("ia_title_ok", "title"), config).reasoning == "low"


def test_images_and_long_context_pick_their_routes(tmp_path: Path) -> None:
    config = config_with(tmp_path, CLASSED)
    main = message_requests("quiet_apikey")[0]
    assert route_for(main, config, estimate=100_001).via == "long_context"
    assert route_for(main, config, estimate=100_000).via == ""
    with_image = json.loads(json.dumps(main.body))
    with_image["messages"][0]["content"].append(
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}})  # fmt: skip
    facts = claude_code.describe(with_image, {})
    assert facts.has_images
    route = route_request(with_image, facts, config, 100_001, KEYS)
    assert route.via == "images"  # a text-only long-context model could not read it


def test_class_routes_from_the_environment(tmp_path: Path) -> None:
    config = config_with(tmp_path, "models:\n  default: deepseek/deepseek-chat\n",
                         {"MODEL_TITLE": "groq/llama-3.1-8b-instant", "MODEL_SUBAGENT": "ollama/qwen3:8b"})  # fmt: skip
    assert route_for(the("ia_title_ok", "title"), config).primary.slug == "groq/llama-3.1-8b-instant"
    assert route_for(the("subagent_explore", "subagent"), config).primary.slug == "ollama/qwen3:8b"


def test_class_route_without_a_tier_route(tmp_path: Path) -> None:
    """No tier routes (everything else passes through to Anthropic), but titles go to a cheap model."""
    config = config_with(tmp_path, "classes:\n  title: groq/llama-3.1-8b-instant\n")
    assert route_for(message_requests("quiet_apikey")[0], config) is None
    route = route_for(the("ia_title_ok", "title"), config)
    assert route is not None and [t.slug for t in route.targets] == ["groq/llama-3.1-8b-instant"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("classes:\n  banana: ollama/x\n", "unknown request class 'banana'"),
        ("classes:\n  title: {model: ollama/x, over_tokens: 5}\n", "over_tokens applies to long_context only"),
        ("models:\n  default: {model: ollama/x, over_tokens: 5}\n", "over_tokens belongs under classes.long_context"),
        ("classes:\n  title: groq/x\n", "GROQ_API_KEY"),
        ("classes:\n  title: notaslug\n", "classes.title"),
    ],
)
def test_bad_class_routes_are_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_config(str(path), {})


def test_session_and_agent_ids_reach_routing_facts() -> None:
    sub = the("subagent_explore", "subagent")
    facts = claude_code.describe(sub.body, headers_of(sub))
    assert facts.agent_id == sub.headers["x-claude-code-agent-id"]
    assert facts.session_id == sub.headers["x-claude-code-session-id"]
    # Without headers the session id is read from metadata.user_id (a JSON string).
    assert claude_code.describe(sub.body, {}).session_id == facts.session_id


def test_a_plain_tool_less_request_keeps_the_thinking_it_asked_for(tmp_path: Path) -> None:
    # A generic SDK chat has no tools at all, so it is a conversation ("main"); only Claude Code's
    # own busywork (title, webfetch) loses thinking, never a request that asked for it.
    config = config_with(tmp_path, "models:\n  default: deepseek/deepseek-chat\n")
    request = {"model": "claude-sonnet-4-5", "max_tokens": 256, "thinking": {"type": "enabled", "budget_tokens": 1024},
               "messages": [{"role": "user", "content": "Say hello."}]}
    route = route_request(request, claude_code.describe(request, {}), config, 10, KEYS)
    assert route is not None and route.request_class == "main"
    assert route.reasoning == "client"
