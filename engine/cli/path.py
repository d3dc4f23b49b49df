"""``linreg-tui path PRESET --penalty l2|l1|elasticnet [--l1-ratio R] [--json]``: the
regularisation path of a preset's data.

The exact coefficients of ``mean((y - Xw - b)²) + penalty(λ)`` over a log grid of λ on the
preset's prepared training split, scored on its validation split (see
:mod:`engine.lab.path` for the objectives and scikit-learn's equivalents): one line per λ,
strongest first, with the validation MSE and R², how many coefficients are non-zero and the
coefficients themselves; ``*`` marks the λ with the lowest validation MSE. ``--json`` prints
the whole path as one object. The preset's own loss and penalties are not used: the path is
always of MSE. Torch is imported only inside :func:`run`.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from engine.cli.common import EXIT_OK, add_preset_args, positive, table
from engine.core.numbers import fmt_number

HELP = "exact ridge / lasso / elastic-net coefficients over a grid of λ, with validation error"
NAME = "path"
MAX_COEF_COLUMNS = 6
"""Coefficient columns in the text table; ``--json`` has them all."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``path``."""
    add_preset_args(p)
    p.add_argument(
        "--penalty",
        choices=("l2", "l1", "elasticnet"),
        default="l2",
        help="l2: mean((y-ŷ)²) + λ·Σw² (ridge); l1: + λ·Σ|w| (lasso); elasticnet: "
        "+ λ·(R·Σ|w| + (1-R)·Σw²) (default l2)",
    )
    p.add_argument(
        "--l1-ratio",
        type=float,
        default=0.5,
        metavar="R",
        help="for elasticnet, the share R of λ on Σ|w|, in (0, 1] (default 0.5)",
    )
    p.add_argument(
        "--lambdas",
        type=positive,
        default=50,
        metavar="N",
        help="number of λ values on the log grid (default 50)",
    )
    p.add_argument(
        "--min-ratio",
        type=float,
        default=None,
        metavar="F",
        help="smallest λ as a fraction of the largest (default 1e-6 for l2, else "
        "1e-4, or 1e-2 with more features than rows)",
    )
    p.add_argument("--json", action="store_true", help="print the path as one JSON object")


def lines(result: dict[str, Any], preset: str) -> list[str]:
    """The path as text: a heading, the table, the best λ."""
    names: list[str] = result["feature_names"]
    shown = names[:MAX_COEF_COLUMNS]
    head = [
        f"{preset}: {result['objective']}",
        f"{result['n_train']} training rows, {result['n_val']} validation rows; "
        "coefficients on the prepared (trained-on) features",
    ]
    rows = [["", "λ", "val MSE", "val R²", "nonzero", *shown]]
    for k, lam in enumerate(result["lambdas"]):
        val_mse = result["val_mse"][k] if result["val_mse"] is not None else None
        val_r2 = result["val_r2"][k] if result["val_r2"] is not None else None
        rows.append(
            [
                "*" if k == result["best"] else "",
                fmt_number(lam),
                fmt_number(val_mse),
                fmt_number(val_r2),
                str(result["nonzero"][k]),
                *(fmt_number(c) for c in result["coefs"][k][:MAX_COEF_COLUMNS]),
            ]
        )
    out = [*head, *table(rows)]
    if len(names) > len(shown):
        out.append(f"(the first {len(shown)} of {len(names)} coefficients; --json has all)")
    if result["best"] is None:
        out.append("no validation rows: no best λ (set data.val_fraction > 0)")
    else:
        out.append(
            f"* best λ = {fmt_number(result['best_lambda'])}: lowest validation MSE "
            f"{fmt_number(result['val_mse'][result['best']])}"
        )
    if not result["converged"]:
        out.append("warning: coordinate descent did not converge at every λ")
    return out


def run(args: argparse.Namespace) -> int:
    """Compute the path and print it (exit 0); bad input raises ConfigError (exit 2)."""
    from engine.config.presets import load_config
    from engine.lab.path import config_path

    cfg = load_config(args.preset, args.overrides)
    result = config_path(
        cfg, args.penalty, l1_ratio=args.l1_ratio, n_lambdas=args.lambdas, min_ratio=args.min_ratio
    ).to_dict()
    if args.json:
        print(json.dumps({"preset": cfg.name, **result}, ensure_ascii=False))
    else:
        print("\n".join(lines(result, cfg.name)))
    return EXIT_OK
