"""The dashboard's loss lab (key ``i``): the engine's lab (:mod:`engine.lab`) as five views.

Why a package of its own: the lab needs torch (the residuals, the landscape grid, the path), which
the dashboard never imports at start-up. Everything here is imported when the lab opens, and
the numbers are computed off the event loop:

- :mod:`tui.lab.source`: what the views are about (a run's config, data and weights, or the
  settings' optimum when there is no run), Textual-free;
- :mod:`tui.lab.views`: each view's numbers and lines of text from the engine's lab functions,
  Textual-free (a view that does not apply raises :class:`~tui.lab.views.NotApplicable` with
  one line saying why);
- :mod:`tui.lab.screen`: the screen, its keys, and the worker that computes.
"""
