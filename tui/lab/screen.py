"""The loss lab screen (``i`` on the dashboard): five views of what the loss does to the data.

``1`` shape (``L(r)`` and ``ψ(r)`` of the loss and one to compare over the residual histogram),
``2`` influence (top shares beside MSE's, the rows carrying the loss), ``3`` landscape (the
objective over two weights, the descent path, the optimum), ``4`` path (coefficients over
log λ, validation error, best λ), ``5`` decision boundary (a two-feature classifier). Each
view's own keys are in the footer only while it shows: ``v`` train/val, ``c`` the loss to
compare, ``x``/``y`` the weights across and up, ``p`` the penalty. ``esc`` goes back.

The numbers come from the engine's lab in a worker (``asyncio.to_thread``: torch is imported
and the data loaded the first time, then each view is computed there), and the screen only
draws what comes back. A view that does not apply says so in one line.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import ContentSwitcher, Footer, Static

from engine.config import Config, ConfigError
from tui.lab.request import PENALTIES, VIEWS, NotApplicable, Request, compare_choice, has_run
from tui.widgets.lab_map import LabMap
from tui.widgets.lab_plots import COLORS, LabPlot, Layer, scaled_bars
from tui.widgets.lab_tables import influence_tables

VIEW_KEYS = {
    "split": ("shape", "influence", "boundary"),
    "compare": ("shape",),
    "next_i": ("landscape",),
    "next_j": ("landscape",),
    "penalty": ("path",),
}
"""The views each of the screen's own keys acts in (elsewhere it is hidden)."""


def _load(run_dir: Path | None, cfg: Config | None) -> Any:
    """The lab's source (in a thread: torch and the engine's lab are imported here, never on
    the event loop)."""
    from tui.lab.source import load_source

    return load_source(run_dir, cfg)


def _view(source: Any, request: Request) -> Any:
    """One view's numbers (in a thread)."""
    from tui.lab.views import compute

    return compute(source, request)


class LabScreen(ModalScreen[None]):
    """The lab on one source: the run on the dashboard, else the settings shown. A full-screen
    modal: opaque, and only its own keys are live (``s`` does not start a run from here)."""

    CSS_PATH = "screen.tcss"
    VIEWS = Binding.Group("View", compact=True)
    BINDINGS = [
        Binding("1", "view('shape')", "Shape", group=VIEWS),
        Binding("2", "view('influence')", "Influence", group=VIEWS),
        Binding("3", "view('landscape')", "Landscape", group=VIEWS),
        Binding("4", "view('path')", "Path", group=VIEWS),
        Binding("5", "view('boundary')", "Boundary", group=VIEWS),
        Binding("v", "split", "Train/val"),
        Binding("c", "compare", "Compare"),
        Binding("x", "next_i", "Weight →"),
        Binding("y", "next_j", "Weight ↑"),
        Binding("p", "penalty", "Penalty"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, run_dir: Path | None, build: Callable[[], Config]) -> None:
        super().__init__()
        self.run_dir, self.build = run_dir, build
        self.request = Request()
        self.source: Any = None
        """The :class:`~tui.lab.source.LabSource` once loaded (in the worker)."""
        self.shown: Any = None
        """The :class:`~tui.lab.views.ViewData` on screen (None: a message instead)."""
        self.message = ""

    def compose(self) -> ComposeResult:
        yield Static("Loss lab", id="lab-title", markup=False)
        yield Static("", id="lab-tabs")
        yield Static("", id="lab-info", markup=False)
        with ContentSwitcher(initial="v-message", id="lab-body"):
            yield Static("", id="v-message", markup=False)
            with Vertical(id="v-shape"):
                yield LabPlot(id="shape-L")
                yield LabPlot(id="shape-psi")
            yield Static("", id="v-influence")
            yield LabMap(id="v-landscape")
            with Vertical(id="v-path"):
                yield LabPlot(id="path-coefs")
                yield LabPlot(id="path-val")
            yield LabMap(id="v-boundary")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._tabs()
        self.recompute()

    # -- computing ----------------------------------------------------------------------------
    def recompute(self) -> None:
        """Ask the worker for the current view (what it draws replaces what is shown)."""
        size = self.query_one("#lab-body").content_size
        self.request = replace(self.request, cols=max(size.width, 20), rows=max(size.height, 6))
        self.shown, self.message = None, ""  # (until the worker says what to show)
        self._info(["computing…" if self.source is not None else "loading the data…"])
        cfg: Config | None = None
        if self.source is None and not has_run(self.run_dir):
            try:
                cfg = self.build()  # the form is a widget: read it here, not in the thread
            except ConfigError as exc:
                self._say(f"the settings have a problem: {exc}")
                return
        self._compute(self.request, cfg)

    @work(exclusive=True, group="lab", exit_on_error=False)
    async def _compute(self, request: Request, cfg: Config | None) -> None:
        try:
            if self.source is None:
                self.source = await asyncio.to_thread(_load, self.run_dir, cfg)
                self._title()
            data = await asyncio.to_thread(_view, self.source, request)
        except NotApplicable as exc:
            if request == self.request:
                self._say(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a view shows one line, never a traceback
            if request == self.request:
                self._say(f"cannot show {request.view}: {exc}")
            return
        if request == self.request:
            self._draw(request.view, data)

    # -- drawing ------------------------------------------------------------------------------
    def _title(self) -> None:
        src = self.source
        loss = src.cfg.loss.name if src is not None else ""
        task = f"{src.cfg.model.task} · " if src is not None and src.classifier else ""
        origin = src.origin if src is not None else ""
        text = Text(f"Loss lab · {task}{loss} · {origin}", style="bold", no_wrap=True)
        text.truncate(max(self.size.width, 20), overflow="ellipsis")
        self.query_one("#lab-title", Static).update(text)

    def _tabs(self) -> None:
        text = Text(no_wrap=True)
        for k, view in enumerate(VIEWS, 1):
            style = "bold reverse" if view == self.request.view else "dim"
            text.append(f" {k} {view} ", style=style)
            text.append(" ")
        self.query_one("#lab-tabs", Static).update(text)

    def _info(self, lines: list[str]) -> None:
        self.query_one("#lab-info", Static).update("\n".join(lines))

    def _say(self, text: str) -> None:
        """One line instead of the view (it does not apply, or failed)."""
        self.shown, self.message = None, text
        self._info([])
        self.query_one("#v-message", Static).update(text)
        self.query_one(ContentSwitcher).current = "v-message"

    def _draw(self, view: str, data: Any) -> None:
        self.shown, self.message = data, ""
        self._info(data.lines)
        d = data.data
        if view == "shape":
            self._draw_shape(d, self.query_one("#shape-L", LabPlot), "L", "L(r)")
            self._draw_shape(d, self.query_one("#shape-psi", LabPlot), "psi", "ψ(r) = ∂L/∂r")
        elif view == "influence":
            self.query_one("#v-influence", Static).update(influence_tables(d))
        elif view in ("landscape", "boundary"):
            self.query_one(f"#v-{view}", LabMap).show(
                data.map.levels, data.map.marks, classes=view == "boundary"
            )
        elif view == "path":
            self._draw_path(d)
        self.query_one(ContentSwitcher).current = f"v-{view}"

    def _draw_shape(self, d: dict[str, Any], plot: Any, key: str, what: str) -> None:
        hist = d["histogram"]
        split = self.request.split
        curve = [*d[key], *(d["compare"][key] if d["compare"] else [])]
        top = max((abs(v) for v in curve), default=1.0) or 1.0
        layers = [Layer("bars", hist["centres"], scaled_bars(hist[split]["counts"], top), "gray")]
        title = f"{what} ━ {d['loss']['name']}"
        if d["compare"]:
            layers.append(Layer("line", d["r"], d["compare"][key], "orange"))
            title += f" ━ {d['compare']['name']}"
        layers.append(Layer("line", d["r"], d[key], "cyan"))
        plot.show(f"{title} ▮ {split} residuals", layers)

    def _draw_path(self, d: dict[str, Any]) -> None:
        logs = [math.log10(v) for v in d["lambdas"]]
        names = d["feature_names"]
        shown = min(len(names), len(COLORS))
        coefs = [
            Layer("line", logs, [row[k] for row in d["coefs"]], COLORS[k]) for k in range(shown)
        ]
        best = d["best"]
        marker = [Layer("vline", [logs[best]], [], "red+")] if best is not None else []
        legend = " ".join(names[:shown]) + (" …" if shown < len(names) else "")
        self.query_one("#path-coefs", LabPlot).show(
            f"{d['penalty']} coefficients over log10 λ: {legend}", [*coefs, *marker]
        )
        val = d["val_mse"] or []
        ok = [(x, v) for x, v in zip(logs, val) if v is not None]
        self.query_one("#path-val", LabPlot).show(
            "validation MSE (│ best λ)",
            [Layer("line", [x for x, _ in ok], [v for _, v in ok], "green+"), *marker],
        )

    # -- keys ---------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        views = VIEW_KEYS.get(action)
        return views is None or self.request.view in views

    def _change(self, **changes: Any) -> None:
        self.request = replace(self.request, **changes)
        self._tabs()
        self.refresh_bindings()
        self.recompute()

    def action_view(self, view: str) -> None:
        if view != self.request.view:
            self._change(view=view)

    def action_split(self) -> None:
        self._change(split="val" if self.request.split == "train" else "train")

    def action_compare(self) -> None:
        if self.source is None:
            return
        chosen = self.source.loss()[0].name
        self._change(
            compare=compare_choice(chosen, compare_choice(chosen, self.request.compare), 1)
        )

    def _next_weight(self, k: int, skip: int) -> int:
        """The weight after ``k`` that is not ``skip`` (with two weights: ``skip`` itself)."""
        d = self.source.n_features if self.source is not None else 2
        nxt = (k + 1) % d
        return (nxt + 1) % d if nxt == skip and d > 2 else nxt

    def action_next_i(self) -> None:
        i, j = self.request.i, self.request.j
        new = self._next_weight(i, j)
        self._change(i=new, j=i if new == j else j)  # two weights: the axes swap

    def action_next_j(self) -> None:
        i, j = self.request.i, self.request.j
        new = self._next_weight(j, i)
        self._change(j=new, i=j if new == i else i)

    def action_penalty(self) -> None:
        k = PENALTIES.index(self.request.penalty)
        self._change(penalty=PENALTIES[(k + 1) % len(PENALTIES)])

    def action_back(self) -> None:
        self.app.pop_screen()
