"""linreg-tui's headless engine: config, presets, losses, training as a stream of events.

``import engine`` is cheap and never imports torch or Textual; torch loads when a run starts.

    >>> import engine
    >>> cfg = engine.load_config("default", ["optim.lr=0.1"])
    >>> result = engine.fit(cfg)              # synchronous, for scripts
    >>> async for event in engine.train(cfg):  # async, for apps
    ...     print(event.to_dict())
    >>> run_dir = engine.record(cfg)          # synchronous, keeping a run directory
    >>> engine.load_model(run_dir).predict(x_raw)

The public names are imported on first use (PEP 562 :func:`__getattr__`), so importing any
``engine.*`` module runs only this file's few lines: ``linreg-tui`` installs its quiet Ctrl-C
(:mod:`engine.core.quiet_start`) before any of the command line is imported, and ``import
engine.core.events`` does not load the training loop.
"""

from __future__ import annotations

import sys

if sys.argv[:1] == ["-m"]:  # ``python -m engine`` starting: a Ctrl-C now prints one line
    from engine.core.quiet_start import quiet_interrupts

    quiet_interrupts()

TYPE_CHECKING = False  # ``typing.TYPE_CHECKING`` without importing typing (~2 ms) at start-up
if TYPE_CHECKING:
    import os
    from pathlib import Path

    from engine.config import Config, ConfigError
    from engine.config.presets import list_presets, load_config
    from engine.core.events import EpochEnded, Event, RunFinished, RunStarted
    from engine.runs.model_file import LinearModel
    from engine.training.run import FitResult, Run, fit, train

_LAZY: dict[str, str] = {
    "Config": "engine.config",
    "ConfigError": "engine.config",
    "list_presets": "engine.config.presets",
    "load_config": "engine.config.presets",
    "EpochEnded": "engine.core.events",
    "Event": "engine.core.events",
    "RunFinished": "engine.core.events",
    "RunStarted": "engine.core.events",
    "FitResult": "engine.training.run",
    "Run": "engine.training.run",
    "fit": "engine.training.run",
    "train": "engine.training.run",
}
"""Public name -> the module that defines it, imported when the name is first used."""


def __getattr__(name: str) -> object:
    """``engine.fit``, ``from engine import load_config``: import the defining module now."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


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
    from pathlib import Path

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
