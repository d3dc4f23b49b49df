"""End to end in a real browser: ``linreg-tui serve`` (textual-serve behind a token), driven by
Debian's chromium through Playwright, with no browser download (``executable_path``).

The server is a real subprocess on a free loopback port with its own runs folder. The page's
terminal is xterm.js painting on a canvas, so the screen is read from xterm's own buffer: an
init script catches the terminal object when textual-serve's script stores it (``this.terminal
= new Terminal(...)``, the bundle's only such assignment). Requests without the token, or with a
wrong one, are checked with plain urllib. Needs chromium (``.ci/run`` installs it) and
Playwright (the test extra): without them the browser test fails and says so, it never skips.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from engine.runs.store import list_runs, read_status, run_state
from tests.e2e.test_tmux import LONG  # a run that goes on until something stops it
from tests.eventually import eventually
from tests.runs_helpers import epochs_logged

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SERVE = [sys.executable, "-m", "tui.serve"]
TOKEN_ENV = "LINREG_TUI_TOKEN"

CATCH_TERMINAL = """
Object.defineProperty(Object.prototype, "terminal", {
  configurable: true,
  set(value) {
    Object.defineProperty(this, "terminal",
                          {value, writable: true, configurable: true, enumerable: true});
    window.__linregTerminal = value;
  },
});
"""
"""Runs before the page's scripts: keeps the xterm.js terminal textual-serve creates."""

READ_SCREEN = """() => {
  const term = window.__linregTerminal;
  if (!term) return null;
  const buffer = term.buffer.active, rows = [];
  for (let y = 0; y < term.rows; y++) {
    const line = buffer.getLine(buffer.viewportY + y);
    rows.push(line ? line.translateToString(true) : "");
  }
  return rows.join("\\n");
}"""
"""The terminal's visible rows, as text (None before the terminal exists)."""


class Served:
    """A ``linreg-tui serve`` subprocess and the lines it has printed."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [*SERVE, *args],
            cwd=ROOT,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.url: str = eventually(
            self._url, timeout=60, interval=0.05, message="the server to print its URL"
        )

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def _url(self) -> str | None:
        for line in self.lines:
            if found := re.search(r"open (http://\S+)", line):
                return found.group(1)
        if self.proc.poll() is not None:
            raise AssertionError(
                f"the server exited ({self.proc.returncode}) before its URL: {''.join(self.lines)}"
            )
        return None

    @property
    def base(self) -> str:
        """The URL without its query (no token)."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def token(self) -> str:
        return parse_qs(urlsplit(self.url).query)["token"][0]

    def stop(self) -> int:
        """SIGINT, as Ctrl+C: the server and its dashboards leave; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
            raise AssertionError("the server did not stop on SIGINT within 20 s") from None


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """Start servers with their own runs folder and config; stop them, and any run left
    going by a failed test, afterwards."""
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "LINREG_TUI_RUNS_DIR": str(tmp_path / "runs"),
    }
    env.pop(TOKEN_ENV, None)
    started: list[Served] = []

    def _start(*args: str, token_env: str | None = None) -> Served:
        served = Served(list(args), {**env, TOKEN_ENV: token_env} if token_env else env)
        started.append(served)
        return served

    yield _start
    for served in started:
        served.stop()
    for run in list_runs(tmp_path / "runs"):
        if run.state == "running":
            with contextlib.suppress(OSError, TypeError):
                os.kill(run.status["pid"], signal.SIGKILL)


def http_status(url: str, headers: dict[str, str] | None = None) -> int:
    """The status of a plain GET (no browser, no cookie unless given)."""
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=headers or {}), timeout=20
        ) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_requests_without_the_token_are_refused(start: Callable[..., Served]) -> None:
    token = secrets.token_urlsafe(24)
    served = start(*LONG, "--port", "0", token_env=token)  # the token from $LINREG_TUI_TOKEN
    assert served.token == token
    assert urlsplit(served.url).hostname == "127.0.0.1"
    base = served.base
    for path in (
        "/",
        "/?token=",
        f"/?token={token[:-1]}x",
        f"/?token={token}x",
        "/static/js/textual.js",
        "/ws",
        "/download/anything",
    ):
        assert http_status(base + path) == 403, path
    assert http_status(f"{base}/?token={token}") == 200
    cookie = {"Cookie": f"linreg_tui_token_{urlsplit(base).port}={token}"}
    assert http_status(f"{base}/static/js/textual.js", cookie) == 200
    wrong_cookie = {"Cookie": f"linreg_tui_token_{urlsplit(base).port}={token}x"}
    assert http_status(f"{base}/static/js/textual.js", wrong_cookie) == 403
    # a page on another site cannot use the browser's cookie to open the websocket
    assert http_status(f"{base}/ws", {**cookie, "Origin": "http://evil.example"}) == 403
    assert served.stop() == 0


def test_without_a_token_only_loopback_names_and_same_site_pages_get_in(
    start: Callable[..., Served],
) -> None:
    served = start(*LONG, "--port", "0", "--no-token")
    assert "token" not in served.url
    port = urlsplit(served.url).port
    assert http_status(served.url) == 200
    assert http_status(served.url, {"Host": f"localhost:{port}"}) == 200
    # DNS rebinding: a hostile name pointed at 127.0.0.1 arrives with its own Host
    assert http_status(served.url, {"Host": f"evil.example:{port}"}) == 403
    assert http_status(f"{served.base}/ws", {"Origin": "http://evil.example"}) == 403


def test_a_non_loopback_host_requires_a_token() -> None:
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    for args in (["--host", "0.0.0.0", "--no-token"], ["--host", "0.0.0.0", "--token", "short"]):
        out = subprocess.run(
            [*SERVE, *args, "--port", "0"],
            cwd=ROOT,
            env=env,
            text=True,
            capture_output=True,
            timeout=60,
        )
        assert out.returncode == 2, out
        assert len(out.stderr.strip().splitlines()) == 1 and "token" in out.stderr, out.stderr
        assert out.stdout == ""


def test_a_non_loopback_host_gets_a_generated_token(start: Callable[..., Served]) -> None:
    served = start("--host", "0.0.0.0", "--port", "0")
    assert len(served.token) >= 32
    port = urlsplit(served.url).port
    assert http_status(f"http://127.0.0.1:{port}/") == 403
    assert http_status(f"http://127.0.0.1:{port}/?token={served.token}") == 200


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc's parent links)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = stat.read_text()
            fields = text[text.rindex(")") + 2 :].split()
            if fields[0] != "Z":
                parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def _browser() -> tuple[Any, str]:
    """Playwright's sync API and Debian's chromium, or a failure saying how to get them."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed (apt-get install -y chromium; .ci/run does it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed (pip install -e '.[test]')")
    return sync_playwright, chromium


def test_the_dashboard_in_a_browser_starts_a_run_that_outlives_the_tab(
    start: Callable[..., Served], tmp_path: Path
) -> None:
    sync_playwright, chromium = _browser()
    runs = tmp_path / "runs"
    served = start(*LONG, "--port", "0", f"--token={secrets.token_urlsafe(24)}")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            context.add_init_script(CATCH_TERMINAL)
            # the page links a Google font; CI has no internet, so fail that request at once
            context.route(
                re.compile(r"^https?://fonts\.(googleapis|gstatic)\.com/"),
                lambda route: route.abort(),
            )
            page = context.new_page()
            response = page.goto(served.url)
            assert response is not None and response.status == 200

            def screen_shows(*texts: str, timeout: float) -> str:
                def shown() -> str | None:
                    text = page.evaluate(READ_SCREEN)
                    return text if text and all(t in text for t in texts) else None

                try:
                    return eventually(
                        shown, timeout=timeout, interval=0.2, message=f"the page to show {texts}"
                    )
                except AssertionError:
                    if page.evaluate("window.__linregTerminal === undefined"):
                        raise AssertionError(
                            "textual-serve's page created no terminal where "
                            "this test looks for it (this.terminal)"
                        ) from None
                    raise AssertionError(
                        f"the page never showed {texts}; it showed:\n{page.evaluate(READ_SCREEN)}"
                    ) from None

            screen = screen_shows("Settings", "ready: s starts", "s Start", timeout=90)
            assert "loss" in screen and "Early stopping" in screen
            dashboards = descendants(served.proc.pid)
            assert dashboards, "the tab's dashboard runs under the server"

            page.evaluate("window.__linregTerminal.focus()")
            page.keyboard.press("s")
            events = eventually(
                lambda: next(runs.glob("*/events.jsonl"), None),
                timeout=90,
                interval=0.1,
                message="a run's events.jsonl in the runs folder",
            )
            run_dir = events.parent
            eventually(
                lambda: epochs_logged(run_dir) >= 5,
                timeout=90,
                interval=0.1,
                message="epochs in the run's events.jsonl",
            )
            screen_shows("running", timeout=60)
            trainer = int(read_status(run_dir)["pid"])
            assert os.getsid(trainer) == trainer != os.getsid(served.proc.pid), (
                "the trainer leads a session of its own: the tab's end does not reach it"
            )

            page.close()  # the tab goes: its dashboard quits, the run does not
            eventually(
                lambda: not descendants(served.proc.pid),
                timeout=30,
                interval=0.1,
                message="the tab's dashboard to quit once the tab was closed",
            )
        finally:
            browser.close()
    before = epochs_logged(run_dir)
    eventually(
        lambda: epochs_logged(run_dir) > before + 10,
        timeout=60,
        interval=0.1,
        message="the run to keep training after its tab was closed",
    )
    assert run_state(read_status(run_dir)) == "running"
    assert served.stop() == 0
    assert run_state(read_status(run_dir)) == "running", "stopping the server leaves the run"
    os.kill(trainer, signal.SIGTERM)  # a clean stop, as x in the dashboard
    eventually(
        lambda: read_status(run_dir).get("state") == "finished",
        timeout=60,
        interval=0.1,
        message="the run to finish after SIGTERM",
    )
