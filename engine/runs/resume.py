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

import copy
import os
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

    _check_no_links(run)
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


def _check_no_links(run: Path) -> None:
    """Refuse a run holding a symbolic link: resuming rewrites and appends to its files, and a
    link would carry those writes to wherever it points."""
    try:
        links = sorted(p.name for p in run.iterdir() if p.is_symlink())
    except OSError as exc:
        raise RunError(f"{run}: cannot be read ({exc.strerror or exc})") from None
    if links:
        raise RunError(
            f"run {run.name}: its {links[0][:60]} is a symbolic link; refusing to resume "
            "(it would write through the link)"
        )


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


def _same_file(saved: Any, written: Any) -> bool:
    """Whether a file as the checkpoint names it (``saved``: as the preset gave it, maybe
    relative to the preset's folder) is the file ``config.yaml`` names (``written``: made
    absolute from that folder, :func:`engine.config.presets.portable_dict`).

    The checkpoint does not hold the preset's folder, so a relative name matches the absolute
    one that ends with it (``data/diabetes.csv`` and ``/…/presets/data/diabetes.csv``; leading
    ``..`` dropped): an edit to another file of another name is still refused.
    """
    if not isinstance(saved, str) or not isinstance(written, str) or saved == written:
        return bool(saved == written)
    if os.path.isabs(saved) or not os.path.isabs(written):
        return False
    parts = Path(os.path.normpath(saved)).parts
    while parts and parts[0] == "..":
        parts = parts[1:]
    return bool(parts) and Path(os.path.normpath(written)).parts[-len(parts) :] == parts


def _as_written(saved: dict[str, Any], written: dict[str, Any]) -> dict[str, Any]:
    """``saved`` (the checkpoint's config) with each file it names relative to the preset's
    folder replaced by ``config.yaml``'s absolute name for the same file (:func:`_same_file`):
    ``data.path``, ``loss.callable`` and each term's ``params.callable``."""
    out = copy.deepcopy(saved)

    def fix(old: Any, new: Any, key: str) -> None:
        if (
            isinstance(old, dict)
            and isinstance(new, dict)
            and _same_file(old.get(key), new.get(key))
        ):
            old[key] = new.get(key)

    fix(out.get("data"), written.get("data"), "path")
    loss, new_loss = out.get("loss"), written.get("loss")
    fix(loss, new_loss, "callable")
    terms = loss.get("terms") if isinstance(loss, dict) else None
    new_terms = new_loss.get("terms") if isinstance(new_loss, dict) else None
    if isinstance(terms, list) and isinstance(new_terms, list):
        for term, new_term in zip(terms, new_terms, strict=False):
            if isinstance(term, dict) and isinstance(new_term, dict):
                fix(term.get("params"), new_term.get("params"), "callable")
    return out


def _check_same_run(run: Path, cfg: Config, state: dict[str, Any]) -> None:
    """Refuse a config that is not the checkpoint's (``config.yaml`` edited since).

    Files are compared as the same file however each names it: the checkpoint holds the
    config as the preset gave it (a bundled preset's ``data/diabetes.csv``, a user's
    ``in.csv``), ``config.yaml`` the same names made absolute (:func:`_as_written`)."""
    saved = state.get("config")
    if not isinstance(saved, dict):
        raise RunError(f"{run / 'checkpoint.pt'}: not a linreg-tui checkpoint (no config)")
    written = cfg.to_dict()
    changed = _differences(_as_written(saved, written), written)
    if changed:
        key = changed[0]
        raise RunError(
            f"{run.name}/config.yaml: {key} differs from the checkpoint's config"
            f"{f' (and {len(changed) - 1} more)' if len(changed) > 1 else ''}; "
            "resume may change only train.* and early_stopping.* (start a new run "
            "with 'linreg-tui train')"
        )
