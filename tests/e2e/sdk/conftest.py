"""One mitmdump + fcc for the whole SDK-driven suite (starting one costs ~1 s).

Routing is configured the way a user does it: a routes.yaml for the custom
providers, environment variables for the tiers, base URLs and keys (all read
at startup). Every provider has its own ScriptedUpstream, so a test sees only
its own provider's requests and a cooldown learned by one provider never slows
another.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml

from fcc.config import env_base_url_name
from tests.e2e.sdk.support import CAPTURE_KEYS, PROVIDER_SECRET, UNROUTED, E2EUpstream, Fcc, hermetic_env
from tests.support.procs import run_mitmdump
from tests.support.upstream import refused_port
from tests.support.upstream_responses import Hang, Response, anthropic_text_stream, openai_error, openai_text_stream

# Upstreams by provider id; the value is the path prefix of its base URL.
OPENAI_STYLE = {
    "vllm": "/v1",  # VLLM_BASE_URL
    "keyed": "/keyed/v1",
    "rl": "/v1",
    "flaky": "/v1",
    "slow": "/v1",
    "fbprimary": "/v1",
    "fbsecondary": "/v1",
    "deepseek": "",  # the real DeepSeek base URL has no /v1
    "openrouter": "/api/v1",
    "mistral": "/v1",
    "ollama": "/v1",
    "openai": "/v1",
    "openai_responses": "/v1",  # OpenAI's Responses API (Codex passthrough)
    "gemini": "/v1beta/openai",  # Gemini's OpenAI-compatible endpoint
    "llamacpp": "/v1",  # llama-server, keyless
}
# Failure providers fail on every request unless a test scripts otherwise, so a
# retry count that changes never turns a failure case into a success by accident.
FAILING_DEFAULTS: dict[str, Response] = {
    "rl": openai_error(429, "Rate limit reached for requests", error_type="requests", code="rate_limit_exceeded", retry_after=1),
    "flaky": openai_error(500, "The server had an error while processing your request.", error_type="server_error"),
    "slow": Hang(),
    "fbprimary": openai_error(429, "Rate limit reached for requests", error_type="requests", code="rate_limit_exceeded", retry_after=1),
    "fbsecondary": openai_text_stream("Answer from the fallback."),
}
BUILT_IN_URL_ENV = ("vllm", "deepseek", "openrouter", "mistral", "ollama", "openai", "openai_responses", "gemini", "llamacpp")
GEMINI_KEY = "e2e-gemini-key-5772"  # GEMINI_API_KEY, for the gemini/ captures


@pytest.fixture(scope="session")
def fcc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fcc]:
    workdir = tmp_path_factory.mktemp("fcc-sdk-e2e")
    upstreams: dict[str, E2EUpstream] = {}
    try:
        for pid in OPENAI_STYLE:
            default = FAILING_DEFAULTS.get(pid) or openai_text_stream(f"Default answer from {pid}.")
            upstreams[pid] = E2EUpstream(default=default).start()
        upstreams["native"] = E2EUpstream(default=anthropic_text_stream("Default native answer.")).start()
        passthrough = E2EUpstream(default=anthropic_text_stream("Default passthrough answer.", model=UNROUTED)).start()

        def url(pid: str) -> str:
            return upstreams[pid].base_url + OPENAI_STYLE.get(pid, "")

        routes = {
            "providers": {
                "native": {"transport": "anthropic_messages", "base_url": upstreams["native"].base_url},
                "keyed": {"transport": "openai_chat", "base_url": url("keyed"), "api_key_env": "FAKE_KEY"},
                "rl": {"like": "vllm", "base_url": url("rl")},
                "flaky": {"like": "vllm", "base_url": url("flaky")},
                "slow": {"like": "vllm", "base_url": url("slow"), "first_byte_timeout": 2},
                "dead": {"like": "vllm", "base_url": f"http://127.0.0.1:{refused_port()}/v1"},
                "fbprimary": {"like": "vllm", "base_url": url("fbprimary")},
                "fbsecondary": {"like": "vllm", "base_url": url("fbsecondary")},
            },
            "models": {
                # Quirks per route: each target of this tier caps max_tokens its own way.
                "haiku": {"model": "fbprimary/primary-model", "max_tokens_cap": 200,
                          "fallbacks": [{"model": "fbsecondary/backup-model", "max_tokens_cap": 100}]},
            },
        }
        config = workdir / "routes.yaml"
        config.write_text(yaml.safe_dump(routes, sort_keys=False))
        env = hermetic_env()
        env.update(
            MODEL_SONNET="vllm/test-model",
            MODEL_OPUS="native/native-model",
            FAKE_KEY=PROVIDER_SECRET,
            **CAPTURE_KEYS,
            GEMINI_API_KEY=GEMINI_KEY,
            **{env_base_url_name(pid): url(pid) for pid in BUILT_IN_URL_ENV},
        )
        with run_mitmdump(
            ["--set", f"fcc_config={config}"], env=env, mode=f"reverse:{passthrough.base_url}", workdir=workdir
        ) as proc:
            proc.wait_for_output(r"fcc addon active", timeout=10)
            rig = Fcc(proc, upstreams, passthrough)
            yield rig
            for client in rig.clients:
                client.close()
    finally:
        for upstream in upstreams.values():
            upstream.stop()
        if "passthrough" in locals():
            passthrough.stop()



@pytest.fixture(autouse=True)
def _isolated_scripts(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts with empty scripts and must leave the proxy alive and the upstreams healthy."""
    if "fcc" not in request.fixturenames:
        yield
        return
    rig: Fcc = request.getfixturevalue("fcc")
    for upstream in rig.all_upstreams():
        upstream.clear_script()
    yield
    assert rig.proc.is_running(), f"mitmdump died:\n{rig.proc.output()[-3000:]}"
    for upstream in rig.all_upstreams():
        assert not upstream.errors, f"scripted upstream failed internally: {upstream.errors!r}"
