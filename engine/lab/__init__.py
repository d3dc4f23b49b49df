"""The loss lab: what a loss does to *your* data, as plain numbers a view, a script or ``--json``
can show.

A run shows its loss as a curve over epochs; that says *that* a loss converged, not *why* a fit
looks the way it does. The lab answers the why, headless and testable:

- :mod:`engine.lab.shape`: ``L(r)`` and ``ψ(r) = ∂L/∂r`` of a registered loss over a grid of
  residuals, beside the histogram of the current residuals;
- :mod:`engine.lab.influence`: each row's share of the data loss, the top rows, robust z;
- :mod:`engine.lab.landscape`: the objective over two weights (vectorised grid) and the
  gradient-descent path read from a run's events;
- :mod:`engine.lab.path` and :mod:`engine.lab.coordinate`: exact ridge / lasso / elastic-net
  coefficient paths over a grid of λ, with validation error along them;
- :mod:`engine.lab.inspect`: all of the above for a finished run directory, as one JSON-ready
  dict (``linreg-tui inspect``).

Conventions are the engine's: ``r = y - ŷ``, every data loss is a mean over rows, the penalties
``l1·Σ|w| + l2·Σw²`` never touch the bias, and every number is in the units the model trained
in (after the run's standardisation).
"""
