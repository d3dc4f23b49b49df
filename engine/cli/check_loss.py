"""``linreg-tui check-loss SPEC [--params K=V ...] [--task TASK]``: check a loss before trusting it.

SPEC is a user loss (``path/to/file.py:obj``, relative to the current folder, or
``package.module:obj``), a built-in loss name (``mse``, ``huber``, ``log_loss``, ...) to compare
against, or a preset (a bundled or user preset name, or a ``*.yaml`` file) whose loss section is
checked as it would train. The properties checked are listed in :mod:`engine.losses.check`.
``--task binary|multiclass`` checks a user loss as a classification loss, given logits and
labels (:mod:`engine.losses.check_classes`); a preset and a built-in loss have their own task
(a ``--task`` that contradicts it is refused).

Exit codes: 0 the check passed; 2 bad input or a failed check (the report on stdout, then one
line on stderr naming the loss and the failed property with its numbers; never a traceback).
The loss is loaded and checked under a time limit (``--timeout``, default 10 s): a loss that
loops forever fails with one line naming the time-out. A loss that leaves a non-daemon thread
running gets a warning and the process exits anyway (it would otherwise wait for the thread).

Torch is imported only inside :func:`run`, so ``linreg-tui`` itself starts fast.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from typing import Any

from engine.cli.common import EXIT_BAD_INPUT, EXIT_OK
from engine.config import ConfigError
from engine.config.yaml_io import is_syntax_error, load_yaml, one_line
from engine.losses.user_code import DEFAULT_TIMEOUT_S, stray_threads
from engine.registry import CLASSIFICATION_LOSSES, LOSSES, any_loss

TASKS = ("regression", "binary", "multiclass")

HELP = "check a loss (user file, module or built-in) before training with it"


def builtin_params_text() -> str:
    """Which parameters the registered losses take, e.g. ``delta (huber, smooth_l1) or quantile``
    (a parameter named after its only loss is not repeated)."""
    users: dict[str, list[str]] = {}
    for spec in LOSSES.values():
        for param in spec.params:
            users.setdefault(param.name, []).append(spec.name)
    parts = [
        name if losses == [name] else f"{name} ({', '.join(losses)})"
        for name, losses in users.items()
    ]
    return ", ".join(parts[:-1]) + " or " + parts[-1] if len(parts) > 1 else "".join(parts)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``check-loss``."""
    p.add_argument(
        "spec",
        metavar="SPEC",
        help="path/to/file.py:obj (relative to the current folder), "
        f"package.module:obj, a built-in loss name ({', '.join([*LOSSES, *CLASSIFICATION_LOSSES])})"
        " or a preset (a name or a .yaml file) whose loss is checked",
    )
    p.add_argument(
        "--task",
        choices=TASKS,
        default=None,
        help="check the loss as a regression loss (of predictions and targets: the default for "
        "a user loss) or a binary / multiclass one (of logits and labels); a preset and a "
        "built-in loss have their own",
    )
    p.add_argument(
        "--params",
        action="append",
        default=[],
        metavar="K=V|JSON",
        help="keyword parameters of the loss: K=V pairs (values parsed as YAML, e.g. "
        "lam=0.1 or name=abc) or one JSON object ('{\"lam\": 0.1}'); "
        f"repeatable. Built-ins take {builtin_params_text()}",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the random test batches (default 0)"
    )
    p.add_argument(
        "--json", action="store_true", help="print the report as one JSON object instead of text"
    )
    p.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help="time limit for loading and checking the loss (default "
        f"{DEFAULT_TIMEOUT_S:g}; a loss that runs longer fails the check)",
    )


def _seconds(text: str) -> float:
    """A ``--timeout`` value: a positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(
            f"expected a number of seconds > 0, got {one_line(text)!r}"
        )
    return value


def parse_params(items: list[str]) -> dict[str, Any]:
    """``["lam=0.1", '{"under": 3}']`` -> ``{"lam": 0.1, "under": 3}``; bad input -> ConfigError."""
    out: dict[str, Any] = {}
    for item in items:
        text = item.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError(
                    f"--params {item}: not valid JSON ({exc.msg} at column {exc.colno})"
                ) from None
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
                raise ConfigError(f"--params {item}: expected K=V (e.g. lam=0.1) or a JSON object")
            try:
                out[key] = load_yaml(raw, f"--params {key}", lines=False) if raw.strip() else None
            except ConfigError as exc:  # plain bad syntax is text, as with --set
                if not is_syntax_error(exc):
                    raise
                out[key] = raw
    return out


def run(args: argparse.Namespace) -> int:
    """Check the loss, print the report; 0 when it passed, 2 otherwise."""
    from engine.losses.check import check_loss  # imports torch

    params = parse_params(args.params)
    spec: Any = preset_or_spec(args.spec)
    if params and not isinstance(spec, str):
        raise ConfigError(
            "--params does not apply to a preset: set loss.params in the "
            "preset (or use --set with 'linreg-tui train')"
        )
    before = set(stray_threads())
    report = check_loss(
        spec,
        params,
        base_dir=os.getcwd() if isinstance(spec, str) else None,
        seed=args.seed,
        timeout=args.timeout,
        task=args.task,
    )
    if report.load_error is not None:
        _exit_if_threads_left(before, EXIT_BAD_INPUT, f"error: {report.load_error}")
        raise ConfigError(report.load_error)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        print("\n".join(report.lines()))
    sys.stdout.flush()
    code = EXIT_OK if report.ok else EXIT_BAD_INPUT
    if not report.ok:
        print(f"error: {report.summary}", file=sys.stderr)
    _exit_if_threads_left(before, code)
    return code


def preset_or_spec(spec: str) -> Any:
    """What SPEC names: a loss spec or built-in name (returned as is), else a preset's Config
    (a ``.yaml`` path, or a bundled or user preset name). A name that is neither is one line
    naming the closest preset, or (from the loss check) the closest loss."""
    from engine.config.presets import list_presets, load_config

    if ":" in spec or any_loss(spec) is not None:
        return spec
    if spec.endswith((".yaml", ".yml")) or os.sep in spec or "/" in spec:
        return load_config(spec)
    presets = [p.name for p in list_presets()]
    if spec in presets:
        return load_config(spec)
    import difflib

    close = difflib.get_close_matches(spec, [*LOSSES, *CLASSIFICATION_LOSSES, *presets], n=1)
    if not close or close[0] not in presets:
        return spec  # the loss check names the closest loss, or what a spec looks like
    raise ConfigError(
        f"check-loss {one_line(spec)!r}: not a built-in loss, a preset, 'path/to/file.py:obj' or "
        f"'package.module:obj' (did you mean the preset {close[0]!r}?)"
    )


def _exit_if_threads_left(before: set[str], code: int, error: str = "") -> None:
    """When the loss left non-daemon threads running: print ``error`` (if any) and a warning
    naming them, and exit now with ``code`` (the interpreter would wait for them forever)."""
    left = [name for name in stray_threads() if name not in before]
    if not left:
        return
    if error:
        print(error, file=sys.stderr)
    print(
        f"warning: the loss left thread(s) running ({one_line(', '.join(left))}); exiting "
        "without waiting for them",
        file=sys.stderr,
    )
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
    os._exit(code)
