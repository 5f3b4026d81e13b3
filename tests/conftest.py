"""Test-wide setup: make the `fcc` package importable from a plain checkout."""

import sys
from pathlib import Path

ADDON_DIR = Path(__file__).resolve().parent.parent / "addon"
if str(ADDON_DIR) not in sys.path:
    sys.path.insert(0, str(ADDON_DIR))

# Harness fixtures (scripted_upstream, mitmdump_factory) for every test module.
pytest_plugins = ["tests.support.upstream", "tests.support.procs", "tests.support.redis_server"]
