"""linreg-tui's headless engine: config, presets, losses, training as a stream of events.

``import engine`` is cheap and never imports torch or Textual; torch loads when a run starts.

    >>> import engine
    >>> cfg = engine.load_config("default", ["optim.lr=0.1"])
    >>> result = engine.fit(cfg)              # synchronous, for scripts
    >>> async for event in engine.train(cfg):  # async, for apps
    ...     print(event.to_dict())
"""

from engine.config import Config, ConfigError
from engine.events import EpochEnded, Event, RunFinished, RunStarted
from engine.presets import list_presets, load_config
from engine.run import FitResult, Run, fit, train

__all__ = [
    "Config", "ConfigError", "EpochEnded", "Event", "FitResult", "Run", "RunFinished",
    "RunStarted", "fit", "list_presets", "load_config", "train",
]
