"""The built-in catalog: sound at import, complete, and mirrored in the README."""

from __future__ import annotations

from pathlib import Path

import pytest

from fcc.core.catalog import CATALOG, build_catalog, catalog_problems, get_profile, profile_problems
from fcc.core.catalog_table import END_MARKER, START_MARKER, main as table_main, render_table, replace_block
from fcc.core.profiles import TRANSPORTS, Profile, validate_profile

REPO_ROOT = Path(__file__).resolve().parent.parent

REQUIRED_IDS = {
    "nvidia_nim", "openrouter", "gemini", "deepseek", "deepseek_anthropic", "mistral", "codestral",
    "opencode_zen", "opencode_go", "wafer", "kimi", "cerebras", "groq", "fireworks", "zai", "zai_anthropic",
    "minimax", "minimax_anthropic", "kimi_anthropic", "together", "openai", "openai_responses", "anthropic",
    "vllm", "lmstudio", "llamacpp", "ollama",
}
LOCAL_DEFAULT_URLS = {
    "lmstudio": "http://localhost:1234/v1",
    "llamacpp": "http://localhost:8080/v1",
    "ollama": "http://localhost:11434/v1",
    "vllm": "http://localhost:8000/v1",
}


def test_every_required_provider_is_present_and_nothing_else() -> None:
    assert set(CATALOG) == REQUIRED_IDS


@pytest.mark.parametrize("provider_id", sorted(REQUIRED_IDS))
def test_every_profile_is_sound(provider_id: str) -> None:
    profile = CATALOG[provider_id]
    assert validate_profile(profile) == []
    assert profile_problems(profile) == []
    assert profile.id == provider_id
    assert profile.transport in TRANSPORTS
    assert profile.docs_url.startswith("https://")


def test_ids_are_unique_and_match_their_keys() -> None:
    ids = [profile.id for profile in CATALOG.values()]
    assert len(ids) == len(set(ids))
    assert catalog_problems(CATALOG) == []


@pytest.mark.parametrize(("provider_id", "url"), sorted(LOCAL_DEFAULT_URLS.items()))
def test_local_servers_have_their_default_urls_and_no_key(provider_id: str, url: str) -> None:
    profile = CATALOG[provider_id]
    assert profile.base_url == url
    assert profile.local is True
    assert profile.api_key_env is None
    assert profile.auth_style == "none"
    assert profile.requests_per_minute is None
    assert profile.first_byte_timeout >= 180  # a local server may load the model first
    assert profile.idle_timeout <= 120  # but once it streams, a long silence means it is stuck


def test_hosted_timeouts_end_a_hang_or_a_stall_within_two_minutes() -> None:
    for profile in CATALOG.values():
        if not profile.local:
            assert profile.first_byte_timeout <= 110, profile.id
            assert profile.idle_timeout <= 110, profile.id


def test_continuation_is_on_only_where_the_provider_continues_a_prefilled_turn() -> None:
    on = {p.id: p.prefill for p in CATALOG.values() if p.prefill != "none"}
    assert on["vllm"] == "continue_final_message" and on["kimi"] == "partial_flag" and on["mistral"] == "prefix_flag"
    assert on["anthropic"] == "trailing_assistant" and on["ollama"] == "trailing_assistant"
    assert CATALOG["openrouter"].prefill == "none" and CATALOG["nvidia_nim"].prefill == "none"


def test_hosted_providers_need_a_key_and_local_ones_are_only_the_four() -> None:
    hosted = [p for p in CATALOG.values() if not p.local]
    assert {p.id for p in CATALOG.values() if p.local} == set(LOCAL_DEFAULT_URLS)
    assert all(p.api_key_env and p.api_key_env.endswith("_API_KEY") for p in hosted)


def test_base_urls_carry_the_version_path_but_not_the_endpoint() -> None:
    for profile in CATALOG.values():
        assert not profile.base_url.endswith("/"), profile.id
        if profile.transport == "anthropic_messages":
            assert not profile.base_url.endswith("/v1"), profile.id
        else:
            assert not profile.base_url.endswith("/chat/completions"), profile.id
    assert CATALOG["anthropic"].base_url == "https://api.anthropic.com"
    assert CATALOG["deepseek_anthropic"].base_url == "https://api.deepseek.com/anthropic"
    assert CATALOG["nvidia_nim"].base_url == "https://integrate.api.nvidia.com/v1"


def test_key_quirks_are_encoded() -> None:
    # One assertion per documented quirk (../shared/research/protocol-notes.md section D): breaking the data breaks these.
    assert CATALOG["anthropic"].auth_style == "x-api-key"
    assert CATALOG["deepseek"].reasoning_replay == "reasoning_content"
    assert CATALOG["deepseek"].reasoning_control == "thinking_object"
    assert CATALOG["groq"].reasoning_replay == "drop"
    assert {"logprobs", "logit_bias", "top_logprobs", "n", "prompt_cache_key"} <= CATALOG["groq"].rejects
    assert CATALOG["cerebras"].reasoning_replay == "reasoning"
    assert CATALOG["cerebras"].max_tokens_field == "max_completion_tokens"
    assert CATALOG["gemini"].thought_signatures is True
    assert {"$schema", "additionalProperties"} <= CATALOG["gemini"].schema_strip
    assert "frequency_penalty" in CATALOG["gemini"].rejects
    for mistral_like in ("mistral", "codestral"):
        assert CATALOG[mistral_like].tool_id_format == "alnum9"
        assert CATALOG[mistral_like].no_user_after_tool is True
    assert CATALOG["nvidia_nim"].tool_choice == "omit"
    assert CATALOG["nvidia_nim"].requests_per_minute == 40
    assert "tool_stream" in CATALOG["nvidia_nim"].rejects
    assert CATALOG["zai"].tool_choice == "auto_only"
    assert CATALOG["zai"].max_tokens_field == "max_tokens"
    assert {"stream_options", "frequency_penalty", "presence_penalty"} <= CATALOG["zai"].rejects
    assert CATALOG["kimi"].temperature == "drop"
    assert CATALOG["kimi"].reasoning_replay == "reasoning_content"
    assert CATALOG["minimax"].max_tokens_field == "max_completion_tokens"
    assert CATALOG["minimax"].temperature == "clamp01"
    assert CATALOG["minimax"].reasoning_replay == "think_tags"
    assert CATALOG["openrouter"].reasoning_control == "reasoning_object"
    assert CATALOG["openrouter"].reasoning_replay == "reasoning_details"
    assert CATALOG["openrouter"].requests_per_minute == 20
    assert CATALOG["openai"].max_tokens_field == "max_completion_tokens"
    assert CATALOG["opencode_go"].session_header == "x-opencode-session"
    assert CATALOG["ollama"].empty_assistant_content == "empty"
    assert CATALOG["opencode_zen"].api_key_env == CATALOG["opencode_go"].api_key_env == "OPENCODE_API_KEY"


def test_get_profile_returns_the_entry_and_names_known_ids_when_missing() -> None:
    assert get_profile("groq") is CATALOG["groq"]
    with pytest.raises(KeyError) as excinfo:
        get_profile("no_such_provider")
    message = str(excinfo.value)
    assert "no_such_provider" in message
    assert "groq" in message and "ollama" in message


def _sound_profile(**changes: object) -> Profile:
    return CATALOG["groq"].replace(**changes)


def test_validate_profile_reports_a_broken_profile() -> None:
    broken = _sound_profile(id="Bad Id", transport="smoke_signals", base_url="ftp://x/", reasoning_replay="telepathy")
    problems = validate_profile(broken)
    joined = "\n".join(problems)
    assert "id must be lowercase" in joined
    assert "unknown transport" in joined
    assert "base_url must be http(s)" in joined
    assert "must not end with '/'" in joined
    assert "reasoning_replay" in joined


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"rejects": frozenset({"max_tokens"})}, "rejects its own max_tokens_field"),
        ({"reasoning_control": "thinking_object", "rejects": frozenset({"thinking"})}, "reasoning_control sends"),
        ({"stream_options": True, "rejects": frozenset({"stream_options"})}, "contradicts rejecting"),
        ({"extra_body": (("tool_stream", True),), "rejects": frozenset({"tool_stream"})}, "also rejects"),
        ({"notes": "inline <think> vanishes"}, "inside backticks"),
        ({"notes": ""}, "one non-empty line"),
        ({"base_url": "https://x/v1/chat/completions"}, "must not include /chat/completions"),
        ({"api_key_env": None, "auth_style": "none"}, "needs api_key_env"),
        ({"session_header": "bad header"}, "not a valid header name"),
    ],
)
def test_catalog_rules_catch_contradictory_data(changes: dict[str, object], expected: str) -> None:
    problems = profile_problems(_sound_profile(**changes))
    assert any(expected in problem for problem in problems), problems


def test_anthropic_base_url_with_v1_is_refused() -> None:
    profile = CATALOG["anthropic"].replace(base_url="https://api.anthropic.com/v1")
    assert any("must not include /v1" in problem for problem in profile_problems(profile))


def test_a_broken_catalog_fails_loudly_naming_the_profile() -> None:
    good = CATALOG["groq"]
    with pytest.raises(RuntimeError, match="groq: duplicate id"):
        build_catalog([good, good])
    with pytest.raises(RuntimeError, match="cerebras"):
        build_catalog([good, CATALOG["cerebras"].replace(transport="carrier_pigeon")])
    assert any("stored under key" in p for p in catalog_problems({"other": good}))
    assert list(build_catalog([good, CATALOG["ollama"]])) == ["groq", "ollama"]


def test_render_table_has_one_row_per_profile_in_catalog_order() -> None:
    table = render_table(CATALOG)
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == list(CATALOG)
    assert "| `ollama` | openai_chat | none (local) | `http://localhost:11434/v1` |" in table
    assert "`GROQ_API_KEY`" in table


def test_render_table_escapes_pipes_in_notes() -> None:
    table = render_table({"groq": _sound_profile(notes="a | b")})
    assert "a \\| b" in table


def test_readme_table_matches_the_catalog() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert replace_block(readme, render_table(CATALOG)) == readme, (
        "README provider table is stale: run `PYTHONPATH=addon python -m fcc.core.catalog_table`"
    )


def test_the_table_command_finds_the_readme_by_default() -> None:
    """`python -m fcc.core.catalog_table --check` with no --readme: the repository's README."""
    assert table_main(["--check"]) == 0


def test_replace_block_keeps_everything_outside_the_markers() -> None:
    readme = f"intro\n{START_MARKER}\nold\n{END_MARKER}\noutro\n"
    assert replace_block(readme, "NEW\n") == f"intro\n{START_MARKER}\nNEW\n{END_MARKER}\noutro\n"
    with pytest.raises(ValueError):
        replace_block("no markers here", "NEW\n")


def test_table_main_check_fails_on_stale_readme_and_rewrite_fixes_it(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# t\n{START_MARKER}\nstale\n{END_MARKER}\n", encoding="utf-8")
    assert table_main(["--check", "--readme", str(readme)]) == 1
    assert table_main(["--readme", str(readme)]) == 0
    assert table_main(["--check", "--readme", str(readme)]) == 0
    assert readme.read_text(encoding="utf-8").startswith(f"# t\n{START_MARKER}\n| id |")
