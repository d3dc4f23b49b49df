"""The server behind :mod:`tests.warm_process`: an interpreter that has imported torch (and
``torch._dynamo``, which a ``torch.optim`` optimizer's first step imports), forking a child per
request to run ``python -m engine ARGS``.

Run as ``python tests/warm_server.py SOCKET``. It prints ``ready`` once torch is imported and it
listens on the Unix socket ``SOCKET`` (``SOCK_SEQPACKET``: one message per request, file
descriptors passed with it). A request is JSON ``{"argv", "cwd", "env", "new_session"}`` with
the child's stdin, stdout and stderr attached; the reply is ``{"pid"}`` at once and, on the same
connection, ``{"status"}`` (the raw wait status) when the child ends. It exits when its stdin
closes (the test process is gone).

No thread runs here and torch has run no operation, so a fork copies a clean interpreter: the
child's torch starts its thread pool with its first parallel operation, as a fresh process's
does. The child becomes what ``python -m engine`` is: its stdio on the given descriptors, the
environment and working directory of the request, ``sys.path[0]`` that directory,
``engine/__main__.py`` run as ``__main__``; its exit (an exit code, an uncaught exception's
traceback, death by SIGINT on an unhandled Ctrl-C, atexit handlers) is the interpreter's own.
"""

from __future__ import annotations

import contextlib
import json
import os
import runpy
import select
import signal
import socket
import sys

import torch  # the point of this process: the children start with it imported
import torch._dynamo  # noqa: F401 - what torch.optim's first step imports (~1 s; L-BFGS optima)


def _child(request: dict, fds: list[int], others: list[socket.socket]) -> None:
    """Become ``python -m engine ARGV`` (in the forked child; never returns normally).
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
    runpy.run_module("engine", run_name="__main__", alter_sys=True)
    sys.exit(0)


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
