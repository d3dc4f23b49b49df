"""Which devices this machine trains on, asked of a short-lived child process.

The dashboard process never imports torch (seconds of start-up, and an exit that would wait
for it), so the device list the form offers comes from a child that does: once per process (the
devices a process sees do not change while it runs), so an app made again in one process (the
dashboard's tests make hundreds) does not pay torch's import again (~1.4 s of CPU each).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

CODE = (
    "import json; from engine.training.device import available_devices; "
    "print(json.dumps(available_devices()))"
)
ROOT = Path(__file__).resolve().parents[1]

_found: list[tuple[str, str]] | None = None
"""This process's answer, once a child gave one (a failed child is asked again next time)."""


async def available_devices() -> list[tuple[str, str]] | None:
    """``[(spec, label), ...]`` from :func:`engine.training.device.available_devices`, or None
    when the child failed (the form keeps its default choices)."""
    global _found
    if _found is None:
        _found = await _ask_a_child()
    return None if _found is None else list(_found)


async def _ask_a_child() -> list[tuple[str, str]] | None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CODE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        cwd=str(ROOT),
    )
    try:
        out, _ = await proc.communicate()
    except asyncio.CancelledError:
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        return None
    return [(str(value), str(label)) for value, label in json.loads(out)]
