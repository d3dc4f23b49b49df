"""Sampling what the trainer process uses: CPU, memory and, on an NVIDIA GPU, the device's load.

``psutil`` reads the process (portable: /proc on Linux, the kernel's calls elsewhere) and
``nvidia-ml-py`` (NVML, the library behind ``nvidia-smi``; the ``gpu`` extra) the GPU, without
a CUDA context of its own. The sampler is rate-limited by the caller's clock
(:meth:`SystemSampler.due`), so a run of a million epochs a second costs one clock read per
epoch and one sample per second. Either library missing or failing only leaves its fields out:
a run never fails because it could not be measured. No torch.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

from engine.core.events import SystemSampled

SAMPLE_EVERY_S = 1.0
"""At most one sample a second."""


class SystemSampler:
    """Samples this process (and ``device``'s GPU when it is ``cuda``/``cuda:N``)."""

    def __init__(self, device: str = "cpu", every_s: float = SAMPLE_EVERY_S) -> None:
        self.every_s = every_s
        self._next = time.monotonic() + every_s
        self._proc: Any = None
        with contextlib.suppress(ImportError, OSError):
            import psutil

            self._proc = psutil.Process()
            self._proc.cpu_percent(None)  # primes it: the first sample covers the first second
        self._nvml: Any = None
        self._gpu: Any = None
        if device.startswith("cuda"):
            self._open_gpu(device)

    def _open_gpu(self, device: str) -> None:
        try:
            import pynvml

            pynvml.nvmlInit()
            self._gpu = nvml_handle(pynvml, device)
            self._nvml = pynvml
        except Exception:  # noqa: BLE001 - no NVML (not installed, no driver): no GPU fields
            self._nvml = self._gpu = None

    def due(self) -> bool:
        """Whether a second has passed since the last sample (one clock read)."""
        return time.monotonic() >= self._next

    def sample(self, epoch: int, elapsed_s: float) -> SystemSampled | None:
        """The process's use now (None without psutil)."""
        self._next = time.monotonic() + self.every_s
        proc = self._proc
        if proc is None:
            return None
        try:
            with proc.oneshot():
                cpu = float(proc.cpu_percent(None))
                rss = int(proc.memory_info().rss)
                threads = int(proc.num_threads())
        except Exception:  # noqa: BLE001 - psutil's errors vary by platform: no sample then
            return None
        util = mem = total = None
        if self._gpu is not None:
            try:
                util = float(self._nvml.nvmlDeviceGetUtilizationRates(self._gpu).gpu)
                info = self._nvml.nvmlDeviceGetMemoryInfo(self._gpu)
                mem, total = int(info.used), int(info.total)
            except Exception:  # noqa: BLE001 - NVML can fail per call (a lost device): skip it
                util = mem = total = None
        return SystemSampled(
            epoch=epoch,
            elapsed_s=elapsed_s,
            cpu_percent=cpu,
            rss_bytes=rss,
            threads=threads,
            gpu_util_percent=util,
            gpu_mem_bytes=mem,
            gpu_mem_total_bytes=total,
        )


def nvml_handle(pynvml: Any, device: str) -> Any:
    """NVML's handle of torch's ``cuda:N``: NVML numbers every GPU of the machine, torch only
    those in ``CUDA_VISIBLE_DEVICES``, in its order (indices or ``GPU-…`` UUIDs)."""
    index = int(device.split(":", 1)[1]) if ":" in device else 0
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")]
    visible = [v for v in visible if v]
    if index < len(visible):
        chosen = visible[index]
        if chosen.isdigit():
            return pynvml.nvmlDeviceGetHandleByIndex(int(chosen))
        return pynvml.nvmlDeviceGetHandleByUUID(chosen)
    return pynvml.nvmlDeviceGetHandleByIndex(index)


def fmt_bytes(n: float) -> str:
    """``312 MB``, ``1.5 GB`` (powers of 1024, as top and nvidia-smi count)."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit in ("B", "KB", "MB") else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # (not reached)


def system_line(sample: SystemSampled) -> str:
    """``trainer cpu 98%  rss 312 MB  12 threads  gpu 87%  mem 1.2/80.0 GB``."""
    parts = [
        f"cpu {sample.cpu_percent:.0f}%",
        f"rss {fmt_bytes(sample.rss_bytes)}",
        f"{sample.threads} thr",
    ]
    if sample.gpu_util_percent is not None:
        parts.append(f"gpu {sample.gpu_util_percent:.0f}%")
    if sample.gpu_mem_bytes is not None and sample.gpu_mem_total_bytes:
        gb = 1024**3
        parts.append(
            f"mem {sample.gpu_mem_bytes / gb:.1f}/{sample.gpu_mem_total_bytes / gb:.1f} GB"
        )
    return "trainer " + "  ".join(parts)
