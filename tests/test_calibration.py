"""Token-count calibration: learned per provider/model from reported usage, persisted atomically,
applied to count_tokens; checked on real Claude Code request bodies."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from fcc.config import load_config
from fcc.core.local_answers import estimate_input_tokens, estimate_parts
from fcc.engine import calibration
from fcc.engine.calibration import Calibration
from tests.support.captures import count_tokens_requests, message_requests

_PIECES = re.compile(r"\w+|[^\w\s]")


def provider_count(body: dict) -> int:
    """A stand-in for a provider's tokenizer: words and punctuation of what the model reads, plus a
    per-message template cost. Deliberately not fcc's characters-per-token model, so calibration
    has a real difference to learn (like a provider whose tokenizer is denser than 3.6 chars)."""
    parts = [json.dumps(body.get("system", "")), json.dumps(body.get("tools", []))]
    parts += [json.dumps(message.get("content")) for message in body.get("messages", [])]
    return sum(len(_PIECES.findall(part)) for part in parts) + 4 * len(body.get("messages", []))


def bodies_of(*captures: str) -> list[dict]:
    return [record.body for capture in captures for record in message_requests(capture)]


def learned(slug: str) -> Calibration:
    """What fcc knows after the first eight answered requests of a few ordinary sessions."""
    cal = Calibration(None)
    learn = bodies_of("quiet_apikey", "webfetch_https", "bare_authtoken", "compact_trigger", "websearch")[:8]
    for body in learn:
        assert cal.observe(slug, estimate_parts(body), provider_count(body)) or estimate_input_tokens(body) < 200
    return cal


def error(counted: int, truth: int) -> float:
    return abs(counted - truth) / truth


def test_within_ten_percent_after_a_few_requests_on_real_bodies() -> None:
    slug = "openrouter/qwen/qwen3-coder"
    cal = learned(slug)
    check = [b for b in bodies_of("tooluse_bash", "thinking_tool", "subagent_explore", "notoolsearch", "model_sonnet45",
                                  "ia_loud", "maxtokens_stop", "toolsearch") if estimate_input_tokens(b) >= 200]  # fmt: skip
    assert len(check) >= 10
    uncalibrated = [error(estimate_input_tokens(b), provider_count(b)) for b in check]
    assert max(uncalibrated) > 0.10, "the stand-in tokenizer must differ from the raw estimate, or this proves nothing"
    for body in check:
        counted, truth = cal.calibrated(slug, estimate_parts(body)), provider_count(body)
        assert error(counted, truth) <= 0.10, (counted, truth)
    # Biased to over-count slightly: on average above the provider, never far.
    assert sum(cal.calibrated(slug, estimate_parts(b)) - provider_count(b) for b in check) > 0
    assert Calibration(None).weights("ollama/qwen3:8b") == (1.0, 1.0, 0.0)  # nothing learned for others


def test_context_command_total_is_within_ten_percent() -> None:
    """`/context` sends 25 count_tokens pieces and adds them up: the calibrated total tracks the provider's."""
    slug = "deepseek/deepseek-chat"
    cal = learned(slug)
    pieces = [r.body for r in count_tokens_requests("slash_context")]
    assert len(pieces) == 25
    truth = sum(provider_count(body) for body in pieces)
    counted = sum(cal.calibrated(slug, estimate_parts(body), whole_request=False) for body in pieces)
    assert error(counted, truth) <= 0.10, (counted, truth)


def test_persisted_atomically_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "state" / "calibration.json"
    cal = Calibration(path)
    parts = (700.0, 300.0, 0)
    assert cal.observe("a/b", parts, 1300)
    cal.save()
    saved = json.loads(path.read_text())
    assert saved["version"] == 3 and saved["fits"]["a/b"]["n"] == 1
    assert [p.name for p in path.parent.iterdir()] == ["calibration.json"]  # no temporary file left behind
    again = Calibration(path)
    assert again.weights("a/b") == pytest.approx(cal.weights("a/b"))
    assert again.calibrated("a/b", parts) == cal.calibrated("a/b", parts) > 1000
    for _ in range(8):
        again.observe("a/b", parts, 1300)
    assert abs(again.calibrated("a/b", parts) - 1300 * (1 + calibration.BIAS)) < 15  # converges on the provider


def test_prose_and_structured_rates_are_learned_apart() -> None:
    cal = Calibration(None)
    for prose, structured in ((900, 100), (200, 800), (5000, 5000), (800, 300), (20000, 3000), (1500, 9000)):
        cal.observe("a/b", (prose, structured, 0), round(0.8 * prose + 1.5 * structured))
    wp, ws, constant = cal.weights("a/b")
    assert abs(wp - 0.8) < 0.1 and abs(ws - 1.5) < 0.1 and abs(constant) < 50
    # Images are priced as estimated, outside the fit.
    assert cal.calibrated("a/b", (0.0, 0.0, 1600), whole_request=False) == 1600


def test_noise_is_ignored() -> None:
    cal = Calibration(None)
    assert not cal.observe("a/b", (40, 10, 0), 80)  # tiny: template overhead, no signal
    assert not cal.observe("a/b", (8000, 2000, 0), 11)  # a provider reporting nonsense
    assert not cal.observe("a/b", (8000, 2000, 0), 0)
    assert cal.weights("a/b") == (1.0, 1.0, 0.0)


def test_a_broken_file_is_a_fresh_start(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    path.write_text("{not json")
    assert Calibration(path).fits == {}
    path.write_text(json.dumps({"version": 3, "fits": {"a/b": {"xx": [1]}, "c/d": {"xx": [1, 0, 0, 0, 1, 0, 0, 0, 1], "xy": [1.2, 1.2, 0], "n": 3}}}))
    assert list(Calibration(path).fits) == ["c/d"]


def test_count_tokens_uses_the_routed_models_fit(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text("models:\n  default: ollama/qwen3:8b\n  haiku: vllm/small\n")
    config = load_config(str(routes), {})
    previous = calibration.current()
    cal = calibration.use(tmp_path)
    try:
        body = {"model": "claude-opus-5-5", "messages": [{"role": "user", "content": "x" * 3600}]}
        for size in (3600, 36000, 7200, 72000, 3600, 18000):
            sized = {**body, "messages": [{"role": "user", "content": "x" * size}]}
            cal.observe("ollama/qwen3:8b", estimate_parts(sized), round(1.5 * estimate_input_tokens(sized)))
        raw = estimate_input_tokens(body)
        assert abs(calibration.count_tokens(body, config) - 1.5 * raw * (1 + calibration.BIAS)) < 0.03 * raw
        assert calibration.count_tokens({**body, "model": "claude-haiku-5-5"}, config) == raw  # not learned yet
        assert calibration.slug_for("anthropic/ollama/qwen3:8b", config) == "ollama/qwen3:8b"
    finally:
        calibration._CURRENT = previous


def test_default_dir(tmp_path: Path) -> None:
    assert calibration.default_dir({"FCC_STATE_DIR": str(tmp_path)}) == tmp_path
    assert calibration.default_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "fcc"
    assert calibration.default_dir({}) == Path.home() / ".cache" / "fcc"


def test_provider_input_adds_the_cache_split_back() -> None:
    usage = {"input_tokens": 12, "cache_read_input_tokens": 3000, "cache_creation_input_tokens": 500, "output_tokens": 9}
    assert calibration.provider_input(usage) == 3512
