"""fcc's defaults for a bare `mitmdump -s addon/fcc.py`: the same fcc on every Python.

Without flags fcc is a reverse proxy to Anthropic on 127.0.0.1:8082 with lazy
upstream connects (fcc.launch); whatever the user sets wins, even when it is
mitmproxy's own default (`--mode regular`).

Why this is more than `ctx.options.update` in `configure`: mitmproxy loads `-s`
scripts from a task that first yields one event-loop turn. Up to Python 3.11 that
turn comes before the proxy servers start, so options set by the script's first
`configure` are the ones the servers use. From Python 3.12 mitmproxy (11 and 12)
runs the server start-up as an eager task: it has already read `mode`,
`listen_host` and `listen_port` when the script loads, and changing them then
changes nothing; proxyserver only restarts servers for option changes once it is
running, which is after a wrong server was up. So fcc replaces the process with
the same command plus its defaults as explicit flags (exec keeps the pid), before
the event loop accepts a single connection: with no --listen-host the socket is not
even bound yet (the bind waits for an address lookup in a worker thread); with an
IP address given it is, on that address, and a connection that reaches it in that
moment is reset by the restart, never served. Where a restart is impossible fcc
refuses to start, with one line naming the flags to pass. `check_running` then
verifies what mitmproxy really serves and listens on.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import sys
from collections.abc import Iterable, Mapping

from mitmproxy import ctx, optmanager
from mitmproxy.proxy import mode_specs

from fcc.launch import DEFAULTS, as_flags

log = logging.getLogger("fcc")

SERVER_OPTIONS = frozenset({"mode", "listen_host", "listen_port"})
RESTARTED_ENV = "FCC_RESTARTED_WITH_DEFAULTS"  # set in the re-executed process: never exec twice


def apply_defaults(updated: Iterable[str]) -> None:
    """From the addon's `configure`: fcc's defaults for the options the user left unset.

    `connection_strategy` is always lazy: eager connects every client to the reverse
    target first, and a client is dropped when that target is down although fcc would
    have answered it.
    """
    options, updated = ctx.options, set(updated)
    wanted = {name: value for name, value in DEFAULTS.items() if name in updated and not _user_set(options, name)}
    if "connection_strategy" in updated and options.connection_strategy != "lazy":
        wanted["connection_strategy"] = "lazy"
    if not wanted:
        return
    if SERVER_OPTIONS & wanted.keys() and _servers_set_up_before_fcc():
        if not _errors_logged():  # else start-up ends with them anyway; a restart would only repeat them
            _restart_with({name: wanted[name] for name in DEFAULTS if name in wanted})
        return  # reached when no restart happens: an error line then ends start-up
    options.update(**wanted)


def _user_set(options, name: str) -> bool:
    """Whether the user gave the option a value, even mitmproxy's default (`--mode regular`)."""
    option = getattr(options, "_options", {}).get(name)
    unset = getattr(optmanager, "unset", None)
    if option is None or unset is None:  # private API gone: fall back to "differs from the default"
        return getattr(options, name) != options.default(name)
    return option.value is not unset


def _errors_logged() -> bool:
    """Whether an error was logged during start-up: mitmproxy's errorcheck then exits once servers are up."""
    check = ctx.master.addons.get("errorcheck")
    return bool(getattr(getattr(check, "logger", None), "has_errored", None))


def _servers_set_up_before_fcc() -> bool:
    proxyserver = ctx.master.addons.get("proxyserver")
    if proxyserver is None or getattr(proxyserver, "is_running", True):
        return False  # no servers, or running: proxyserver restarts them itself on a mode change
    servers = getattr(proxyserver, "servers", None)
    return servers is not None and (bool(getattr(servers, "is_updating", False)) or len(servers) > 0)


def _restart_with(wanted: Mapping[str, object]) -> None:
    flags = as_flags(wanted)
    tool = os.path.basename(sys.argv[0]) if sys.argv else ""
    argv = list(getattr(sys, "orig_argv", None) or [])
    if os.name != "posix" or os.environ.get(RESTARTED_ENV) or not tool.startswith("mitm") or len(argv) < 2:
        log.error("fcc: mitmproxy started its servers before loading fcc, so fcc cannot apply its defaults; "
                  "pass them yourself: %s -s addon/fcc.py %s", tool or "mitmdump", " ".join(flags))
        return
    log.info("fcc: mitmproxy set up its servers before loading fcc (Python >= 3.12); restarting with %s", " ".join(flags))
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    # sys.executable, not argv[0]: a bare "python3" there would be looked up on PATH again.
    os.execve(sys.executable, [sys.executable, *argv[1:], *flags], {**os.environ, RESTARTED_ENV: "1"})


def listening_on() -> list[tuple[str, int]]:
    """(host, port) of every socket mitmproxy's proxy servers listen on."""
    proxyserver = ctx.master.addons.get("proxyserver")
    if proxyserver is None:
        return []
    return [(str(addr[0]), int(addr[1])) for addr in proxyserver.listen_addrs()]


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def check_running(auth_token: str | None) -> None:
    """From the addon's `running`: what mitmproxy really serves must be what its options say.

    An error logged here ends start-up (mitmproxy's errorcheck) with that one line.
    """
    proxyserver = ctx.master.addons.get("proxyserver")
    if proxyserver is None or not ctx.options.server:
        return
    serving = sorted(str(server.mode.full_spec) for server in proxyserver.servers)
    wanted = sorted(str(mode_specs.ProxyMode.parse(m).full_spec) for m in ctx.options.mode)
    if serving != wanted:
        log.error("fcc: mitmproxy serves %s, not the configured %s; pass the modes on the command line (%s)",
                  ", ".join(serving) or "nothing", ", ".join(wanted), " ".join(as_flags({"mode": ctx.options.mode})))
        return
    exposed = [f"{host}:{port}" for host, port in listening_on() if not _loopback(host)]
    if exposed and not auth_token:
        log.error("fcc: listening on %s (not loopback) needs FCC_AUTH_TOKEN (or auth_token_env in routes.yaml)",
                  ", ".join(exposed))
    web_hint()


def web_hint() -> None:
    """Under mitmweb: one line saying where the inspector is and how to get in."""
    if ctx.master.addons.get("webaddon") is None or not hasattr(ctx.options, "web_port"):
        return
    url = getattr(ctx.master, "web_url", None) or f"http://{ctx.options.web_host}:{ctx.options.web_port}/"
    if getattr(ctx.options, "web_password", ""):
        log.info("fcc: inspector (mitmweb) at %s: log in with your web_password", url)
    elif "?token=" in url:
        log.info("fcc: inspector (mitmweb) at %s (open this address with its token; "
                 "--set web_password=... sets a fixed one)", url)
    else:
        log.info("fcc: inspector (mitmweb) at %s", url)
