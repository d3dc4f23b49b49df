"""``linreg-tui serve``: the dashboard in a browser, on textual-serve, behind a token.

textual-serve is an aiohttp server that starts one process per browser tab, with a command line
it is given, and relays the tab's keys and the process's screen over a websocket. Here that
command is the ordinary dashboard (``python -m tui.cli PRESET --set ...``), so a tab is exactly
what a terminal would show, and its runs are trainer processes in their own session: closing the
tab ends that tab's dashboard (as a hangup does), never the run.

textual-serve has no authentication, and whoever reaches its websocket drives a dashboard that
starts processes as this user. So every request (the page, its scripts, the websocket, downloads)
passes an aiohttp middleware that wants the token, compared with :func:`hmac.compare_digest`,
and answers 403 without it. The token comes from ``--token``, else ``$LINREG_TUI_TOKEN``, else
it is generated (:func:`secrets.token_urlsafe`); the URL printed at start carries it as
``?token=...``. The page then sets it as an HttpOnly, SameSite=Strict cookie named after the port,
so the page's own requests (scripts, the websocket) carry it without it being written into them.
``--no-token`` serves without one, and is refused (one line, exit 2) unless the host is a
loopback address: loopback is still open to every user of a shared machine, which is why the
token is on by default there too. Without a token the server also turns away a request whose
``Host`` is not a loopback name (DNS rebinding), and always one whose ``Origin`` is another site
(a web page opening the websocket behind the user's back).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import ipaddress
import os
import re
import secrets
import shlex
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from engine.cli.common import EXIT_OK, Parser, UsageError, add_preset_args, guarded

HELP = "serve the dashboard to a web browser (textual-serve), behind a token"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
TOKEN_ENV = "LINREG_TUI_TOKEN"
"""Where a token may come from instead of ``--token`` (which would show in ``ps``)."""
MIN_TOKEN_CHARS = 16
TOKEN_CHARS = re.compile(r"[A-Za-z0-9._~-]+")
"""Characters a token may use: those that stand for themselves in a URL and in a cookie."""
TOKEN_PARAM = "token"
SHUTDOWN_S = 2.0
"""On Ctrl+C, how long open tabs get before their connections are cut (their dashboards then
quit; their runs go on)."""
EXTRA_HINT = "pip install 'linreg-tui[serve]'"


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1); ``0.0.0.0`` and names are not."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_token(token: str, source: str) -> str:
    """``token`` if it is long enough and URL-safe; else :class:`UsageError` naming ``source``."""
    if len(token) < MIN_TOKEN_CHARS or not TOKEN_CHARS.fullmatch(token):
        raise UsageError(
            f"serve: {source} must be at least {MIN_TOKEN_CHARS} characters from "
            "A-Z a-z 0-9 . _ ~ - (leave it out and one is generated)"
        )
    return token


def choose_token(given: str | None, no_token: bool, host: str, env: dict[str, str]) -> str | None:
    """The token to require: ``--token``, else ``$LINREG_TUI_TOKEN``, else a new one; None with
    ``--no-token``, which only a loopback host may have."""
    if no_token:
        if not is_loopback(host):
            raise UsageError(
                f"serve: --host {host} is not a loopback address, so a token is "
                "required (drop --no-token and one is generated)"
            )
        return None
    if given is not None:
        return check_token(given, "--token")
    if env.get(TOKEN_ENV):
        return check_token(env[TOKEN_ENV], f"${TOKEN_ENV}")
    return new_token()


def new_token() -> str:
    """A random URL-safe token that does not start with "-", so it can be pasted after
    ``--token`` as it is."""
    while (token := secrets.token_urlsafe(32)).startswith("-"):
        pass
    return token


def dashboard_command(preset: str, overrides: Sequence[str]) -> str:
    """The shell command textual-serve runs for each browser tab: the normal dashboard."""
    args = [sys.executable, "-m", "tui.cli", preset]
    for item in overrides:
        args += ["--set", item]
    return shlex.join(args)


def public_url(host: str, port: int, token: str | None) -> str:
    """The URL to open (with the token); a wildcard host is shown as this machine's name."""
    shown = socket.getfqdn() if host in ("0.0.0.0", "::", "") else host
    if ":" in shown:
        shown = f"[{shown}]"
    query = f"?{TOKEN_PARAM}={quote(token, safe='')}" if token else ""
    return f"http://{shown}:{port}/{query}"


Handler = Callable[[Any], Awaitable[Any]]


class Gate:
    """Who may in: the token (in the query or the cookie), a same-site ``Origin``, and without a
    token a loopback ``Host``."""

    def __init__(self, token: str | None) -> None:
        self.token = token
        self.port = 0
        """The port bound (set once listening: ``--port 0`` picks one)."""

    @property
    def cookie(self) -> str:
        """Cookies are per host, not per port: two servers on one host keep separate tokens."""
        return f"linreg_tui_token_{self.port}"

    def _matches(self, given: str | None) -> bool:
        assert self.token is not None
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def refusal(self, request: Any) -> str | None:
        """Why ``request`` is refused, or None to let it through."""
        origin = request.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc.lower() != request.host.lower():
            return "cross-site request"
        if self.token is None:
            hostname = urlsplit(f"//{request.host}").hostname or ""
            return None if is_loopback(hostname) else "not a loopback Host"
        if self._matches(request.query.get(TOKEN_PARAM)) or self._matches(
            request.cookies.get(self.cookie)
        ):
            return None
        return "missing or wrong token"

    def middleware(self) -> Any:
        """The aiohttp middleware: 403 for a refused request; the page sets the cookie."""
        from aiohttp import web

        @web.middleware
        async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
            why = self.refusal(request)
            if why is not None:
                raise web.HTTPForbidden(
                    text=f"403 Forbidden: {why} (linreg-tui serve prints "
                    "the URL to open, with its token)\n"
                )
            response = await handler(request)
            if self.token is not None and request.path == "/" and not response.prepared:
                response.set_cookie(
                    self.cookie, self.token, httponly=True, samesite="Strict", path="/"
                )
            return response

        return gate


def _server_class() -> type:
    """textual-serve's ``Server``, gated, with its page's URLs taken from the request.

    textual-serve writes absolute URLs from the host it was given (``0.0.0.0`` for a wildcard,
    ``127.0.0.1`` where an SSH tunnel's browser says ``localhost``): the page's scripts and
    websocket would then go to another origin, without the cookie. So they are built from the
    ``Host`` the browser used.
    """
    import aiohttp_jinja2
    from aiohttp import web
    from textual_serve.server import Server, to_int

    class GatedServer(Server):  # type: ignore[misc]
        def __init__(self, command: str, gate: Gate) -> None:
            super().__init__(command, title="linreg-tui")
            self.gate = gate

        async def on_startup(self, app: web.Application) -> None:
            """Quiet: textual-serve's banner names its default URL; :func:`serve` prints ours."""

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.insert(0, self.gate.middleware())
            return app

        @aiohttp_jinja2.template("app_index.html")
        async def handle_index(self, request: web.Request) -> dict[str, Any]:
            ws = "wss" if request.scheme == "https" else "ws"
            return {
                "font_size": to_int(request.query.get("fontsize", "16"), 16),
                "app_websocket_url": f"{ws}://{request.host}/ws",
                "config": {"static": {"url": f"{request.scheme}://{request.host}/static/"}},
                "application": {"name": self.title},
            }

    return GatedServer


async def _serve_until_signal(server: Any, host: str, port: int, token: str | None) -> None:
    """Listen, print the URL to open, and serve until SIGINT or SIGTERM."""
    from aiohttp import web

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    # no access log: the URLs hold the token; a tab's websocket is cut after SHUTDOWN_S
    runner = web.AppRunner(await server._make_app(), access_log=None, shutdown_timeout=SHUTDOWN_S)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            why = os.strerror(exc.errno) if exc.errno else str(exc)
            raise UsageError(f"serve: cannot listen on {host}:{port}: {why}") from None
        bound = server.gate.port = runner.addresses[0][1]
        print(f"linreg-tui serve: open {public_url(host, bound, token)}", flush=True)
        if token is None:
            print(
                "  no token: anyone who can reach this loopback port gets the dashboard", flush=True
            )
        print(
            "  Ctrl+C stops the server; runs started from the page keep going "
            "(linreg-tui runs lists them)",
            flush=True,
        )
        await stop.wait()
    finally:
        await runner.cleanup()  # each tab's dashboard quits; its trainer does not


def serve(
    preset: str,
    overrides: list[str],
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    token: str | None = None,
) -> int:
    """Serve the dashboard on ``preset`` with ``overrides`` until SIGINT/SIGTERM; 0 then.

    ``token`` None serves without one, which only a loopback ``host`` may do (else
    :class:`UsageError`). ``port`` 0 takes a free port (the printed URL names it).
    """
    if token is None and not is_loopback(host):
        raise UsageError(f"serve: --host {host} is not a loopback address, so a token is required")
    if token is not None:
        check_token(token, "the token")
    from engine.config.presets import load_config

    load_config(preset, overrides)  # a bad preset is one line here, not one per browser tab
    try:
        server_class = _server_class()
    except ImportError as exc:
        raise UsageError(
            f"serve: needs textual-serve ({exc.name} is missing): {EXTRA_HINT}"
        ) from None
    server = server_class(dashboard_command(preset, overrides), Gate(token))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_until_signal(server, host, port, token))
    return EXIT_OK


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``serve``."""
    add_preset_args(p)
    p.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to listen on (default {DEFAULT_HOST}; any non-loopback "
        "address requires a token)",
    )
    p.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port to listen on (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--token",
        default=None,
        help=f"the token the URL must carry (default ${TOKEN_ENV}, else a new random one)",
    )
    group.add_argument(
        "--no-token", action="store_true", help="serve without a token (loopback hosts only)"
    )


def run(args: argparse.Namespace) -> int:
    """``linreg-tui serve``: choose the token, then :func:`serve`."""
    token = choose_token(args.token, args.no_token, args.host, dict(os.environ))
    return serve(args.preset, args.overrides, args.host, args.port, token)


def build_parser(prog: str = "linreg-tui serve") -> argparse.ArgumentParser:
    """The parser of ``serve`` on its own (``tui.cli`` hands ``serve ...`` to :func:`main`)."""
    p = Parser(prog=prog, description=HELP)
    add_arguments(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``linreg-tui serve ARGS`` (and ``python -m tui.serve ARGS``): the exit code; bad input
    is one line on stderr and exit 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return guarded(lambda: run(build_parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
