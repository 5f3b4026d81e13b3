"""Credentials never cross providers: with fcc's default reverse target (api.anthropic.com), a path
that is not Anthropic's API is answered by fcc and never forwarded with the client's credentials.

There is no network here: a forwarded request would fail to reach api.anthropic.com (a 529
"upstream error"), and mitmproxy would log its connection attempt; fcc's own 400/404 and a log
without any server connection prove the request never left.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.procs import MitmdumpProcess

pytestmark = pytest.mark.e2e

CLIENT_KEY = "sk-" + "openai-client-key-must-stay-home-000000"


@pytest.mark.parametrize(("path", "body", "shape"), [
    ("/v1/responses", {"model": "gpt-5.5", "input": "hi", "stream": True}, "openai"),
    ("/v1/chat/completions", {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}, "openai"),
    ("/some/unknown/path", {"x": 1}, "anthropic"),
])
def test_foreign_paths_are_not_forwarded_to_anthropic(
    path: str, body: dict, shape: str, mitmdump_factory: Callable[..., MitmdumpProcess], tmp_path: Path
) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text("models:\n  opus: vllm/some-model\n")  # no codex/default route: gpt-5.5 has nowhere to go
    proxy = mitmdump_factory(env={"FCC_CONFIG": str(routes), "MODEL": None, "MODEL_CODEX": None})  # default mode
    proxy.wait_for_output("fcc addon active", timeout=15)
    with httpx.Client(trust_env=False, timeout=30) as client:
        answer = client.post(proxy.base_url + path, json=body,
                             headers={"authorization": f"Bearer {CLIENT_KEY}", "x-api-key": CLIENT_KEY})
    assert answer.status_code in (400, 404), answer.text
    assert answer.headers["content-type"].startswith("application/json")
    payload = answer.json()
    if shape == "openai":
        assert payload["error"]["message"].startswith("fcc: ")
    else:
        assert payload["type"] == "error" and payload["error"]["message"].startswith("fcc: ")
    log = proxy.output()
    # A forwarded request shows as "server connect ..." or "error establishing server connection".
    assert "server conn" not in log, log
