"""Users and tokens: the `users` section, authentication (403, never 401), route and provider
access, per-user limits (requests per minute, tokens per day, budgets) in the in-process state."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from fcc import users
from fcc.cli import main as cli_main
from fcc.config import ConfigError, load_config
from fcc.core.errors import AnthropicError
from fcc.engine import quota, shared_state
from fcc.router import route_model

ALICE, BOB = "fcc-alice-" + "a" * 30, "fcc-bob-" + "b" * 30
ENV = {"OPENROUTER_API_KEY": "k" * 20, "DEEPSEEK_API_KEY": "k" * 20}


def write_routes(tmp_path: Path, extra: dict) -> Path:
    routes = {
        "models": {"opus": "deepseek/deepseek-chat", "sonnet": {"model": "ollama/qwen3", "fallbacks": ["openrouter/qwen/qwen3-coder:free"]},
                   "haiku": "ollama/qwen3-small"},
        **extra,
    }
    path = tmp_path / "routes.yaml"
    path.write_text(yaml.safe_dump(routes))
    return path


def team(tmp_path: Path, **alice: object) -> dict:
    return {"users": {
        "alice": {"token_sha256": users.token_digest(ALICE), **alice},
        "bob": {"token_sha256": users.token_digest(BOB)},
    }}


@pytest.fixture(autouse=True)
def fresh_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shared_state, "STATE", shared_state.MemoryState())


# ------------------------------------------------------------------- config


def test_users_are_read_with_hashed_tokens_and_limits(tmp_path: Path) -> None:
    config = load_config(str(write_routes(tmp_path, team(tmp_path, routes=["sonnet"], providers=["ollama"],
                                                           requests_per_minute=5, tokens_per_day=1000,
                                                           budget_usd_per_day=2.5))), ENV)
    alice, bob = config.users
    assert (alice.name, alice.routes, alice.providers) == ("alice", frozenset({"sonnet"}), frozenset({"ollama"}))
    assert (alice.requests_per_minute, alice.tokens_per_day, alice.budget_usd_per_day) == (5, 1000, 2.5)
    assert alice.token_sha256 == users.token_digest(ALICE) and ALICE not in repr(config)
    assert bob.routes is None and not bob.limited


def test_users_file_relative_to_routes_yaml(tmp_path: Path) -> None:
    (tmp_path / "team.yaml").write_text(yaml.safe_dump(team(tmp_path)))
    config = load_config(str(write_routes(tmp_path, {"users_file": "team.yaml"})), ENV)
    assert [u.name for u in config.users] == ["alice", "bob"]


@pytest.mark.parametrize(("entry", "message"), [
    ({"token_sha256": "not-a-digest"}, "users.alice.token_sha256: must be the sha256 hex digest"),
    ({"token_sha256": users.token_digest(ALICE), "routes": ["gpt"]}, "users.alice.routes: unknown route 'gpt'"),
    ({"token_sha256": users.token_digest(ALICE), "requests_per_minute": 0}, "users.alice.requests_per_minute"),
    ({"token_sha256": users.token_digest(ALICE), "password": "x"}, "users.alice.password"),
    ({"token_sha256": users.token_digest(BOB)}, "users.bob: same token as user 'alice'"),  # keys sorted
])
def test_user_mistakes_are_one_clear_line(tmp_path: Path, entry: dict, message: str) -> None:
    routes = {"users": {"bob": {"token_sha256": users.token_digest(BOB)}, "alice": entry}}
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(str(write_routes(tmp_path, routes)), ENV)


def test_shared_state_and_metrics_settings(tmp_path: Path) -> None:
    config = load_config(str(write_routes(tmp_path, {"shared_state": {"url": "redis://r:6379/1", "prefix": "team:"},
                                                     "metrics": {"listen": "0.0.0.0:9464"}})), ENV)
    assert (config.shared_state, config.shared_state_prefix, config.metrics_listen) == ("redis://r:6379/1", "team:", "0.0.0.0:9464")
    plain = load_config(str(write_routes(tmp_path, {})), {**ENV, "FCC_REDIS_URL": "redis://other:6379/0"})
    assert plain.shared_state == "redis://other:6379/0" and plain.metrics_listen is None
    with pytest.raises(ConfigError, match="shared_state"):
        load_config(str(write_routes(tmp_path, {"shared_state": "http://nope"})), ENV)
    assert load_config(str(write_routes(tmp_path, {"metrics": {"listen": 9464}})), ENV).metrics_listen == "127.0.0.1:9464"
    with pytest.raises(ConfigError, match="metrics.listen"):
        load_config(str(write_routes(tmp_path, {"metrics": {"listen": "localhost"}})), ENV)


def test_fcc_token_prints_a_token_and_the_entry_that_stores_its_hash(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["token", "carol"]) == 0
    out = capsys.readouterr().out
    token = out.split("\n")[1].strip()
    entry = yaml.safe_load(out.split("routes.yaml:\n", 1)[1])
    assert token.startswith("fcc-") and len(token) > 40
    (carol,) = users.parse_users(entry["users"], "users")
    assert carol.token_sha256 == users.token_digest(token)
    assert token not in out.split("routes.yaml:")[1]  # the stored entry has the hash only


# ------------------------------------------------------------ authentication


def test_loopback_default_needs_no_token() -> None:
    assert users.authenticate({}, (), None) is users.LOCAL


def test_single_token_mode() -> None:
    assert users.authenticate({"x-api-key": "s3cret-token"}, (), "s3cret-token").name == "default"
    refused = users.authenticate({"x-api-key": "wrong"}, (), "s3cret-token")
    assert isinstance(refused, AnthropicError) and refused.status == 403 and refused.type == "permission_error"


def test_each_user_by_their_token_and_403_otherwise(tmp_path: Path) -> None:
    config = load_config(str(write_routes(tmp_path, team(tmp_path))), ENV)
    assert users.authenticate({"x-api-key": ALICE}, config.users, None).name == "alice"
    assert users.authenticate({"authorization": f"Bearer {BOB}"}, config.users, None).name == "bob"
    for headers in ({}, {"x-api-key": "fcc-mallory"}, {"x-api-key": users.token_digest(ALICE)}, {"authorization": "Bearer "}):
        refused = users.authenticate(headers, config.users, None)
        assert isinstance(refused, AnthropicError)
        assert (refused.status, refused.type) == (403, "permission_error")  # 401 would be retried for minutes
        assert "proxy token" in refused.message


# -------------------------------------------------------------------- access


def test_a_user_without_the_route_gets_a_clear_403(tmp_path: Path) -> None:
    config = load_config(str(write_routes(tmp_path, team(tmp_path, routes=["sonnet", "haiku"]))), ENV)
    alice = config.users[0]
    refused = users.restrict(alice, route_model("claude-opus-4-5", config))
    assert isinstance(refused, AnthropicError) and refused.status == 403
    assert refused.message == ("fcc: user 'alice' may not use the 'opus' route (model 'claude-opus-4-5'); "
                               "allowed routes: haiku, sonnet")
    assert users.restrict(alice, route_model("claude-sonnet-4-5", config)).tier == "sonnet"


def test_providers_narrow_the_targets_or_refuse(tmp_path: Path) -> None:
    config = load_config(str(write_routes(tmp_path, team(tmp_path, providers=["openrouter"]))), ENV)
    alice = config.users[0]
    sonnet = users.restrict(alice, route_model("claude-sonnet-4-5", config))
    assert [t.slug for t in sonnet.targets] == ["openrouter/qwen/qwen3-coder:free"]  # the fallback only
    refused = users.restrict(alice, route_model("claude-haiku-4-5", config))
    assert isinstance(refused, AnthropicError) and refused.status == 403
    assert "may not use provider ollama" in refused.message and "allowed providers: openrouter" in refused.message


# -------------------------------------------------------------------- limits


def test_requests_per_minute_per_user(tmp_path: Path) -> None:
    config = load_config(str(write_routes(tmp_path, team(tmp_path, requests_per_minute=2))), ENV)
    alice, bob = config.users
    route = route_model("claude-sonnet-4-5", config)

    async def scenario() -> list:
        return [await quota.admit(alice, route) for _ in range(3)] + [await quota.admit(bob, route)]

    first, second, third, bobs = asyncio.run(scenario())
    assert first.tier == second.tier == bobs.tier == "sonnet"
    assert isinstance(third, AnthropicError) and third.status == 429 and third.type == "rate_limit_error"
    assert "over 2 requests per" in third.message
    assert 1 <= int(third.headers["retry-after"]) <= 60


def test_tokens_per_day_and_budget_are_refused_until_the_reset(tmp_path: Path) -> None:
    config = load_config(str(write_routes(tmp_path, team(tmp_path, tokens_per_day=1000, budget_usd_per_month=1.0))), ENV)
    alice, bob = config.users
    route = route_model("claude-sonnet-4-5", config)

    async def scenario() -> list:
        seen = [await quota.admit(alice, route)]
        quota.record_usage("alice", "ollama/qwen3", 900, 99, None)
        await quota.settled()
        seen.append(await quota.admit(alice, route))  # 999 of 1000
        quota.record_usage("alice", "ollama/qwen3", 1, 0, 0.5)
        await quota.settled()
        seen.append(await quota.admit(alice, route))
        seen.append(await quota.admit(bob, route))
        return seen

    first, below, over, bobs = asyncio.run(scenario())
    assert not isinstance(first, AnthropicError) and not isinstance(below, AnthropicError)
    assert isinstance(over, AnthropicError) and over.status == 429
    assert "its 1000 tokens for today" in over.message
    assert int(over.headers["retry-after"]) > 60  # Claude Code stops at once instead of retrying for minutes
    assert not isinstance(bobs, AnthropicError)


def test_monthly_budget_in_catalog_prices(tmp_path: Path) -> None:
    config = load_config(str(write_routes(tmp_path, team(tmp_path, budget_usd_per_month=1.0))), ENV)
    alice = config.users[0]
    route = route_model("claude-opus-4-5", config)

    async def scenario() -> object:
        quota.record_usage("alice", "deepseek/deepseek-chat", 10, 10, 1.0)
        await quota.settled()
        return await quota.admit(alice, route)

    refused = asyncio.run(scenario())
    assert isinstance(refused, AnthropicError) and "$1 budget for this month" in refused.message
