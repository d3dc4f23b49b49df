"""What a run reports, decided once: which coefficient columns and which metrics exist.

The CLI summary (``engine.cli.main.summary_lines``), the dashboard's coefficient panel, its
run-stats lines and its metrics panel all render from this model, so a column (say, the optimum
in raw units) appears in every view or in none. Headers, number formats and widths stay with
each renderer; the model only says *what* there is, read straight from the events. No torch,
no Textual.

API::

    LEARNED, OPTIMUM, LEARNED_RAW, OPTIMUM_RAW, TRUE   the column keys, as constants
    COLUMN_KEYS = ("learned", "optimum", "learned_raw", "optimum_raw", "true")
    METRIC_KEYS = ("mse", "rmse", "mae", "r2");  SPLITS = ("train", "val", "test")
    MEDAE = "medae";  REPORT_KEYS = ("mse", "rmse", "mae", "medae", "r2")

    latest(last: EpochEnded | None, finished: RunFinished | None) -> EpochEnded | RunFinished | None
        the event whose parameters and metrics a view shows now (the finished one wins)

    coefficient_table(started: RunStarted | None,
                      current: EpochEnded | RunFinished | None) -> CoefTable
        CoefTable.columns: tuple[CoefColumn, ...] in COLUMN_KEYS order, only those that apply:
            learned      always (weights None until the first epoch)
            optimum      when the run knows an optimum (RunStarted.optimum)
            learned_raw  when something was standardised (two sets of units)
            optimum_raw  when the optimum has raw-unit weights
            true         when the data has true weights (synthetic)
        CoefTable.rows: tuple[CoefRow, ...]: one per feature (index i), then ("bias", None)
            when the model has a bias
        CoefTable.standardised: bool   learned/optimum are in standardised units, *_raw in raw
        CoefTable.same_units: bool     nothing standardised: learned weights are in raw units
        CoefTable.optimum_kind: str | None   "exact" / "reference" / None
        CoefTable.column(key) -> CoefColumn | None
        CoefTable.narrowings() -> list[CoefTable]   widest first: then without the
            standardised columns, then without the raw optimum too (learned-vs-truth goes last)
        CoefTable.comparison() -> list[CoefColumn]   the learned weights in the most readable
            units and, in the same units, the truth (or else the optimum); [] before an epoch
        CoefColumn(key, weights, bias).cell(row) -> float | None   None past the end (a poly
            feature the truth does not cover) or when the column has no values yet

    metric_table(started: RunStarted | None,
                 current: EpochEnded | RunFinished | None) -> MetricTable
        MetricTable.splits: tuple[str, ...]   present splits, SPLITS order first
        MetricTable.keys: tuple[str, ...]     METRIC_KEYS per epoch; REPORT_KEYS (medae
            added) once the run has finished
        MetricTable.raw_y: bool   losses are in standardised target units, metrics in raw ones
        MetricTable.coef_rmse: float | None   learned vs true coefficients (synthetic data):
            sqrt(mean((w - w_true)²)) over the weights the truth covers and the bias, raw units
        MetricTable.value(split, key) -> float | None
        MetricTable.rows() -> list[tuple[str, list[float | None]]]   (split, values by key)
        bool(MetricTable) -> whether any split has metrics

    standardised_target(started: RunStarted | None) -> bool   data.standardize_target was on:
        losses are in standardised target units (MetricTable.raw_y says the same)
    data_summary(started: RunStarted) -> str   "800 train / 200 val / 0 test rows, 3 features"
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from engine.core.events import EpochEnded, RunFinished, RunStarted

LEARNED, OPTIMUM, LEARNED_RAW, OPTIMUM_RAW, TRUE = (
    "learned",
    "optimum",
    "learned_raw",
    "optimum_raw",
    "true",
)
COLUMN_KEYS = (LEARNED, OPTIMUM, LEARNED_RAW, OPTIMUM_RAW, TRUE)
"""Every coefficient column, in the order views show them."""

METRIC_KEYS = ("mse", "rmse", "mae", "r2")
"""The metrics every split of every event carries, in the target's raw units (see
engine.training.metrics); cross-validation averages these."""
MEDAE = "medae"
"""Median absolute error: only in RunFinished's metrics (a median per epoch is not cheap)."""
REPORT_KEYS = ("mse", "rmse", "mae", MEDAE, "r2")
"""Every metric a table may show, in column order (robust ``medae`` beside ``mae``)."""
SPLITS = ("train", "val", "test")
"""Splits in report order; test metrics exist only once the run has finished."""

Current = EpochEnded | RunFinished


def latest(last: EpochEnded | None, finished: RunFinished | None) -> Current | None:
    """The event a view shows now: the finished run's (restored) parameters, else the last
    epoch's."""
    return finished if finished is not None else last


@dataclass(frozen=True)
class CoefRow:
    """One coefficient: a feature (``index`` into the weights) or the bias (``index`` None)."""

    name: str
    index: int | None


@dataclass(frozen=True)
class CoefColumn:
    """One set of coefficients: ``key`` is one of :data:`COLUMN_KEYS`."""

    key: str
    weights: list[float] | None
    bias: float | None

    def cell(self, row: CoefRow) -> float | None:
        """This column's value for ``row``; None when it has none (yet, or past its end)."""
        if row.index is None:
            return self.bias
        ws = self.weights
        return ws[row.index] if ws is not None and row.index < len(ws) else None


@dataclass(frozen=True)
class CoefTable:
    """The coefficient columns a run has, and its rows (features, then the bias)."""

    columns: tuple[CoefColumn, ...]
    rows: tuple[CoefRow, ...]
    standardised: bool
    """Two sets of units: ``learned``/``optimum`` standardised, the ``*_raw`` ones raw."""
    same_units: bool
    """Nothing was standardised: the learned weights are already in the data's raw units."""
    optimum_kind: str | None = None

    def column(self, key: str) -> CoefColumn | None:
        return next((c for c in self.columns if c.key == key), None)

    def _without(self, *keys: str) -> CoefTable:
        return replace(self, columns=tuple(c for c in self.columns if c.key not in keys))

    def narrowings(self) -> list[CoefTable]:
        """This table, then narrower ones for a view with less room, widest first.

        The standardised columns go first (they are what gradient descent works in, but not
        the data's units), then the raw optimum: learned-vs-truth in raw units stays longest.
        """
        if not self.standardised:
            return [self]
        fewer = self._without(LEARNED, OPTIMUM)
        return [self, fewer, fewer._without(OPTIMUM_RAW)]

    def comparison(self) -> list[CoefColumn]:
        """The learned weights in raw units when known, and a reference in the same units.

        The reference is the truth when the learned weights are in raw units (synthetic data),
        else the optimum in those units; [] before the first epoch.
        """
        raw = self.column(LEARNED_RAW)
        learned = raw if raw is not None and raw.weights is not None else self.column(LEARNED)
        if learned is None or learned.weights is None:
            return []
        in_raw_units = learned.key == LEARNED_RAW or self.same_units
        truth = self.column(TRUE)
        optimum = self.column(OPTIMUM_RAW if learned.key == LEARNED_RAW else OPTIMUM)
        if truth is not None and in_raw_units:
            return [learned, truth]
        if optimum is not None and optimum.weights is not None:
            return [learned, optimum]
        return [learned]


def _has_bias(started: RunStarted | None, current: Current | None) -> bool:
    if current is not None:
        return current.bias is not None
    return bool(started and started.config.get("model", {}).get("bias", True))


def coefficient_table(started: RunStarted | None, current: Current | None) -> CoefTable:
    """The coefficient columns and rows of a run (see the module docstring)."""
    opt = (started.optimum if started else None) or {}
    w = current.weights if current is not None else None
    b = current.bias if current is not None else None
    raw_w = current.weights_original if current is not None else None
    raw_b = current.bias_original if current is not None else None
    raw_b = raw_b if not isinstance(raw_b, list) else None  # a multiclass run's K biases
    raw_opt = opt.get("weights_original")
    standardised = raw_w is not None or raw_opt is not None
    # a multiclass run's bias is a list of K numbers: this one-column table shows none
    columns = [CoefColumn(LEARNED, w, b if not isinstance(b, list) else None)]
    if opt:
        columns.append(CoefColumn(OPTIMUM, opt.get("weights"), opt.get("bias")))
    if standardised:
        columns.append(CoefColumn(LEARNED_RAW, raw_w, raw_b))
    if raw_opt is not None:
        columns.append(CoefColumn(OPTIMUM_RAW, raw_opt, opt.get("bias_original")))
    if started is not None and started.true_weights is not None:
        columns.append(CoefColumn(TRUE, started.true_weights, started.true_bias))
    if started is not None:
        names = list(started.feature_names)
    else:
        names = [f"x{i + 1}" for i in range(len(w or []))]
    rows = [CoefRow(name, i) for i, name in enumerate(names)]
    if _has_bias(started, current):
        rows.append(CoefRow("bias", None))
    return CoefTable(
        columns=tuple(columns),
        rows=tuple(rows),
        standardised=standardised,
        same_units=not _standardised_config(started) if started else not standardised,
        optimum_kind=opt.get("kind"),
    )


def _standardised_config(started: RunStarted) -> bool:
    return started.x_mean is not None or standardised_target(started)


def standardised_target(started: RunStarted | None) -> bool:
    """Whether the run's losses are in standardised target units (data.standardize_target)."""
    return bool(started and started.config.get("data", {}).get("standardize_target"))


@dataclass(frozen=True)
class MetricTable:
    """Metrics per split of the event a view shows (see :func:`metric_table`)."""

    splits: tuple[str, ...]
    values: Mapping[str, Mapping[str, float]]
    raw_y: bool
    """The losses are in standardised target units while these metrics are in raw ones."""
    keys: tuple[str, ...] = METRIC_KEYS
    coef_rmse: float | None = None
    """Error of the coefficients against the true ones (synthetic data; see
    :attr:`engine.core.events.EpochEnded.coef_rmse`), None when the truth is unknown."""

    def value(self, split: str, key: str) -> float | None:
        return self.values.get(split, {}).get(key)

    def rows(self) -> list[tuple[str, list[float | None]]]:
        """``(split, [value per key])`` for each split present."""
        return [(s, [self.value(s, k) for k in self.keys]) for s in self.splits]

    def __bool__(self) -> bool:
        return bool(self.splits)


def metric_table(started: RunStarted | None, current: Current | None) -> MetricTable:
    """The splits with metrics in ``current`` (train and val per epoch; test at the end)."""
    values = (current.metrics if current is not None else None) or {}
    present = [s for s in SPLITS if s in values] + [s for s in values if s not in SPLITS]
    robust = any(MEDAE in v for v in values.values())
    return MetricTable(
        splits=tuple(present),
        values=values,
        raw_y=standardised_target(started),
        keys=REPORT_KEYS if robust else METRIC_KEYS,
        coef_rmse=getattr(current, "coef_rmse", None),
    )


def data_summary(started: RunStarted) -> str:
    """The data a run trains on, in one phrase (CLI start line, dashboard metrics panel)."""
    return (
        f"{started.n_train} train / {started.n_val} val / {started.n_test} test rows, "
        f"{started.n_features} features"
    )
