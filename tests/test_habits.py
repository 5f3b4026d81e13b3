"""The habits CI keeps: ruff (and mypy) pass on the tree, so land.sh's unit run catches a finding before CI does.

Both run as the README's Test section says; a finding fails here with the command that shows and fixes it.
Where the tool is not installed the test skips locally and fails under CI (`pip install -e '.[test]'`
installs both).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
LINTED = ("addon", "tests", "bench")


def _require(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        message = f"{module} is not installed: pip install -e '.[test]'"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def test_ruff_finds_nothing() -> None:
    _require("ruff")
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", *LINTED],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (
        f"ruff check {' '.join(LINTED)} found problems; `ruff check --fix {' '.join(LINTED)}` repairs most, the "
        f"rules are in pyproject.toml [tool.ruff]:\n{done.stdout[-6000:]}{done.stderr[-2000:]}"
    )
