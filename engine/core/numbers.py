"""One way to write a number for people: the CLI tables, the run summary, the dashboard, reports.

Every place that shows a number to a person calls :func:`fmt_number`, so the same loss reads the
same in ``linreg-tui runs``, the summary, the sweep table and the dashboard's panels. Values a
user typed (a form field, ``--set``) are not shown through it: they keep their full precision.
"""

from __future__ import annotations

import math
from typing import Any

MISSING = "-"
"""What a number that is not there (None) reads as."""


def fmt_number(value: Any, digits: int = 4, *, missing: str = MISSING) -> str:
    """``value`` with ``digits`` significant digits; ints, bools and text as they are.

    ``None`` is ``missing``; non-finite floats read ``inf``, ``-inf``, ``nan``; ``-0.0`` is
    ``0``; exponents lose their padding (``1e-5``, not ``1e-05``).
    """
    if value is None:
        return missing
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    text = f"{value + 0.0:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text
