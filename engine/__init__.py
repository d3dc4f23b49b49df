"""linreg-tui's headless engine: config, presets, losses, training as a stream of events.

``import engine`` is cheap and never imports torch or Textual; torch loads when a run starts.

    >>> import engine
    >>> cfg = engine.load_config("default", ["optim.lr=0.1"])
    >>> result = engine.fit(cfg)              # synchronous, for scripts
    >>> async for event in engine.train(cfg):  # async, for apps
    ...     print(event.to_dict())
    >>> run_dir = engine.record(cfg)          # synchronous, keeping a run directory
    >>> engine.load_model(run_dir).predict(x_raw)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if sys.argv[:1] == ["-m"]:  # ``python -m engine`` starting: a Ctrl-C now prints one line
    from engine.core.quiet_start import quiet_interrupts

    quiet_interrupts()

from engine.config import Config, ConfigError
from engine.config.presets import list_presets, load_config
from engine.core.events import EpochEnded, Event, RunFinished, RunStarted
from engine.training.run import FitResult, Run, fit, train

if TYPE_CHECKING:
    from engine.runs.model_file import LinearModel


def record(config: Config, runs_dir: str | os.PathLike[str] | None = None) -> Path:
    """Train ``config`` in this thread, writing a run directory (see :mod:`engine.runs.store`)
    under ``runs_dir`` (default: the user's runs folder); return the directory."""
    from engine.config.presets import portable_dict
    from engine.runs.store import new_run_dir
    from engine.runs.store import runs_dir as default_runs_dir
    from engine.runs.writer import RunWriter
    from engine.training.trainer import run_training

    path = new_run_dir(default_runs_dir(runs_dir), config.name)
    writer = RunWriter(path, portable_dict(config, config.name))
    try:
        run_training(config, writer, checkpoints=writer)
    except Exception as exc:
        writer.crashed(f"{type(exc).__name__}: {exc}")
        raise
    finally:
        writer.close()
    return path


def load_model(
    run: str | os.PathLike[str], runs_dir: str | os.PathLike[str] | None = None
) -> LinearModel:
    """The saved model of a run (id, prefix, path or ``latest``), loaded with
    ``weights_only=True``; ``.predict(x_raw)`` maps raw feature rows to predictions."""
    from engine.runs.model_file import load_model as load
    from engine.runs.store import resolve_run
    from engine.runs.store import runs_dir as default_runs_dir

    path = Path(run)
    if path.is_file():
        return load(path)
    return load(resolve_run(str(run), default_runs_dir(runs_dir)) / "model.pt")


__all__ = [
    "Config",
    "ConfigError",
    "EpochEnded",
    "Event",
    "FitResult",
    "Run",
    "RunFinished",
    "RunStarted",
    "fit",
    "list_presets",
    "load_config",
    "load_model",
    "record",
    "train",
]
