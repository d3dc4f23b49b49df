"""The server behind :mod:`tests.warm_process`: an interpreter that has imported torch (and
``torch._dynamo``, which a ``torch.optim`` optimizer's first step imports), forking a child per
request to run ``python -m engine ARGS`` (or ``-m engine.cli.sweep_launch``).

Run as ``python tests/warm_server.py SOCKET``. It prints ``ready`` once torch is imported and it
listens on the Unix socket ``SOCKET`` (``SOCK_SEQPACKET``: one message per request, file
descriptors passed with it). A request is JSON ``{"module", "argv", "cwd", "env",
"new_session"}`` with the child's stdin, stdout and stderr attached; the reply is ``{"pid"}`` at
once and, on the same connection, ``{"status"}`` (the raw wait status) when the child ends. It
exits when its stdin closes (the test process is gone).

No thread runs here and torch has run no operation, so a fork copies a clean interpreter: the
child's torch starts its thread pool with its first parallel operation, as a fresh process's
does. Everything the server holds is frozen out of the garbage collector before each fork
(:func:`gc.freeze`): a collection in the child (there is one as it exits) would otherwise touch
every object torch made, and copy each page it touches. That took ~1.4 s of CPU per child, more
than the import it saves (a forked ``linreg-tui runs`` ended 1.0-1.4 s after it started; an
exec'd one 0.2 s).

The child becomes what ``python -m engine`` is: its stdio on the given descriptors, the
environment and working directory of the request, ``sys.path[0]`` that directory,
``engine/__main__.py`` (or the module asked for) run as ``__main__``; it ends as the
interpreter ends (an exit code, an uncaught exception's traceback, death by SIGINT on an
unhandled Ctrl-C, threads waited for, atexit handlers), without the teardown of its modules
(:func:`_run_as_main`).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import os
import runpy
import select
import signal
import socket
import sys
import threading
from typing import NoReturn

import torch  # the point of this process: the children start with it imported
import torch._dynamo  # noqa: F401 - what torch.optim's first step imports (~1 s; L-BFGS optima)


def _child(request: dict, fds: list[int], others: list[socket.socket]) -> None:
    """Become ``python -m MODULE ARGV`` (in the forked child; never returns normally).
    ``others``: the connections of other children, let go without closing what they hold."""
    for conn in others:
        conn.detach()
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    if request["new_session"]:
        os.setsid()
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.path[0] = os.getcwd()
    extra = [e for e in os.environ.get("PYTHONPATH", "").split(os.pathsep) if e]
    sys.path[1:1] = [os.path.abspath(e) for e in extra]  # where Python would put them
    # sys.stdin/stdout/stderr are the interpreter's own, made at start-up for descriptors 0-2
    # as the environment asks (PYTHONUNBUFFERED, PYTHONIOENCODING: the same here, or the request
    # would have been exec'd), empty (flushed before the fork), now on the child's descriptors
    sys.argv = ["-m", *request["argv"]]
    _run_as_main(request["module"])


def _run_as_main(module: str) -> NoReturn:
    """Run ``module`` as ``__main__`` (``python -m module``) and end as the interpreter does,
    less its teardown: the exit status of ``sys.exit`` or an uncaught exception (its traceback
    printed by ``sys.excepthook``; an unhandled Ctrl-C dies by SIGINT), non-daemon threads
    waited for, atexit handlers run, stdio flushed (exit 120 if that fails). Tearing down the
    modules would write to every object torch made, copying each page of the ~200 MB the fork
    shares (0.3 s more per child)."""
    code, interrupted = 0, False
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = _exit_status(exc.code)
    except BaseException as exc:  # noqa: BLE001 - what the interpreter does with it, below
        sys.excepthook(type(exc), exc, exc.__traceback__)
        code, interrupted = 1, isinstance(exc, KeyboardInterrupt)
    threading._shutdown()  # type: ignore[attr-defined] - what Py_Finalize calls first
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = 120
    if interrupted:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(code)


def _exit_status(code: object) -> int:
    """The status ``SystemExit(code)`` ends the interpreter with (CPython's rule)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def serve(path: str) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(64)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    waiting: dict[int, socket.socket] = {}
    print("ready", flush=True)
    while True:
        ready, _, _ = select.select([listener, wake_r, sys.stdin], [], [])
        if sys.stdin in ready and not sys.stdin.buffer.read1(1):
            return  # the test process has gone
        if wake_r in ready:
            os.read(wake_r, 4096)
            while waiting:
                pid, status = os.waitpid(-1, os.WNOHANG)
                if pid == 0:
                    break
                conn = waiting.pop(pid, None)
                if conn is not None:
                    with contextlib.suppress(OSError):  # its test process has gone
                        conn.send(json.dumps({"status": status}).encode())
                    conn.close()
        if listener in ready:
            conn, _ = listener.accept()
            message, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
            request = json.loads(message)
            sys.stdout.flush()
            gc.freeze()  # see the module docstring: the child's collections skip torch's objects
            pid = os.fork()
            if pid == 0:
                conn.close()
                listener.close()
                os.close(wake_r)
                os.close(wake_w)
                _child(request, fds, list(waiting.values()))
            for fd in fds:
                os.close(fd)
            waiting[pid] = conn
            conn.send(json.dumps({"pid": pid}).encode())


if __name__ == "__main__":
    serve(sys.argv[1])
