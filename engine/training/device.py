"""Pick the torch device from ``train.device`` and name it for display."""

from __future__ import annotations

import platform

import torch

from engine.config import ConfigError


def _unavailable(spec: str, reason: str) -> ConfigError:
    return ConfigError(
        f"train.device: {spec} requested but {reason}",
        key="train.device",
        reason=reason,
        where="train.device",
    )


def resolve_device(spec: str) -> torch.device:
    """``auto`` prefers cuda, then mps, then cpu; an explicit device must exist."""
    cuda_ok = torch.cuda.is_available()
    mps_ok = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if spec == "auto":
        return torch.device("cuda" if cuda_ok else "mps" if mps_ok else "cpu")
    if spec.startswith("cuda"):
        if not cuda_ok:
            raise _unavailable(spec, "no CUDA GPU is available (use auto or cpu)")
        dev = torch.device(spec)
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise _unavailable(spec, f"only {count} CUDA GPU(s) exist (cuda:0..cuda:{count - 1})")
        return dev
    if spec == "mps" and not mps_ok:
        raise _unavailable(spec, "MPS is not available (use auto or cpu)")
    return torch.device(spec)


def device_name(device: torch.device) -> str:
    """A human name: the GPU's model for cuda, the processor for cpu."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple MPS"
    return platform.processor() or platform.machine() or "CPU"


def available_devices() -> list[tuple[str, str]]:
    """``(spec, label)`` of every device this machine offers, for the dashboard's selector."""
    out = [("auto", "auto"), ("cpu", "cpu")]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            out.append((f"cuda:{i}", f"cuda:{i} {torch.cuda.get_device_name(i)}"))
    if bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available():
        out.append(("mps", "mps"))
    return out
