"""The result of checking a loss: each property's PASS / FAIL / SKIP and the numbers behind it.

Plain data (no torch): :class:`CheckReport` prints as ``linreg-tui check-loss`` shows it
(:meth:`CheckReport.lines`), as one JSON object (:meth:`CheckReport.to_dict`) and as one
summary line for a status bar or an error message. The checks themselves are in
:mod:`engine.losses.probes`; :func:`engine.losses.check.check_loss` fills a report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from engine.core.numbers import fmt_number

Status = Literal["PASS", "FAIL", "SKIP"]


@dataclass
class Property:
    """One checked property: its name, PASS / FAIL / SKIP and the numbers behind it."""

    name: str
    status: Status
    detail: str
    fatal: bool = False
    """A failure that makes training impossible (``loss.force`` cannot override it)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "fatal": self.fatal,
        }


@dataclass
class CheckReport:
    """The result of :func:`check_loss`.

    ``ok`` is true when the loss loaded and no property failed; ``failures`` lists
    ``"property: numbers"`` for each failed one; ``summary`` is one line for a status bar, an
    error message or the dashboard's loss field.
    """

    label: str
    formula: str = ""
    takes_weights: bool = False
    properties: list[Property] = field(default_factory=list)
    symmetric: bool | None = None
    symmetry: str = ""
    table: list[tuple[float, float]] = field(default_factory=list)
    load_error: str | None = None
    task: str = "regression"
    """What the loss was checked as: ``regression`` (of predictions and targets) or
    ``binary`` / ``multiclass`` (of logits and labels)."""

    @property
    def ok(self) -> bool:
        return self.load_error is None and not any(p.status == "FAIL" for p in self.properties)

    @property
    def fatal(self) -> bool:
        """Whether training cannot run at all: the loss does not load, does not run, returns no
        scalar, or its output has no gradient (``backward()`` would raise)."""
        return self.load_error is not None or any(
            p.status == "FAIL" and p.fatal for p in self.properties
        )

    @property
    def failures(self) -> list[str]:
        if self.load_error is not None:
            return [f"loads: {self.load_error}"]
        return [f"{p.name}: {p.detail}" for p in self.properties if p.status == "FAIL"]

    @property
    def summary(self) -> str:
        if self.ok:
            n = sum(p.status == "PASS" for p in self.properties)
            sym = "symmetric" if self.symmetric else "asymmetric" if self.symmetric is False else ""
            return f"loss check passed for {self.label}: {n}/{len(self.properties)} properties" + (
                f"; {sym}" if sym else ""
            )
        if self.load_error is not None:
            return f"loss check failed: {self.load_error}"
        fails = self.failures
        more = f" (and {len(fails) - 1} more)" if len(fails) > 1 else ""
        return f"loss check failed for {self.label}: {fails[0]}{more}"

    def lines(self) -> list[str]:
        """The report as printed by ``linreg-tui check-loss``."""
        out = [f"loss: {self.label}"]
        if self.load_error is not None:
            out.append(f"  FAIL  loads           {self.load_error}")
            out.append("result: FAIL (the loss could not be loaded)")
            return out
        out.append(f"formula: {self.formula}")
        args = "pred, target" if self.task == "regression" else "logits, labels"
        weights = ", weights" if self.takes_weights else ""
        out.append(f"signature: ({args}{weights})")
        if self.task != "regression":
            out.append(f"task: {self.task} (checked on logits)")
        width = max(len(p.name) for p in self.properties)
        for p in self.properties:
            out.append(f"  {p.status}  {p.name.ljust(width)}  {p.detail}")
        if self.symmetry:
            out.append(f"symmetry: {self.symmetry}")
        if self.table:
            head = ["r = y - ŷ"] + [fmt_number(r) for r, _ in self.table]
            vals = ["L"] + [fmt_number(v) for _, v in self.table]
            widths = [max(len(a), len(b)) for a, b in zip(head, vals)]
            out.append(
                "  ".join(
                    h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(head, widths))
                )
            )
            out.append(
                "  ".join(
                    v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(vals, widths))
                )
            )
        n = sum(p.status == "PASS" for p in self.properties)
        out.append(
            f"result: {'PASS' if self.ok else 'FAIL'} ({n}/{len(self.properties)} "
            "properties passed)"
        )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "formula": self.formula,
            "ok": self.ok,
            "summary": self.summary,
            "failures": self.failures,
            "takes_weights": self.takes_weights,
            "properties": [p.to_dict() for p in self.properties],
            "symmetric": self.symmetric,
            "symmetry": self.symmetry,
            "table": [list(t) for t in self.table],
            "load_error": self.load_error,
            "task": self.task,
        }
