"""How fcc starts: its server defaults and the mitmproxy flags that give them.

Without flags fcc is a reverse proxy to Anthropic on 127.0.0.1:8082; whatever the
user sets (command line, `--set`, mitmproxy's config.yaml) wins. The addon applies
these defaults inside mitmproxy (fcc.mitm.startup); `fcc run`/`fcc web` pass them
as flags up front, so mitmproxy never starts anything else first.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence

import yaml

from fcc.core.anthropic_api import ANTHROPIC_HOST

DEFAULT_MODE = f"reverse:https://{ANTHROPIC_HOST}"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8082

# Used for whichever the user left unset.
DEFAULTS: dict[str, object] = {"mode": [DEFAULT_MODE], "listen_host": DEFAULT_HOST, "listen_port": DEFAULT_PORT}
_FLAG = {"mode": "--mode", "listen_host": "--listen-host", "listen_port": "--listen-port"}


def as_flags(changes: Mapping[str, object]) -> list[str]:
    """Command-line flags that give mitmdump/mitmweb these option values."""
    flags: list[str] = []
    for name, value in changes.items():
        if name == "mode":
            for spec in value:  # type: ignore[attr-defined]
                flags += ["--mode", str(spec)]
        elif name in _FLAG:
            flags += [_FLAG[name], str(value)]
        else:
            flags += ["--set", f"{name}={value}"]
    return flags


def launch_flags(args: Sequence[str]) -> list[str]:
    """For `fcc run`/`fcc web`: flags for the server options the user leaves unset.

    With them mitmproxy starts fcc's servers directly, on every Python, without the
    restart fcc.mitm.startup describes. Unset means: not on the command line (`--mode`/`-m`,
    `--listen-host`, `--listen-port`/`-p`, `--set name=...`) and not in mitmproxy's
    config.yaml. The addon decides again at load time, from mitmproxy's own options.
    """
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("-m", "--mode", action="append")
    parser.add_argument("--listen-host")
    parser.add_argument("-p", "--listen-port")
    parser.add_argument("--set", action="append", default=[])
    try:
        known, _ = parser.parse_known_args(list(args))
    except SystemExit:  # mitmproxy reports bad arguments better
        return []
    given = {name for name in ("mode", "listen_host", "listen_port") if getattr(known, name) is not None}
    settings = dict(item.partition("=")[::2] for item in known.set)
    given |= settings.keys()
    confdir = os.path.expanduser(settings.get("confdir") or "~/.mitmproxy")
    given |= _config_file_keys(confdir)
    return as_flags({name: value for name, value in DEFAULTS.items() if name not in given})


def _config_file_keys(confdir: str) -> set[str]:
    for name in ("config.yaml", "config.yml"):
        path = os.path.join(confdir, name)
        try:
            with open(path, encoding="utf-8") as file:
                data = yaml.safe_load(file)
        except FileNotFoundError:
            continue
        except (OSError, yaml.YAMLError):
            return set(DEFAULTS)  # mitmproxy will complain about it; add nothing that could contradict it
        return set(data) if isinstance(data, dict) else set()
    return set()
