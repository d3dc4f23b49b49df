"""Continue a run from its checkpoint, in the same run directory.

The checkpoint holds the weights, the optimiser's state, the shuffling generator and the
early-stopping state after some epoch k (:func:`engine.training.trainer.training_state`), so
the resumed run repeats exactly the epochs k+1, k+2, ... an uninterrupted run would have run. The
event log is cut back to epoch k when the resumed run starts
(:class:`engine.runs.writer.RunWriter`), so readers see one consistent history; a resume that
fails to start leaves the run as it was. Only ``train.*`` and ``early_stopping.*`` may change on
resume: more epochs, more patience; changing the data, loss or optimiser would be a different
run.

A resume that cannot go on changes nothing: a ``config.yaml`` edited since the checkpoint (a
key outside ``train.*``/``early_stopping.*`` that differs from the checkpoint's own config) and
a log damaged before its last line are refused here, before the run's writer touches a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.config import Config, parse_override
from engine.core.errors import RunError
from engine.runs.status import RunStatus

RESUMABLE_SECTIONS = ("train", "early_stopping")


def prepare_resume(run: Path, overrides: list[str]) -> tuple[Config, dict[str, Any] | None]:
    """Check ``run`` can be resumed; return its config (with ``overrides``) and checkpoint.

    Refuses a run that is still going, and overrides outside ``train.*``/``early_stopping.*``.
    A run with no checkpoint yet (killed in its first seconds) starts again from epoch 1.
    """
    from engine.config.presets import load_config
    from engine.runs.checkpoint import load_checkpoint
    from engine.runs.log import RunLog

    status = RunStatus.read(run)
    if status.run_state == "running":
        raise RunError(
            f"run {run.name} is still running (pid {status.pid} on "
            f"{status.host}): stop it first, or watch it"
        )
    for text in overrides:
        path, _ = parse_override(text)
        if path[0] not in RESUMABLE_SECTIONS:
            raise RunError(
                f"--set {text[:80]}: resume may change only train.* and "
                "early_stopping.* keys; start a new run with 'linreg-tui train "
                f"{run / 'config.yaml'} --set ...'"
            )
    cfg = load_config(str(run / "config.yaml"), overrides)
    state = load_checkpoint(run / "checkpoint.pt") if (run / "checkpoint.pt").exists() else None
    if state is not None:
        if (
            not isinstance(state.get("epoch"), int)
            or isinstance(state["epoch"], bool)
            or state["epoch"] < 0
        ):
            raise RunError(
                f"{run.name}/checkpoint.pt: not a linreg-tui checkpoint (its epoch "
                f"is {str(state.get('epoch'))[:20]})"
            )
        _check_same_run(run, cfg, state)
    RunLog(run).read()  # a damaged line (not a torn last one): refused, naming its line
    if state is not None and state["epoch"] >= cfg.train.epochs:
        done = state["epoch"]
        raise RunError(
            f"run {run.name} already ran {done} epochs (train.epochs is "
            f"{cfg.train.epochs}): resume with --set train.epochs=N, N > {done}"
        )
    return cfg, state


def _differences(old: Any, new: Any, key: str = "") -> list[str]:
    """The dotted keys where two config mappings differ (outside the resumable sections)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in [*old, *(k for k in new if k not in old)]:
            if not key and k in RESUMABLE_SECTIONS:
                continue
            out += _differences(old.get(k), new.get(k), f"{key}.{k}" if key else str(k))
        return out
    return [] if old == new else [key]


def _check_same_run(run: Path, cfg: Config, state: dict[str, Any]) -> None:
    """Refuse a config that is not the checkpoint's (``config.yaml`` edited since)."""
    saved = state.get("config")
    if not isinstance(saved, dict):
        raise RunError(f"{run / 'checkpoint.pt'}: not a linreg-tui checkpoint (no config)")
    changed = _differences(saved, cfg.to_dict())
    if changed:
        key = changed[0]
        raise RunError(
            f"{run.name}/config.yaml: {key} differs from the checkpoint's config"
            f"{f' (and {len(changed) - 1} more)' if len(changed) > 1 else ''}; "
            "resume may change only train.* and early_stopping.* (start a new run "
            "with 'linreg-tui train')"
        )
