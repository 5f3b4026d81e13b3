"""Re-make the Codex CLI sessions in this directory with fcc's own recorder.

    python recordings/make_codex_sessions.py [--codex PATH] [session ...]

Each session runs the real Codex CLI (`codex exec`, a fresh CODEX_HOME with the offline
config of tests/e2e/test_codex_cli.py) against `mitmdump -s addon/fcc.py --set
fcc_record=recordings/<session>`, with Codex's models routed to `vllm/fake-model` served by
a ScriptedUpstream playing the session's script. The directory is replaced. The CLI is
found like the e2e tests find it: --codex, FCC_CODEX_BIN, <repo>/.fcc-tools, PATH.

Sessions:
    codex-tool-use   gpt-5.5 profile: an exec_command call (`echo`), Codex runs it, then the answer
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "addon")]

from tests.support.codex_cli import find_codex, run_codex  # noqa: E402
from tests.support.procs import run_mitmdump  # noqa: E402
from tests.support.upstream import ScriptedUpstream  # noqa: E402
from tests.support.upstream_responses import openai_text_stream, openai_tool_call_stream  # noqa: E402

MODEL = "fake-model"
ROUTES = f"# Recorded with: Codex's models routed to a ScriptedUpstream posing as vLLM (VLLM_BASE_URL).\nmodels:\n  codex: vllm/{MODEL}\n"

SESSIONS = {
    "codex-tool-use": {
        "model": "gpt-5.5",
        "prompt": "Run `echo fcc-recorded` and tell me what it printed.",
        "script": [
            openai_tool_call_stream("exec_command", {"cmd": "echo fcc-recorded"}, id="call_rec0001",
                                    text_before="I'll run it.", model=MODEL),
            openai_text_stream("The command printed fcc-recorded.", model=MODEL),
        ],
    },
}


def record(name: str, codex: str) -> Path:
    session = SESSIONS[name]
    target = REPO / "recordings" / name
    if target.exists():
        shutil.rmtree(target)
    work = Path(tempfile.mkdtemp(prefix=f"fcc-rec-{name}-"))
    routes = work / "routes.yaml"
    routes.write_text(ROUTES)
    with ScriptedUpstream(default=openai_text_stream("(extra request: the script ran out)", model=MODEL)) as upstream:
        upstream.script(*session["script"])
        env = {"VLLM_BASE_URL": upstream.url("/v1"), "FCC_CONFIG": None, "MODEL": None, "MODEL_CODEX": None}
        args = ["--set", f"fcc_config={routes}", "--set", f"fcc_record={target}"]
        with run_mitmdump(args, env, workdir=work / "mitmdump") as proxy:
            run = run_codex(codex, proxy.base_url, work / "codex", session["model"], session["prompt"])
            time.sleep(1.0)  # the last exchange is written by the response hook, after the client has it
            print(f"== {name}: codex exit {run.returncode}; {len(upstream.requests)} upstream requests")
            print(run.last_message[-1500:])
            if run.returncode != 0:
                print(run.stdout[-3000:], run.stderr[-3000:], proxy.output()[-5000:], sep="\n")
    files = sorted(p.name for p in target.iterdir())
    print(f"   {target.relative_to(REPO)}: {', '.join(files)}")
    shutil.rmtree(work, ignore_errors=True)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--codex", help="path of the Codex CLI binary")
    parser.add_argument("sessions", nargs="*", help=f"any of {', '.join(SESSIONS)} (default: all)")
    options = parser.parse_args()
    unknown = [name for name in options.sessions if name not in SESSIONS]
    if unknown:
        parser.error(f"unknown session(s) {', '.join(unknown)}; known: {', '.join(SESSIONS)}")
    codex = options.codex
    if codex is None:
        codex, detail = find_codex()
        if codex is None:
            print(detail, file=sys.stderr)
            return 2
    for name in options.sessions or list(SESSIONS):
        record(name, codex)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
