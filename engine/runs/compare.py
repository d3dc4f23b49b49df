"""Comparing runs: the settings that differ between them, as short labels, and their curves
(from each run's curve summary, so runs of any length compare at once; on a common metric in
target units when their losses differ, since the loss values of different losses are not
comparable).

A legend that says "run 1, run 2" makes the user remember which was which; one that says
``lr=0.05`` and ``lr=0.1`` (or ``huber δ=1`` and ``mse``) answers the question the comparison
was for. The labels come from the config each run directory stores (``config.yaml``, the whole
resolved config) and are worded with the registries: a loss is its name with its parameters by
their formula symbols (``huber δ=1``, ``quantile q=0.9``), an optimizer its name. A setting that
does not apply to a run (``momentum`` for adam, ``patience`` with early stopping off, ``delta``
for mse) is never a difference: :func:`engine.config.applies` decides, the rule the settings
form uses too. Torch-free, Textual-free and deterministic: the same runs give the same labels in
any order of discovery.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.config import ConfigError, applies, field_info
from engine.config.schema import SECTIONS, public_fields
from engine.config.yaml_io import read_yaml_file
from engine.core.events import EpochEnded
from engine.registry import LOSS_FIELD_PARAMS, LOSSES
from engine.runs.curve import epoch_values
from engine.runs.curve_read import Curve, load_curve
from engine.runs.store import RunError, first_line

LABEL_WIDTH = 36
"""Default widest label: a legend line of marker, label and final loss fits 80 columns."""
SEPARATOR = ", "
SECTION_ORDER = ("loss", "optim", "train", "early_stopping", "model", "data")
"""Settings a user compares most come first, so a label cut to fit keeps them."""
LOSS_KEY = "loss"
"""The one comparison key for the whole objective (name, its parameters, terms, callable)."""


# ---------------------------------------------------------------------------------------------
# Reading a run


def run_config(run: Path) -> dict[str, Any]:
    """The config a run stored (``config.yaml``); a RunError naming the run if unreadable."""
    path = run / "config.yaml"
    if not run.is_dir():
        raise RunError(f"{run}: run directory is gone")
    try:
        data = read_yaml_file(path)
    except FileNotFoundError:
        raise RunError(f"{run}: no config.yaml (the run never started)") from None
    except (OSError, ConfigError) as exc:
        raise RunError(f"{path}: unreadable ({first_line(exc)})") from None
    if not isinstance(data, dict):
        raise RunError(f"{path}: not a config (expected a mapping)")
    return data


METRICS = ("loss", "rmse", "r2", "mae")
"""What a comparison can plot per epoch: the run's own loss, or a metric in target units (the
same for every run, whatever it was trained with)."""
HIGHER_IS_BETTER = frozenset({"r2", "accuracy", "f1"})
COMMON_METRICS = ("rmse", "accuracy")
"""The metric a comparison of runs with different losses opens on (the first they all have)."""
NOT_COMPARABLE = "loss values of different losses are not comparable"


@dataclass
class RunCurves:
    """A run's curves from its summary (:func:`engine.runs.curve_read.load_curve`): any
    series, any split, at the width a plot needs, without reading every epoch."""

    curve: Curve
    has_val: bool = False
    """Whether the run had a validation split (its RunStarted's ``n_val``)."""

    @property
    def epochs(self) -> int:
        """The run's last epoch (0: none logged)."""
        last = [e.epoch for e in self.curve.tail if isinstance(e, EpochEnded)]
        return last[-1] if last else self.curve.last_epoch

    def has(self, metric: str, which: str = "val") -> bool:
        """Whether the run logged ``metric`` for split ``which``."""
        name = field_name(which, metric)
        return name in self.curve.fields or any(
            isinstance(e, EpochEnded) and epoch_values(e.to_dict(), [name])[0] is not None
            for e in self.curve.tail
        )

    def series(
        self, which: str, metric: str = "loss", n_points: int = 4096
    ) -> list[tuple[float, float]]:
        """``(epoch, value)`` of ``metric`` on split ``"train"`` or ``"val"``, finite values
        only (what a plot draws): every epoch when the run has at most ``n_points``, else the
        min and max of each stretch of epochs."""
        name = field_name(which, metric)
        curve = self.curve
        out = curve.points(name, 1, curve.last_epoch, n_points) if len(curve) else []
        for event in curve.tail:
            if isinstance(event, EpochEnded):
                (y,) = epoch_values(event.to_dict(), [name])
                if y is not None and math.isfinite(y):
                    out.append((float(event.epoch), y))
        return out


def field_name(which: str, metric: str) -> str:
    """The summary's name of a split's loss or metric: ``val_loss``, ``train.rmse``."""
    return f"{which}_loss" if metric == "loss" else f"{which}.{metric}"


def load_curves(run: Path) -> RunCurves:
    """A run's curves from its summary and the end of its log (RunError if it is gone or bad).

    A resumed run's log starts again with its RunStarted, which begins the history, as the
    dashboard's run history does.
    """
    if not run.is_dir():
        raise RunError(f"{run}: run directory is gone")
    curve = load_curve(run)
    return RunCurves(curve, has_val=bool(curve.started is not None and curve.started.n_val))


def losses_differ(configs: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the runs minimise different objectives (another loss, its parameters, or a
    penalty): then their loss values are not comparable, epoch for epoch."""
    objectives = set()
    for config in configs:
        flat = settings(config)
        objectives.add(tuple(_comparable(flat.get(k)) for k in (LOSS_KEY, "loss.l1", "loss.l2")))
    return len(objectives) > 1


def common_metric(configs: Sequence[Mapping[str, Any]], curves: Sequence[RunCurves]) -> str:
    """What a comparison opens on: the loss when every run minimises the same one, else the
    first of :data:`COMMON_METRICS` every run logged (the loss when none is)."""
    if not losses_differ(configs):
        return "loss"
    for metric in COMMON_METRICS:
        if curves and all(c.has(metric, "val" if c.has_val else "train") for c in curves):
            return metric
    return "loss"


# ---------------------------------------------------------------------------------------------
# Settings as comparable values and as words


def _mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a mapping (a stored config may hold anything), else empty."""
    return value if isinstance(value, Mapping) else {}


def _num(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _flow(value: Any) -> str:
    """A list or mapping in one short line (YAML-like flow style, no spaces after commas)."""
    return json.dumps(
        value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str
    ).replace('"', "")


def _params_text(params: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={_num(v)}" for k, v in sorted(params.items()))


def _term_label(name: str, params: Mapping[str, Any], loss: Mapping[str, Any]) -> str:
    """A registered loss with its parameters by symbol: ``huber δ=1``; ``mse`` has none."""
    spec = LOSSES.get(name)
    if spec is None:  # a loss registered in another process: name and what it was given
        return " ".join(filter(None, (name, _params_text(params))))
    fields = {n: loss[n] for n in LOSS_FIELD_PARAMS if isinstance(loss.get(n), (int, float))}
    try:
        values = spec.values(fields, params)
    except (TypeError, ValueError):
        return " ".join(filter(None, (name, _params_text(params))))
    return " ".join([name] + [f"{p.symbol}={values[p.name]:g}" for p in spec.params])


def loss_label(loss: Mapping[str, Any]) -> str:
    """The data loss in words: ``mse``, ``huber δ=1``, ``custom my_loss.py:pinball under=3``,
    ``0.7·mse+0.3·mae`` (penalties are separate settings: ``l2=0.01``)."""
    name = str(loss.get("name", "mse"))
    params = _mapping(loss.get("params"))
    if name == "custom":
        spec = str(loss.get("callable") or "?").rsplit("/", 1)[-1]
        return " ".join(filter(None, ("custom", spec, _params_text(params))))
    if name == "combined":
        parts = []
        for term in loss.get("terms") or []:
            if not isinstance(term, Mapping):
                continue
            weight = term.get("weight", 1.0)
            tparams = _mapping(term.get("params"))
            label = (
                f"custom {term.get('callable')}"
                if term.get("name") == "custom"
                else _term_label(str(term.get("name")), tparams, loss)
            )
            parts.append(
                f"{_num(float(weight)) if isinstance(weight, (int, float)) else weight}·{label}"
            )
        return "+".join(parts) or "combined"
    return _term_label(name, params, loss)


def settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The run's comparable settings, ``dotted key -> value``, in label order, only those that
    apply to it; the whole data loss is one value under :data:`LOSS_KEY` (its label)."""
    out: dict[str, Any] = {"name": config.get("name")}
    for section in SECTION_ORDER:
        sect = config.get(section)
        if not isinstance(sect, Mapping):
            continue
        if section == "loss":
            out[LOSS_KEY] = loss_label(sect)
        for f in public_fields(SECTIONS[section]):
            if section == "loss" and f.name not in ("l1", "l2", "force"):
                continue
            if f.name in sect and applies(f"{section}.{f.name}", config):
                out[f"{section}.{f.name}"] = sect[f.name]
    out["seed"] = config.get("seed")
    return out


def setting_text(key: str, value: Any) -> str:
    """One setting in a label: ``lr=0.1``, ``adam``, ``early_stopping=off``, ``path=house.csv``."""
    if key in ("name", LOSS_KEY, "optim.name"):
        return str(value)
    name = key.rsplit(".", 1)[-1]
    if key == "early_stopping.enabled":
        name = "early_stopping"
    try:
        kind = field_info(key).kind
    except ConfigError:
        kind = "str"
    if value is None:
        text = "full" if key == "optim.batch_size" else "none"
    elif kind == "bool" or isinstance(value, bool):
        text = "on" if value else "off"
    elif isinstance(value, (list, dict)):
        text = _flow(value)
    elif key == "data.path":
        text = str(value).rsplit("/", 1)[-1]
    else:
        text = _num(value)
    return f"{name}={text}"


def differing_keys(configs: Sequence[Mapping[str, Any]]) -> list[str]:
    """The settings whose values are not all equal, in label order.

    A setting counts only among the runs it applies to: sgd's momentum against an adam run is
    not a difference, but two sgd runs with different momentum are.
    """
    flats = [settings(c) for c in configs]
    keys: list[str] = []
    for flat in flats:
        keys += [k for k in flat if k not in keys]
    order = {k: i for i, k in enumerate(keys)}
    out = []
    for key in keys:
        values = [_comparable(f[key]) for f in flats if key in f]
        if len(set(values)) > 1:
            out.append(key)
    return sorted(out, key=order.__getitem__)


def _comparable(value: Any) -> str:
    return _flow(value) if isinstance(value, (list, dict)) else repr(value)


# ---------------------------------------------------------------------------------------------
# Labels


def fit(tokens: Sequence[str], width: int) -> str:
    """Join ``tokens`` with ``, `` in at most ``width`` cells: whole tokens, then ``+N`` for the
    ones left out; a first token too long on its own is cut with ``…``."""
    if width < 4:
        raise ValueError("a label needs at least 4 columns")
    if not tokens:
        return ""
    for n in range(len(tokens), 0, -1):
        text = SEPARATOR.join(tokens[:n])
        if n < len(tokens):
            text += f" +{len(tokens) - n}"
        if len(text) <= width:
            return text
    more = f" +{len(tokens) - 1}" if len(tokens) > 1 else ""
    return tokens[0][: width - len(more) - 1] + "…" + more


def short_id(run_name: str) -> str:
    """The random part at the end of a run id (``resolve_run`` accepts it): ``3f9a1c``."""
    return run_name.rsplit("-", 1)[-1]


def _clip_name(name: str, width: int) -> str:
    """A run id cut from the left (its unique end stays)."""
    return name if len(name) <= width else "…" + name[-(width - 1) :]


def run_labels(
    configs: Sequence[Mapping[str, Any]], names: Sequence[str], width: int = LABEL_WIDTH
) -> list[str]:
    """One short label per run naming it by what differs from the others.

    One run: its preset name. Settings all equal: each run's id. Two runs whose (cut) labels
    still match get their short id appended, so every label names one run.
    """
    if len(configs) != len(names):
        raise ValueError("one name per config")
    if len(configs) == 1:
        return [_clip_name(str(configs[0].get("name") or names[0]), width)]
    keys = differing_keys(configs)
    if not keys:
        return [_clip_name(n, width) for n in names]
    tokens = []
    for config in configs:
        flat = settings(config)
        tokens.append([setting_text(k, flat[k]) for k in keys if k in flat])
    labels = [fit(t, width) for t in tokens]
    repeated = {label for label in labels if labels.count(label) > 1}
    for i, label in enumerate(labels):
        if label in repeated or not label:
            tag = f"#{short_id(names[i])}"
            head = (
                fit(tokens[i], width - len(tag) - 1)
                if tokens[i] and width - len(tag) - 1 >= 4
                else ""
            )
            labels[i] = f"{head} {tag}".strip()
    return labels
