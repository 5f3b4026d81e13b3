"""The habits CI keeps: ruff and mypy pass on the tree, so land.sh's unit run catches a finding before CI does.

Both run as the README's Test section says; a finding fails here with the command that shows and fixes it.
Where the tool is not installed the test fails and says how to install it (`pip install -e '.[test]'`).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
LINTED = ("addon", "tests", "bench")


def _require(module: str) -> None:
    # Never a skip: CI runs the same check, and a skip here would let a finding reach main unseen.
    if importlib.util.find_spec(module) is None:
        pytest.fail(f"{module} is not installed in this environment: pip install -e '.[test]'")


def test_ruff_finds_nothing() -> None:
    _require("ruff")
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", *LINTED],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (
        f"ruff check {' '.join(LINTED)} found problems; `ruff check --fix {' '.join(LINTED)}` repairs most, the "
        f"rules are in pyproject.toml [tool.ruff]:\n{done.stdout[-6000:]}{done.stderr[-2000:]}"
    )


def test_mypy_finds_nothing() -> None:
    _require("mypy")
    from mitmproxy.version import VERSION

    if not VERSION.startswith("11."):
        # Types are checked against the stack the main CI run pins (mitmproxy 11.0.2); fcc's adapters for
        # mitmproxy 12 (contentviews) are typed against 11's API and would read as errors here.
        pytest.skip(f"mypy runs against mitmproxy 11 (this is {VERSION})")
    done = subprocess.run([sys.executable, "-m", "mypy"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (
        "mypy found type errors; run `mypy` from the repository root (settings in pyproject.toml [tool.mypy], "
        f"strict on fcc.core):\n{done.stdout[-6000:]}{done.stderr[-2000:]}"
    )


# A path a comment, docstring or document names: under a top-level folder of the repository, the package
# (fcc/...), or the research checkout beside it (../shared/...).
_CITED = re.compile(
    r"(?<![\w./-])((?:\.\./shared/)?(?:addon|tests|bench|recordings|docs|\.ci|fcc|research)/[\w./-]*\w\.(?:py|md|ya?ml|toml))"
)


def _cited_paths() -> list[tuple[str, str]]:
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    found = []
    for name in tracked.split():
        if not name.endswith((".py", ".md", ".yaml", ".yml", ".toml")) or name.startswith("recordings/") and name.count("/") > 1:
            continue
        text = (REPO_ROOT / name).read_text(encoding="utf-8", errors="replace")
        found.extend((name, match) for match in _CITED.findall(text))
    return found


def _exists(cited: str) -> bool | None:
    if cited.startswith("../shared/"):
        shared = REPO_ROOT.parent / "shared"
        return (shared / cited.removeprefix("../shared/")).exists() if shared.is_dir() else None
    if cited.startswith("research/"):
        return False  # the research notes are not in the repository: cite them as ../shared/research/...
    return (REPO_ROOT / cited).exists() or (REPO_ROOT / "addon" / cited).exists()


def test_comments_cite_only_files_that_exist() -> None:
    cited = _cited_paths()
    assert len(cited) > 20, "the scan found almost no citations; the pattern is broken"
    missing = sorted({f"{source}: {path}" for source, path in cited if _exists(path) is False})
    assert not missing, "these cite files that do not exist (moved or renamed?):\n  " + "\n  ".join(missing)
