"""Reading the raw data: synthetic draws or a CSV/Parquet file, labels, polynomial features.

Split out of :mod:`engine.data.dataset` so that module holds only what happens after the rows
exist (splitting, outliers, scaling, mapping coefficients back). Nothing here looks at a split:
every row is treated alike, so these steps cannot leak validation or test rows into training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from engine.config import Config, ConfigError, DataConfig
from engine.data.shard import WHOLE_NOTE, LocalRows, Shard, read_shard, read_shard_local
from engine.data.synthetic import synthetic
from engine.data.tables import file_columns, is_parquet, read_columns

MAX_CLASSES = 100
"""More distinct target values than this is not a multiclass target (a continuous column)."""


def class_labels(y: Tensor, task: str) -> tuple[Tensor, list[float], str | None]:
    """Map a classification target to labels 0..K-1 (the sorted distinct values); return the
    labels (float32), the original value of each class, and a message naming the mapping
    (None when the values already were 0..K-1)."""
    values, labels = torch.unique(y, sorted=True, return_inverse=True)
    classes = values.tolist()
    k = len(classes)
    if task == "binary" and k != 2:
        raise ConfigError(
            f"data.target: model.task binary needs exactly two target values; "
            f"found {k}"
            + (f" ({', '.join(f'{c:g}' for c in classes[:5])})" if k <= 5 else "")
            + (": use model.task multiclass" if 2 < k <= MAX_CLASSES else ""),
            key="data.target",
            reason="needs exactly two values",
        )
    if task == "multiclass" and not 3 <= k <= MAX_CLASSES:
        # two classes are one logit (binary): a K=2 softmax would only duplicate it
        raise ConfigError(
            f"data.target: model.task multiclass needs 3 to {MAX_CLASSES} distinct "
            f"target values; found {k}" + (": use model.task binary" if k == 2 else ""),
            key="data.target",
            reason=f"needs 3 to {MAX_CLASSES} classes",
        )
    message = None
    if classes != [float(i) for i in range(k)]:
        pairs = ", ".join(f"{c:g} → {i}" for i, c in enumerate(classes[:10]))
        message = f"{task} target: classes mapped {pairs}" + (", ..." if k > 10 else "")
    return labels.to(torch.float32), classes, message


def _synthetic_classes(y: Tensor, task: str) -> Tensor:
    """Synthetic data for a classification task: the linear target cut at its median (binary)
    or its terciles (multiclass, three classes)."""
    cuts = torch.tensor([0.5] if task == "binary" else [1 / 3, 2 / 3], dtype=torch.float64)
    edges = torch.quantile(y.double(), cuts).to(y.dtype)
    return torch.bucketize(y, edges).to(y.dtype)


def resolve_path(path: str, base_dir: str | None) -> Path:
    """A relative data path resolves from the preset's folder."""
    p = Path(path).expanduser()
    if not p.is_absolute() and base_dir:
        p = Path(base_dir) / p
    return p


def read_csv(
    cfg: DataConfig,
    base_dir: str | None,
    *,
    stop: Callable[[], bool] | None = None,
    shard: Shard | None = None,
    notes: list[str] | None = None,
    rows: list[LocalRows] | None = None,
) -> tuple[Tensor, Tensor, list[str]]:
    """Read a header-first numeric CSV (or a Parquet file); pick target and features by name.

    Every problem (missing file or column, ragged row, empty or non-numeric cell) is one
    :class:`ConfigError` naming the file, line and column (see :mod:`engine.data.tables`).
    ``shard`` (several data-parallel ranks): this rank reads only its part and the parts are
    gathered (:mod:`engine.data.shard`); a file that must be read whole adds a line to ``notes``.
    ``rows`` given: the parts are not gathered; this rank returns its own rows and appends
    their place in the file to ``rows`` (nothing when the file was read whole).
    """
    assert cfg.path is not None and cfg.target is not None
    path = resolve_path(cfg.path, base_dir)
    parquet = cfg.source == "parquet" or is_parquet(path)
    header = file_columns(path, parquet=parquet)
    if cfg.target not in header:
        raise ConfigError(
            f"{path}: data.target column '{cfg.target}' not found; columns: {', '.join(header)}",
            key="data.target",
            reason="column not found",
            where=str(path),
        )
    features = cfg.features if cfg.features is not None else [h for h in header if h != cfg.target]
    missing = [f for f in features if f not in header]
    if missing:
        raise ConfigError(
            f"{path}: data.features column '{missing[0]}' not found; columns: {', '.join(header)}",
            key="data.features",
            reason="column not found",
            where=str(path),
        )
    if not features:
        raise ConfigError(
            f"{path}: no feature columns (data.features is empty)",
            key="data.features",
            reason="no feature columns",
            where=str(path),
        )
    if len(set(features)) != len(features):
        dup = next(f for f in features if features.count(f) > 1)
        raise ConfigError(
            f"{path}: data.features lists '{dup}' twice",
            key="data.features",
            reason="listed twice",
            where=str(path),
        )
    if cfg.target in features:
        raise ConfigError(
            f"{path}: data.features includes the target '{cfg.target}'",
            key="data.features",
            reason="includes the target",
            where=str(path),
        )
    names = [*features, cfg.target]
    data = None
    if shard is not None and shard.world > 1 and rows is not None:
        mine = read_shard_local(path, header, names, shard, parquet=parquet, stop=stop)
        if mine is not None:
            rows.append(mine)
            data = mine.values
        elif notes is not None:
            notes.append(WHOLE_NOTE.format(path=path))
    elif shard is not None and shard.world > 1:
        data = read_shard(path, header, names, shard, parquet=parquet, stop=stop)
        if data is None and notes is not None:
            notes.append(WHOLE_NOTE.format(path=path))
    if data is None:
        data = read_columns(path, header, names, stop=stop, parquet=parquet)
    return data[:, :-1], data[:, -1], list(features)


def check_finite(
    x: Tensor, names: list[str], key: str, message: str, shard: Shard | None = None
) -> None:
    """Raise ``message`` (``{}`` = the column's name) for the first column holding inf/NaN.

    ``shard``: ``x`` is this rank's rows; the ranks agree on the first bad column (every rank
    raises the same error, none is left waiting in a collective)."""
    ok = torch.ones(x.shape[1], dtype=torch.bool)
    for i in range(0, x.shape[0], 65536):  # no n x d boolean temporary
        ok &= torch.isfinite(x[i : i + 65536]).all(0)
    bad = torch.nonzero(~ok).flatten().tolist()
    if shard is not None:
        bad = sorted(j for told in shard.gather(bad[:1]) for j in told)
    if len(bad):
        raise ConfigError(message.format(names[int(bad[0])]), key=key, reason="overflows float32")


def poly_features(x: Tensor, names: list[str], degree: int) -> tuple[Tensor, list[str]]:
    """Append ``x_j^k`` for k = 2..degree of every column (no cross terms)."""
    if degree <= 1:
        return x, names
    cols, out_names = [x], list(names)
    for k in range(2, degree + 1):
        cols.append(x**k)
        out_names += [f"{n}^{k}" for n in names]
    return torch.cat(cols, dim=1), out_names


@dataclass
class RawData:
    """All rows as read or drawn, with polynomial features added, before any split."""

    x: Tensor
    y: Tensor
    names: list[str]
    shape: tuple[int, int]
    true_weights: list[float] | None = None
    true_bias: float | None = None
    classes: list[float] | None = None
    label_message: str | None = None
    notes: list[str] = field(default_factory=list)
    """How the rows were read, when a user should know (a file every rank read whole)."""
    place: LocalRows | None = None
    """Data-parallel, rank-local rows: ``x``/``y`` are the file rows ``[first, first + len)``
    of ``total`` (its ``values`` emptied); None: all the rows are here."""


def read_source(
    cfg: Config,
    *,
    order: Tensor | None = None,
    stop: Callable[[], bool] | None = None,
    shard: Shard | None = None,
    local: bool = False,
) -> RawData:
    """Draw or read the data named by ``cfg.data`` and add polynomial features.

    ``order`` (synthetic data only) draws the rows already permuted (see :func:`synthetic`).
    ``stop`` is polled between blocks; when it returns True, :class:`Stopped` is raised.
    ``shard``: a data-parallel rank's place; a CSV or Parquet file is then read in parts
    (:mod:`engine.data.shard`). Synthetic rows are drawn whole on every rank (they are not
    read from anywhere, and drawing row i alone would change every synthetic value).
    ``local`` (regression only): the parts are not gathered; see :attr:`RawData.place`.
    """
    d = cfg.data
    notes: list[str] = []
    rows: list[LocalRows] | None = [] if local and shard is not None else None
    if d.source == "synthetic":
        x, y, w, b = synthetic(d, cfg.seed, order=order, stop=stop)
        names = [f"x{i + 1}" for i in range(d.n_features)]
        true_w, true_b = w.tolist(), b
    else:
        x, y, names = read_csv(d, cfg.base_dir, stop=stop, shard=shard, notes=notes, rows=rows)
        true_w, true_b = None, None
    place = None
    if rows:
        mine = rows[0]
        place = LocalRows(x[:0], mine.first, mine.total, mine.counts)
    shape = (place.total if place else int(x.shape[0]), int(x.shape[1]))
    x, names = poly_features(x, names, d.poly_degree)
    check_finite(
        x,
        names,
        "data.poly_degree",
        "data.poly_degree: feature '{}' overflows "
        "float32 (beyond ±3.4e38); lower data.poly_degree or rescale the column",
        shard if place is not None else None,
    )
    if true_w is not None:  # the true model is linear: every power has true weight 0
        true_w = true_w + [0.0] * (len(names) - len(true_w))
    task = cfg.model.task
    if task == "regression":
        return RawData(x, y, names, shape, true_w, true_b, notes=notes, place=place)
    if d.source == "synthetic":  # the regression truth does not describe the classes' logits
        y = _synthetic_classes(y, task)
    labels, classes, message = class_labels(y, task)
    return RawData(x, labels, names, shape, None, None, classes, message, notes)
