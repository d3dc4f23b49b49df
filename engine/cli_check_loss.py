"""``linreg-tui check-loss SPEC [--params K=V ...]``: check a loss before trusting it.

SPEC is a user loss (``path/to/file.py:obj``, relative to the current folder, or
``package.module:obj``), a built-in loss name (``mse``, ``huber``, ...) to compare against, or a
preset file (``*.yaml``) whose loss section is checked as it would train. The properties checked
are listed in :mod:`engine.loss_check`.

Exit codes: 0 the check passed; 2 bad input or a failed check (the report on stdout, then one
line on stderr naming the loss and the failed property with its numbers; never a traceback).

Torch is imported only inside :func:`run`, so ``linreg-tui`` itself starts fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import yaml

from engine.config import ConfigError

EXIT_OK, EXIT_BAD = 0, 2

HELP = "check a loss (user file, module or built-in) before training with it"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``check-loss``."""
    p.add_argument("spec", metavar="SPEC",
                   help="path/to/file.py:obj (relative to the current folder), "
                        "package.module:obj, a built-in loss name (mse, mae, huber, smooth_l1, "
                        "log_cosh, quantile) or a preset .yaml file whose loss is checked")
    p.add_argument("--params", action="append", default=[], metavar="K=V|JSON",
                   help="keyword parameters of the loss: K=V pairs (values parsed as YAML, e.g. "
                        "lam=0.1 or name=abc) or one JSON object ('{\"lam\": 0.1}'); "
                        "repeatable. Built-ins take delta (huber, smooth_l1) or quantile")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the random test batches (default 0)")
    p.add_argument("--json", action="store_true",
                   help="print the report as one JSON object instead of text")


def parse_params(items: list[str]) -> dict[str, Any]:
    """``["lam=0.1", '{"under": 3}']`` -> ``{"lam": 0.1, "under": 3}``; bad input -> ConfigError."""
    out: dict[str, Any] = {}
    for item in items:
        text = item.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"--params {item}: not valid JSON ({exc.msg} at column "
                                  f"{exc.colno})") from None
            if not isinstance(value, dict):
                raise ConfigError(f"--params {item}: expected a JSON object")
            out.update(value)
            continue
        pieces = text.split(",")
        if not all("=" in piece for piece in pieces):  # a comma inside a value: one pair
            pieces = [text]
        for pair in pieces:
            key, sep, raw = pair.partition("=")
            key = key.strip()
            if not sep or not key.isidentifier():
                raise ConfigError(f"--params {item}: expected K=V (e.g. lam=0.1) or a JSON "
                                  "object")
            try:
                out[key] = yaml.safe_load(raw) if raw.strip() else None
            except yaml.YAMLError:
                out[key] = raw
    return out


def run(args: argparse.Namespace) -> int:
    """Check the loss, print the report; 0 when it passed, 2 otherwise."""
    from engine.loss_check import check_loss  # imports torch

    params = parse_params(args.params)
    spec: Any = args.spec
    if spec.endswith((".yaml", ".yml")) and ":" not in spec:
        from engine.presets import load_config

        if params:
            raise ConfigError("--params does not apply to a preset: set loss.params in the "
                              "preset (or use --set with 'linreg-tui train')")
        spec = load_config(spec)
    report = check_loss(spec, params, base_dir=os.getcwd() if isinstance(spec, str) else None,
                        seed=args.seed)
    if report.load_error is not None:
        raise ConfigError(report.load_error)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        print("\n".join(report.lines()))
    sys.stdout.flush()
    if not report.ok:
        print(f"error: {report.summary}", file=sys.stderr)
        return EXIT_BAD
    return EXIT_OK
