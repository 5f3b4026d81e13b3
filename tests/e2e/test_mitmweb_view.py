"""mitmweb, seen in a real (headless) browser: a recorded Claude Code exchange
replayed through fcc shows both sides and fcc's content views.

    mitmweb -s addon/fcc.py --set fcc_replay=recordings/cli-tool-use (fast)
    client -> the recorded request -> fcc -> the replay transport
    chromium --headless --dump-dom / --screenshot  http://127.0.0.1:<web_port>/#/flows/<id>/...

Checked: the client flow (original URL, usage in its comment) and its linked
upstream flow; the "Anthropic SSE", "OpenAI chat SSE" and "Anthropic request"
views chosen automatically and rendered by the browser; the `~comment` filter
finding the upstream side. Screenshots go to test-output/mitmweb/ (git-ignored).

Needs Debian's `chromium` (apt-get install -y chromium); without it the test
skips, or fails when the environment variable CI is set. FCC_CHROMIUM names
another binary. mitmweb 11.0.2 needs no token; from 11.1 mitmweb asks for the
`?token=` it prints at start-up (and fcc repeats), which the test takes from the
log exactly as a user would. mitmweb 12's content-view API answers
{view_name, text} where 11 answered {description, lines}.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import re
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from mitmproxy.io import FlowReader

from fcc.record.recording import decode_body, load_document
from tests.e2e.test_recordings import replay_env
from tests.support.procs import REPO_ROOT, ADDON_SCRIPT, free_port

pytestmark = pytest.mark.e2e

RECORDING = REPO_ROOT / "recordings" / "cli-tool-use" / "0001-main-200.yaml"
OUTPUT = REPO_ROOT / "test-output" / "mitmweb"
BROWSER_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--window-size=1400,1000",
)
_NOT_SENT = frozenset({"host", "content-length", "connection", "accept-encoding", "authorization"})


def find_chromium() -> str | None:
    explicit = os.environ.get("FCC_CHROMIUM")
    if explicit:
        return explicit
    return next((found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))), None)


@pytest.fixture(scope="module")
def chromium() -> str:
    binary = find_chromium()
    if binary is None:
        reason = "no chromium found (apt-get install -y chromium, or set FCC_CHROMIUM)"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {reason}", pytrace=False)
        pytest.skip(reason)
    return binary


@dataclass
class Web:
    proxy_port: int
    web_port: int
    process: subprocess.Popen[bytes]
    log: Path
    token: str = ""

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def page(self, fragment: str) -> str:
        """The address a user opens: with mitmweb's token when it has one, then the UI route."""
        query = f"?token={self.token}" if self.token else ""
        return f"{self.api}/{query}#/{fragment}"

    def client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.Client(trust_env=False, timeout=30, headers=headers)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def mitmweb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    work = tmp_path_factory.mktemp("mitmweb")
    beside = Path(sys.executable).with_name("mitmweb")
    binary = str(beside) if beside.is_file() else shutil.which("mitmweb")
    assert binary, "mitmweb not found next to the interpreter or on PATH"
    proxy_port, web_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k.upper() not in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")}
    for name, value in replay_env(RECORDING.parent / "routes.yaml").items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    env.update(HOME=str(work), PYTHONUNBUFFERED="1")
    log = work / "mitmweb.log"
    command = [
        binary, "-s", str(ADDON_SCRIPT), "-p", str(proxy_port), "--listen-host", "127.0.0.1",
        "--set", f"confdir={work / 'confdir'}", "--set", "web_open_browser=false", "--set", f"web_port={web_port}",
        "--set", "web_host=127.0.0.1", "--set", f"fcc_replay={RECORDING}", "--set", "fcc_replay_speed=fast",
    ]
    with open(log, "wb") as sink:
        process = subprocess.Popen(command, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=sink,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    web = Web(proxy_port, web_port, process, log)
    try:
        deadline = time.monotonic() + 20
        while not (_listening(proxy_port) and _listening(web_port) and "fcc addon active" in web.output()):
            assert process.poll() is None, f"mitmweb exited {process.returncode}:\n{web.output()}"
            assert time.monotonic() < deadline, f"mitmweb did not start:\n{web.output()}"
            time.sleep(0.1)
        announced = re.search(r"Web server listening at (http://\S+)", web.output())
        assert announced, web.output()
        web.token = urllib.parse.parse_qs(urllib.parse.urlsplit(announced.group(1)).query).get("token", [""])[0]
        hint = re.search(r"fcc: inspector \(mitmweb\) at (http://\S+)", web.output())
        assert hint and hint.group(1) == announced.group(1), web.output()  # fcc tells the same address, token included
        yield web
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@pytest.fixture(scope="module")
def flows(mitmweb: Web) -> dict[str, dict]:
    """Replay the recorded request through mitmweb; the client flow and its upstream flow."""
    doc = load_document(RECORDING)
    request = doc["client_request"]
    headers = {k: v for k, v in request["headers"].items() if k not in _NOT_SENT}
    with httpx.Client(trust_env=False, timeout=30) as proxy, mitmweb.client() as web:
        answer = proxy.post(f"http://127.0.0.1:{mitmweb.proxy_port}{request['path']}", headers=headers,
                            content=decode_body(request["body"]))
        assert answer.status_code == 200, answer.text
        assert answer.content == decode_body(doc["client_response"]["body"])
        deadline = time.monotonic() + 10
        while True:
            listed = web.get(f"{mitmweb.api}/flows").json()
            if len(listed) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    by_comment = {}
    for flow in listed:
        kind = "upstream" if flow["comment"].startswith("fcc upstream of") else "client"
        by_comment[kind] = flow
    assert set(by_comment) == {"client", "upstream"}, (listed, mitmweb.output())
    return by_comment


def content_view(web: Web, flow_id: str, message: str) -> tuple[str, str]:
    """(name of the view mitmweb chose, its text), from mitmweb 11's or 12's content API."""
    with web.client() as client:
        answer = client.get(f"{web.api}/flows/{flow_id}/{message}/content/Auto.json").json()
    if "view_name" in answer:  # mitmweb >= 12
        return answer["view_name"], answer["text"]
    return answer["description"], "\n".join("".join(part[1] for part in line) for line in answer["lines"])


def browse(chromium: str, url: str, *action: str) -> str:
    """One headless chromium run (its own profile); returns stdout. Retries once with more virtual time."""
    for budget in (5000, 15000):
        with tempfile.TemporaryDirectory(prefix="fcc-chromium-") as profile:
            done = subprocess.run(
                [chromium, *BROWSER_FLAGS, f"--user-data-dir={profile}", f"--virtual-time-budget={budget}", *action, url],
                capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL,
            )
        if done.returncode == 0 and (action[0] != "--dump-dom" or "flow-table" in done.stdout or "Anthropic" in done.stdout):
            return done.stdout
    raise AssertionError(f"chromium failed ({done.returncode}): {done.stderr[-2000:]}")


def screenshot(chromium: str, url: str, name: str) -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / name
    path.unlink(missing_ok=True)
    browse(chromium, url, f"--screenshot={path}")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 15_000, f"{path} is only {len(data)} bytes: a blank page?"
    return path


def test_client_and_upstream_flows_are_linked(flows: dict[str, dict]) -> None:
    client, upstream = flows["client"], flows["upstream"]
    assert client["request"]["path"] == "/v1/messages?beta=true"  # the original URL, not the engine's token URL
    assert client["comment"] == "fcc main: default -> vllm/fake-model | 200 in=11 out=7"
    assert upstream["comment"] == f"fcc upstream of {client['id']}: attempt 1/1 vllm/fake-model -> 200"
    assert upstream["request"]["path"] == "/v1/chat/completions" and upstream["response"]["status_code"] == 200
    assert client["marked"] and upstream["marked"]


def test_mitmwebs_save_writes_both_sides_as_a_flow_file(mitmweb: Web, flows: dict[str, dict]) -> None:
    """The web UI's "Save" downloads /flows/dump: it must hold plain flows mitmproxy reads back."""
    with mitmweb.client() as client:  # mitmweb's token where it has one (>= 11.1)
        answer = client.get(f"{mitmweb.api}/flows/dump")
    assert answer.status_code == 200, mitmweb.output()[-3000:]
    saved = {f.id: f for f in FlowReader(io.BytesIO(answer.content)).stream()}
    client_flow, upstream_flow = saved[flows["client"]["id"]], saved[flows["upstream"]["id"]]
    assert client_flow.request.path == "/v1/messages?beta=true"
    assert client_flow.metadata["fcc_upstream_flows"] == [upstream_flow.id]
    assert client_flow.metadata["fcc_summary"]["served_by"] == "vllm/fake-model"
    assert upstream_flow.metadata["fcc_upstream_of"] == client_flow.id
    assert upstream_flow.request.path == "/v1/chat/completions" and upstream_flow.response.status_code == 200
    assert "Addon error" not in mitmweb.output()


def test_content_views_are_chosen_automatically(mitmweb: Web, flows: dict[str, dict]) -> None:
    client, upstream = flows["client"]["id"], flows["upstream"]["id"]
    name, text = content_view(mitmweb, client, "response")
    assert name == "Anthropic SSE"
    assert "[1] tool_use Bash  id=call_rec0001" in text and '"command": "echo fcc-recorded"' in text
    assert content_view(mitmweb, client, "request")[0] == "Anthropic request"
    assert content_view(mitmweb, upstream, "response")[0] == "OpenAI chat SSE"
    assert content_view(mitmweb, upstream, "request")[0] == "JSON"


def test_browser_shows_the_anthropic_sse_view(chromium: str, mitmweb: Web, flows: dict[str, dict]) -> None:
    url = mitmweb.page(f"flows/{flows['client']['id']}/response")
    dom = browse(chromium, url, "--dump-dom")
    assert "Anthropic SSE" in dom, dom[-3000:]
    assert "tool_use Bash" in dom and "echo fcc-recorded" in dom and "stop_reason: tool_use" in dom
    screenshot(chromium, url, "client-response-anthropic-sse.png")


def test_browser_shows_the_request_and_the_upstream_side(chromium: str, mitmweb: Web, flows: dict[str, dict]) -> None:
    request_url = mitmweb.page(f"flows/{flows['client']['id']}/request")
    dom = browse(chromium, request_url, "--dump-dom")
    assert "Anthropic request" in dom and "tools (3): Bash, Edit, Read" in dom, dom[-3000:]
    screenshot(chromium, request_url, "client-request-anthropic-request.png")
    upstream_url = mitmweb.page(f"flows/{flows['upstream']['id']}/response")
    dom = browse(chromium, upstream_url, "--dump-dom")
    assert "OpenAI chat SSE" in dom and "finish_reason tool_calls" in dom, dom[-3000:]
    screenshot(chromium, upstream_url, "upstream-response-openai-sse.png")


def test_comment_filter_finds_the_upstream_side(chromium: str, mitmweb: Web, flows: dict[str, dict]) -> None:
    url = mitmweb.page("flows?s=" + urllib.parse.quote('~comment "fcc upstream"'))
    dom = browse(chromium, url, "--dump-dom")
    assert "/v1/chat/completions" in dom and "/v1/messages" not in dom, dom[-3000:]
    screenshot(chromium, url, "filter-upstream.png")
