"""CPU cost of translating one Claude Code request, with and without the content memo.

    python bench/request_bench.py [--requests N]

Claude Code sends the same tool list (12-20 tools, ~30 KB) with every turn. fcc keeps the
translated tools and their size for the token estimate in `fcc.core.memo.ContentMemo`,
found by tool names and confirmed by deep equality. This prints, per request, in CPU
microseconds (time.process_time) and as ratios to the floor measured in the same run:

    floor       json.loads of the client's body: what any proxy pays to read it
    cold        translate_request + estimate_input_tokens + encoding the upstream body
                (fcc.core.body_json) with the memos emptied first
    warm        the same with the memos kept, as on every turn after the first

The request is the first /v1/messages body of a real Claude Code capture from
../shared/claude-code/captures when it is there, else a synthetic one of the same shape.
Each iteration parses the body afresh, as the addon does, so no identity shortcut helps.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "addon"))

from fcc.core.catalog import CATALOG  # noqa: E402
from fcc.core.dialects import openai_chat_request  # noqa: E402
from fcc.core import body_json, local_answers  # noqa: E402

CAPTURE = REPO.parent / "shared" / "claude-code" / "captures" / "mitm_quiet_authtoken.jsonl"


def _capture_body() -> bytes | None:
    if not CAPTURE.is_file():
        return None
    for line in CAPTURE.read_text().splitlines():
        record = json.loads(line)
        body = record.get("body") if isinstance(record, dict) else None
        if isinstance(body, str):
            body = json.loads(body)
        if isinstance(body, dict) and body.get("tools"):
            return json.dumps(body).encode()
    return None


def _synthetic_body() -> bytes:
    schema = {"type": "object", "$schema": "http://json-schema.org/draft-07/schema#",
              "properties": {f"arg{i}": {"type": "string", "description": "x" * 120} for i in range(6)},
              "required": ["arg0"], "additionalProperties": False}
    tools = [{"name": f"Tool{i}", "description": "Does a thing. " * 80, "input_schema": schema} for i in range(18)]
    messages = [{"role": "user", "content": "Fix the failing test in the parser module, please."}]
    return json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 32000, "system": "You are Claude Code." * 200,
                       "messages": messages, "tools": tools, "stream": True}).encode()


def _per_call(fn: Callable[[], object], n: int) -> float:
    start = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    raw = _capture_body()
    source = f"capture {CAPTURE.name}" if raw is not None else "synthetic (no ../shared)"
    raw = raw or _synthetic_body()
    profile = CATALOG["deepseek"]
    n = args.requests

    def translate(clear: bool) -> None:
        if clear:
            openai_chat_request._TOOLS_MEMO = type(openai_chat_request._TOOLS_MEMO)()
            local_answers._TOOL_CHARS_MEMO = type(local_answers._TOOL_CHARS_MEMO)()
            body_json.clear()
        request = json.loads(raw)
        body = openai_chat_request.translate_request(request, profile, "deepseek-chat")
        local_answers.estimate_input_tokens(request)
        body_json.encode_body(body, shared_tools=True)  # the bytes sent upstream, as build_request makes them

    def floor() -> None:
        json.loads(raw)

    floor_us = _per_call(floor, n)
    cold_us = _per_call(lambda: translate(True), n) - floor_us
    warm_us = _per_call(lambda: translate(False), n) - floor_us
    tools = len(json.loads(raw)["tools"])
    print(f"request: {source}, {len(raw) / 1024:.1f} KiB, {tools} tools, {n} iterations")
    print(f"floor  (json.loads)            {floor_us:8.1f} us")
    print(f"cold   (memos emptied)         {cold_us:8.1f} us  = {cold_us / floor_us:5.2f}x floor")
    print(f"warm   (every later turn)      {warm_us:8.1f} us  = {warm_us / floor_us:5.2f}x floor")
    print(f"memo saves                     {cold_us - warm_us:8.1f} us per request ({cold_us / max(warm_us, 1e-9):.1f}x)")


if __name__ == "__main__":
    main()
