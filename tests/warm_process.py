"""``python -m engine ARGS`` as a real process that starts with torch already imported.

Tests use :func:`popen` and :func:`run` in place of ``subprocess``'s, and the dashboard's tests
have the product start its trainers and sweeps through :func:`popen` (``warm_trainers`` in
``tests/tui/conftest.py``).

Why: the tests start the command line as a process of its own a few hundred times (a run to
kill, signals, exit codes, what a user sees on stderr), and each paid torch's import: ~1.5 s of
CPU, most of the suite's time on a 2-core machine. Here a warm interpreter per test process
(:mod:`tests.warm_server`) has imported torch once, and each command is a fork of it.

What stays real: the child is a process of its own with its pid (signals, ``kill -9``), its exit
status, the pipes or files given as stdin/stdout/stderr, its own environment and working
directory, and ``engine/__main__.py`` run as ``__main__`` with the engine imported fresh (see
the server's docstring). What differs from an exec: torch (and ``torch._dynamo``, which the
first ``torch.optim`` step imports; tests of what a run imports start their own interpreter) was
imported before the request's environment was set, so each environment that changes what
torch's import reads (thread and allocator settings, the library path, Python's own variables)
has a server of its own (the dashboard's trainers run one core short: ``OMP_NUM_THREADS``), up
to :data:`MAX_SERVERS`; beyond that a command is exec'd as before, and so is every command a
test marks ``fresh=True`` (start-up itself under test: imports, signals landing during them,
the console script).

:class:`WarmPopen` is :class:`subprocess.Popen` with the fork done by the server: ``communicate``,
timeouts, text mode and the rest are Popen's own; waiting reads the exit status the server sends.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODULES = ("engine", "engine.cli.sweep_launch")
"""What the server runs: the command line, and the detached sweep the dashboard starts."""
IMPORT_ENV = ("OMP_", "MKL_", "KMP_", "GOMP_", "OPENBLAS_", "CUDA", "PYTORCH_", "TORCH_", "LD_")
"""Environment variables read while torch is imported: each set of their values has a server."""
PYTHON_ENV = "PYTHON"

MAX_SERVERS = 3
"""Warm servers per test process, one per environment torch's import reads: the test's own and
the one the dashboard gives its trainers (``OMP_NUM_THREADS`` one core short)."""

_servers: dict[frozenset[tuple[str, str]], tuple[subprocess.Popen[bytes], str]] = {}


def _server_for(env: dict[str, str]) -> str | None:
    """The socket of the warm server whose interpreter imported torch with ``env``'s import
    variables (started on first use); None when there are already :data:`MAX_SERVERS`."""
    key = frozenset(_import_env(env).items())
    found = _servers.get(key)
    if found is not None and found[0].poll() is None:
        return found[1]
    if found is None and len(_servers) >= MAX_SERVERS:
        return None
    folder = tempfile.mkdtemp(prefix="linreg-warm-")
    path = os.path.join(folder, "socket")
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "warm_server.py"), path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )
    assert server.stdout is not None and server.stdout.readline() == b"ready\n"
    _servers[key] = (server, path)
    atexit.register(_stop_server, server)
    return path


def _stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.stdin is not None:
        server.stdin.close()  # it leaves when its stdin closes; its children run on
    server.wait(timeout=30)


def _import_env(env: dict[str, str]) -> dict[str, str]:
    """What of ``env`` torch's import or Python's start-up read (``PYTHONPATH`` aside: the child
    puts its entries on ``sys.path`` where Python would)."""
    return {
        k: v
        for k, v in env.items()
        if (k.startswith(IMPORT_ENV) or k.startswith(PYTHON_ENV)) and k != "PYTHONPATH"
    }


class WarmPopen(subprocess.Popen):  # type: ignore[type-arg]
    """A Popen whose child is forked by the warm server (POSIX; the engine command only)."""

    _conn: socket.socket

    def _execute_child(  # type: ignore[override]
        self,
        args: list[str],
        executable: Any,
        preexec_fn: Any,
        close_fds: bool,
        pass_fds: Any,
        cwd: Any,
        env: Any,
        startupinfo: Any,
        creationflags: Any,
        shell: bool,
        p2cread: int,
        p2cwrite: int,
        c2pread: int,
        c2pwrite: int,
        errread: int,
        errwrite: int,
        *rest: Any,
    ) -> None:
        start_new_session = rest[-2]
        path = _server_for(dict(env if env is not None else os.environ))
        assert path is not None, "popen() forks warm only where a server is (_warm_ok)"
        request = {
            "module": args[2],
            "argv": list(args[3:]),
            "cwd": os.path.abspath(cwd if cwd is not None else os.getcwd()),
            "env": dict(env if env is not None else os.environ),
            "new_session": bool(start_new_session),
        }
        fds = [p2cread, c2pwrite, errwrite]
        fds = [fd if fd != -1 else i for i, fd in enumerate(fds)]
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            conn.connect(path)
            socket.send_fds(conn, [json.dumps(request).encode()], fds)
            self.pid = json.loads(conn.recv(4096))["pid"]
        except BaseException:
            conn.close()
            raise
        finally:
            self._close_pipe_fds(p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite)
        self._conn = conn
        self._child_created = True

    def _status(self, block: bool) -> int | None:
        """The child's raw wait status once it has ended (blocking if ``block``), else None."""
        if not select.select([self._conn], [], [], None if block else 0)[0]:
            return None
        data = self._conn.recv(4096)
        self._conn.close()
        if not data:
            raise RuntimeError("the warm server went away before its child ended")
        return int(json.loads(data)["status"])

    def _try_wait(self, wait_flags: int) -> tuple[int, int]:
        status = self._status(block=not wait_flags & os.WNOHANG)
        return (0, 0) if status is None else (self.pid, status)

    def _internal_poll(self, _deadstate: Any = None, **_: Any) -> int | None:
        if self.returncode is None and self._waitpid_lock.acquire(False):
            try:
                if self.returncode is None and not self._conn._closed:  # type: ignore[attr-defined]
                    status = self._status(block=False)
                    if status is not None:
                        self._handle_exitstatus(status)
            finally:
                self._waitpid_lock.release()
        return self.returncode


def _warm_ok(args: Any, kwargs: dict[str, Any]) -> bool:
    """Whether ``args`` is ``python -m MODULE ...`` (:data:`MODULES`) started in a way the
    server can do."""
    if sys.platform != "linux":
        return False
    if not isinstance(args, (list, tuple)) or len(args) < 3:
        return False
    if list(args[:2]) != [sys.executable, "-m"] or args[2] not in MODULES:
        return False
    unsupported = ("executable", "preexec_fn", "pass_fds", "shell", "user", "group", "umask")
    if any(kwargs.get(k) for k in unsupported) or kwargs.get("close_fds") is False:
        return False
    env = kwargs.get("env")
    return _server_for(dict(env if env is not None else os.environ)) is not None


def popen(args: list[str], **kwargs: Any) -> subprocess.Popen:  # type: ignore[type-arg]
    """``subprocess.Popen(args, **kwargs)``, forked warm for ``python -m engine ...``."""
    fresh = kwargs.pop("fresh", False)
    cls = subprocess.Popen if fresh or not _warm_ok(args, kwargs) else WarmPopen
    return cls(args, **kwargs)


def run(
    args: list[str], *, timeout: float | None = None, check: bool = False, **kwargs: Any
) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    """``subprocess.run`` with :func:`popen`: capture_output, input, text and the rest as there."""
    if kwargs.pop("capture_output", False):
        kwargs["stdout"] = kwargs["stderr"] = subprocess.PIPE
    given = kwargs.pop("input", None)
    if given is not None:
        kwargs["stdin"] = subprocess.PIPE
    with popen(args, **kwargs) as proc:
        try:
            out, err = proc.communicate(given, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
        except BaseException:
            proc.kill()
            raise
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    if check:
        done.check_returncode()
    return done
