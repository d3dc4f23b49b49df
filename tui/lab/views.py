"""Each lab view's numbers, from the engine's lab functions, as plain data and lines of text.

Why Textual-free: the numbers a view shows are the engine's (:mod:`engine.lab`), computed here
in a worker thread and tested without an app; the screen and its widgets only draw them. A view
that does not apply to the source (a path for a classifier, a decision boundary with three
features) raises :class:`NotApplicable` with one line that says why — never a traceback.

The maps (landscape, decision boundary) are grids of *levels* (row 0 at the top, the largest
value of the vertical weight or feature) and *marks* drawn over them; a mark's cell is the grid
point nearest to its value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from engine.core.numbers import fmt_number
from engine.data.dataset import Split
from engine.lab.influence import row_influence
from engine.lab.inspect import source_rows
from engine.lab.landscape import axis, descent_path, landscape
from engine.lab.path import PathResult, regularisation_path
from engine.lab.shape import ResidualLoss, loss_shape
from engine.training.classify import predicted_class
from tui.lab.request import NotApplicable, Request, compare_choice
from tui.lab.source import LabSource

SHADES = 8
"""Levels of the landscape's shading (each holds about the same number of cells)."""
TOP_K = 10


@dataclass
class MapData:
    """A terminal map: ``levels[row][col]`` (row 0 on top) and marks ``(row, col, char, kind)``."""

    levels: list[list[int]]
    marks: list[tuple[int, int, str, str]] = field(default_factory=list)


@dataclass
class ViewData:
    """What one view shows: lines of text above its drawing, and the drawing's data."""

    lines: list[str]
    data: dict[str, Any] = field(default_factory=dict)
    map: MapData | None = None


def n(value: float | None, digits: int = 4) -> str:
    """A number as every panel writes it (:func:`engine.core.numbers.fmt_number`)."""
    return fmt_number(value, digits)


def signed(value: float) -> str:
    """``+ 1.5`` or ``- 1.5``: a term of a written-out sum."""
    return f"- {n(-value)}" if value < 0 else f"+ {n(value)}"


def regression_only(src: LabSource, what: str) -> None:
    """Refuse a view that needs a loss of the residual (a classifier's loss is of logits)."""
    if src.classifier:
        raise NotApplicable(
            f"{what} is for regression; this is a {src.cfg.model.task} classifier (5: boundary)"
        )


def split_of(src: LabSource, split: str) -> Split:
    """The ``train`` or ``val`` split, refused when it is empty."""
    s = src.ds.train if split == "train" else src.ds.val
    if not len(s):
        raise NotApplicable(f"the {split} split is empty (data.val_fraction = 0?): v switches")
    return s


# -- shape and influence --------------------------------------------------------------------
def shape_view(src: LabSource, split: str, compare: str) -> ViewData:
    """``L(r)`` and ``ψ(r)`` of the loss and ``compare`` over the split's residual histogram."""
    regression_only(src, "the loss shape")
    loss, note = src.loss()
    s = split_of(src, split)
    r = s.y.double() - src.predict(s.x)
    other = ResidualLoss.named(compare) if compare != loss.name else None
    shape = loss_shape(loss, {split: r}, compare=other)
    hist = shape["histogram"]
    counts = hist[split]["counts"]
    top = max(range(len(counts)), key=counts.__getitem__)
    lines = [
        f"L = {loss.formula}" + (f"  ({note})" if note else ""),
        f"vs {other.name}: {other.formula}" if other else "",
        f"{split}: {len(r)} rows · r from {n(float(r.min()), 3)} to {n(float(r.max()), 3)}"
        f" · fullest bin r ≈ {n(hist['centres'][top], 3)} ({counts[top]} rows)",
    ]
    return ViewData([line for line in lines if line], shape)


def influence_view(src: LabSource, split: str, k: int = TOP_K) -> ViewData:
    """Top 1%/10% shares for the loss and MSE, and the ``k`` rows carrying most of the loss."""
    regression_only(src, "row influence")
    loss, note = src.loss()
    s = split_of(src, split)
    rows = source_rows(src.cfg, src.ds)[split]
    inf = row_influence(loss, s.y, src.predict(s.x), rows=rows, k=k)
    where = "source rows" if inf["rows_from"] == "data" else f"rows of the {split} split"
    lines = [
        f"{split}: {inf['n']} rows · contribution c = L(r)/n (Σc = data loss) · {where}"
        + (f" · {note}" if note else "")
    ]
    return ViewData(lines, inf)


# -- landscape ------------------------------------------------------------------------------
def nearest(values: list[float], v: float) -> int:
    """The index of the grid value nearest to ``v`` (where a mark goes)."""
    return min(range(len(values)), key=lambda k: abs(values[k] - v))


def shade_levels(values: Tensor, shades: int = SHADES) -> list[list[int]]:
    """Each cell's level 0..shades-1 by rank (equal-count bands: contour-like), top row
    first."""
    flat = values.reshape(-1)
    ranks = torch.empty_like(flat, dtype=torch.long)
    ranks[torch.argsort(flat)] = torch.arange(len(flat))
    levels = (ranks * shades // max(len(flat), 1)).reshape(values.shape)
    return [[int(v) for v in row] for row in levels.flip(0).tolist()]


def landscape_view(src: LabSource, i: int, j: int, cols: int, rows: int) -> ViewData:
    """The objective over weights ``i`` (across) and ``j`` (up), the rest held, with the
    descent path, the optimum (★), the weights shown (◆) and the lowest cell (+)."""
    regression_only(src, "the landscape")
    d = src.n_features
    if d < 2:
        raise NotApplicable(f"the landscape needs two weights; this model has {d}")
    loss, note = src.loss()
    names = src.ds.feature_names
    w = src.flat_weights
    path = descent_path(src.events, i, j)
    if path["optimum"] is None and src.optimum is not None:
        path["optimum"] = [float(src.optimum[0, i]), float(src.optimum[0, j])]
    extra = [p for p in (path["optimum"], path["final"], [w[i], w[j]]) if p]
    wi = axis([*path["wi"], *(p[0] for p in extra)], count=max(cols, 2))
    wj = axis([*path["wj"], *(p[1] for p in extra)], count=max(rows, 2))
    x, y = src.ds.train.x, src.ds.train.y
    out = landscape(
        loss, x, y, w, src.flat_bias, i, j, l1=src.cfg.loss.l1, l2=src.cfg.loss.l2,
        path=path, wi=wi, wj=wj, names=names,
    )  # fmt: skip
    xs, ys = out["wi"], out["wj"]
    top = len(ys) - 1

    def cell(a: float, b: float) -> tuple[int, int]:
        return top - nearest(ys, b), nearest(xs, a)

    marks = [(*cell(a, b), "•", "path") for a, b in zip(path["wi"], path["wj"])]
    low = out["lowest"]
    marks.append((*cell(low["wi"], low["wj"]), "+", "lowest"))
    marks.append((*cell(w[i], w[j]), "◆", "current"))
    if path["optimum"]:
        marks.append((*cell(*path["optimum"]), "★", "optimum"))
    grid = torch.tensor(out["values"], dtype=torch.float64)
    opt = path["optimum"]
    lines = [
        f"F = {out['objective']}, the other weights held" + (f"  ({note})" if note else ""),
        f"→ w{i} {names[i]} {n(xs[0], 3)}..{n(xs[-1], 3)} · ↑ w{j} {names[j]} "
        f"{n(ys[0], 3)}..{n(ys[-1], 3)} · + lowest F {n(low['value'], 4)}",
        (f"★ optimum ({n(opt[0], 4)}, {n(opt[1], 4)}) · " if opt else "")
        + f"◆ shown ({n(w[i], 4)}, {n(w[j], 4)}) · • {len(path['epochs'])} epochs",
    ]
    out["lowest_cell"] = cell(low["wi"], low["wj"])
    out["optimum_cell"] = cell(*opt) if opt else None
    return ViewData(lines, out, MapData(shade_levels(grid), marks))


# -- regularisation path --------------------------------------------------------------------
def path_view(src: LabSource, penalty: str, l1_ratio: float = 0.5) -> ViewData:
    """The exact MSE path over λ on the training split, validation MSE along it, best λ."""
    regression_only(src, "the λ path")
    res: PathResult = regularisation_path(
        src.ds, penalty, l1_ratio=l1_ratio, bias=src.cfg.model.bias
    )
    best = res.best
    lines = [f"{res.objective} · {res.n_train} train / {res.n_val} val rows"]
    if best is not None and res.val_mse is not None:
        lines.append(
            f"best λ = {n(res.lambdas[best], 3)} (log10 {n(math.log10(res.lambdas[best]), 3)})"
            f" · val MSE {n(res.val_mse[best], 4)} · {res.nonzero[best]} of "
            f"{len(res.feature_names)} nonzero"
        )
    else:
        lines.append("no validation split: no best λ (set data.val_fraction > 0)")
    if not res.converged:
        lines.append("coordinate descent did not converge at every λ")
    return ViewData(lines, res.to_dict())


# -- decision boundary ----------------------------------------------------------------------
def boundary_view(src: LabSource, split: str, cols: int, rows: int) -> ViewData:
    """A two-feature classifier's predicted class over the plane (the background) and the
    split's points as their true class digit (a mistake is marked)."""
    if not src.classifier:
        raise NotApplicable(
            "the decision boundary is a classifier's (model.task binary|multiclass)"
        )
    d = src.n_features
    if d != 2:
        raise NotApplicable(
            f"the decision boundary needs two features; this model has {d} (set data.features)"
        )
    s = split_of(src, split)
    x = s.x.double()
    gx = axis(x[:, 0].tolist(), pad=0.05, count=max(cols, 2))
    gy = axis(x[:, 1].tolist(), pad=0.05, count=max(rows, 2))
    cy, cx = torch.meshgrid(gy, gx, indexing="ij")
    plane = torch.stack([cx.reshape(-1), cy.reshape(-1)], dim=1)
    logits = src.logits(plane)
    cls = predicted_class(logits[:, 0] if logits.shape[1] == 1 else logits)
    levels = [[int(v) for v in row] for row in cls.reshape(len(gy), len(gx)).flip(0).tolist()]
    xl = src.logits(x)
    pred = predicted_class(xl[:, 0] if xl.shape[1] == 1 else xl)
    truth = s.y.long()
    xs, ys, top = gx.tolist(), gy.tolist(), len(gy) - 1
    marks = [
        (top - nearest(ys, float(b)), nearest(xs, float(a)), str(int(t)), "ok" if p == t else "bad")
        for (a, b), t, p in zip(x.tolist(), truth.tolist(), pred.tolist())
    ]
    marks.sort(key=lambda m: m[3] == "bad")  # a cell with a mistake in it shows the mistake
    accuracy = float((pred == truth).double().mean())
    names = src.ds.feature_names
    classes = src.ds.classes or []
    labels = ", ".join(f"{k} = {n(c)}" for k, c in enumerate(classes))
    lines = [
        f"{split}: {len(s)} rows · accuracy {n(accuracy, 4)} · digit: true class, shade: predicted",
        f"→ {names[0]} {n(xs[0], 3)}..{n(xs[-1], 3)} · ↑ {names[1]} {n(ys[0], 3)}..{n(ys[-1], 3)}",
    ]
    if src.weights.shape[0] == 1:
        w, b = src.weights[0].tolist(), src.flat_bias or 0.0
        lines.append(
            f"boundary: {n(w[0], 4)}·{names[0]} {signed(w[1])}·{names[1]} {signed(b)} = 0 (p = ½)"
        )
    else:
        lines.append(f"classes (label = target value): {labels}")
    data = {"accuracy": accuracy, "xs": xs, "ys": ys, "classes": classes}
    return ViewData(lines, data, MapData(levels, marks))


# -- one entry point for the screen ---------------------------------------------------------
def compute(src: LabSource, req: Request) -> ViewData:
    """The numbers of ``req.view`` (in a worker thread); NotApplicable when it does not apply."""
    if req.view == "shape":
        loss, _ = src.loss()
        return shape_view(src, req.split, compare_choice(loss.name, req.compare))
    if req.view == "influence":
        return influence_view(src, req.split)
    if req.view == "landscape":
        return landscape_view(src, req.i, req.j, req.cols, req.rows)
    if req.view == "path":
        return path_view(src, req.penalty)
    return boundary_view(src, req.split, req.cols, req.rows)
