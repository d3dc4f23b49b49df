"""Which devices this machine trains on, asked of a short-lived child process.

The dashboard process never imports torch (seconds of start-up, and an exit that would wait
for it), so the device list the form offers comes from a child that does.
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


async def available_devices() -> list[tuple[str, str]] | None:
    """``[(spec, label), ...]`` from :func:`engine.training.device.available_devices`, or None
    when the child failed (the form keeps its default choices)."""
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
