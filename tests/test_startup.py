"""fcc's start-up defaults without processes: what `fcc run`/`fcc web` add to the
command line, and what the addon applies inside mitmproxy. The real processes
are in tests/e2e/test_default_start.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.test import taddons

from fcc import cli
from fcc import launch
from fcc.mitm import startup

ALL = ["--mode", "reverse:https://api.anthropic.com", "--listen-host", "127.0.0.1", "--listen-port", "8082"]


@pytest.fixture(autouse=True)
def empty_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.mitmproxy/config.yaml of the developer's
    return tmp_path


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], ALL),
        (["-p", "9000"], ALL[:4]),
        (["-p9000", "--listen-host", "0.0.0.0"], ALL[:2]),
        (["--listen-port=9000", "--mode=regular", "--set", "listen_host=::1"], []),
        (["-m", "reverse:http://127.0.0.1:1234", "-q"], ALL[2:]),
        (["--set", "mode=upstream:http://proxy:3128", "--set", "termlog_verbosity=warn"], ALL[2:]),
    ],
)
def test_launch_flags_fill_in_only_what_the_user_left_unset(args: list[str], expected: list[str]) -> None:
    assert launch.launch_flags(args) == expected


def test_launch_flags_respect_mitmproxys_config_file(empty_home: Path, tmp_path: Path) -> None:
    (empty_home / ".mitmproxy").mkdir()
    (empty_home / ".mitmproxy" / "config.yaml").write_text("listen_port: 9999\nmode: [regular]\n")
    assert launch.launch_flags([]) == ALL[2:4]
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "config.yml").write_text("listen_host: 0.0.0.0\n")
    assert launch.launch_flags(["--set", f"confdir={other}"]) == ALL[:2] + ALL[4:]
    (other / "config.yml").write_text("listen_host: [unclosed\n")
    assert launch.launch_flags(["--set", f"confdir={other}"]) == []  # mitmproxy will name the problem


def test_fcc_run_and_web_exec_mitmproxy_with_the_flags_first(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []
    monkeypatch.setattr(cli, "_tool", lambda name: f"/bin/{name}")
    monkeypatch.setattr(cli.os, "execv", lambda path, argv: (seen.append(argv), (_ for _ in ()).throw(SystemExit(0))))
    for command in ("run", "web"):
        with pytest.raises(SystemExit):
            cli.main([command, "-p", "9000", "--set", "fcc_record=rec"])
    script = str(cli.ADDON_SCRIPT)
    assert seen[0] == ["/bin/mitmdump", "-s", script, *ALL[:4], "-p", "9000", "--set", "fcc_record=rec"]
    assert seen[1][0] == "/bin/mitmweb" and seen[1][1:] == seen[0][1:]


def test_the_addon_applies_defaults_only_to_unset_options_and_always_connects_lazily() -> None:
    asyncio.run(_apply_defaults_in_a_mitmproxy_context())  # mitmproxy 12's master wants a running loop


async def _apply_defaults_in_a_mitmproxy_context() -> None:
    with taddons.context(Proxyserver()) as tctx:
        tctx.options.update(listen_port=9000, mode=["regular"])  # both set by the user; regular is the default value
        startup.apply_defaults(tctx.options.keys())
        assert tctx.options.mode == ["regular"] and tctx.options.listen_port == 9000
        assert tctx.options.listen_host == "127.0.0.1" and tctx.options.connection_strategy == "lazy"
    with taddons.context(Proxyserver()) as tctx:
        startup.apply_defaults(tctx.options.keys())
        assert tctx.options.mode == ["reverse:https://api.anthropic.com"] and tctx.options.listen_port == 8082
        tctx.options.update(connection_strategy="eager")
        startup.apply_defaults({"connection_strategy"})
        assert tctx.options.connection_strategy == "lazy"


def test_as_flags_spell_every_mode() -> None:
    assert launch.as_flags({"mode": ["regular", "socks5@1080"], "listen_port": 1}) == [
        "--mode", "regular", "--mode", "socks5@1080", "--listen-port", "1"]
