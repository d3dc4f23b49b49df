"""A run in this thread, printed for a person and recorded in its run directory: what
``linreg-tui train`` and ``linreg-tui resume`` both do once they know the config.

The event stream feeds the printer and the run directory alike, through a
:class:`~engine.core.run_watch.RunWatch` that adds the trainer's resource samples to it (at
most one a second) and, at the end, the fit's warnings to the summary (``warning: …``).
Ctrl-C, SIGTERM and SIGHUP stop the run cleanly (:mod:`engine.core.signals`): checkpoint,
``RunFinished``, the summary where stdout still exists, exit 128 + the signal. A closed or
hung-up stdout is not an error: the run goes on and completes its directory. A run that fails
on its config records the config key in ``status.json`` (``error_key``) so a dashboard can
show the reason at the field.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TextIO

from engine.cli.common import EXIT_FAILED, EXIT_OK
from engine.cli.summary import Printer
from engine.config import Config, ConfigError
from engine.core.events import Event, RunFinished, RunStarted
from engine.core.run_watch import RunWatch


def run_headless(
    cfg: Config,
    *,
    as_json: bool,
    out: TextIO | None,
    err: TextIO | None,
    run_dir: Path | None = None,
    resume_from: dict[str, Any] | None = None,
    resume_epoch: int | None = None,
    keep_failed: bool = False,
) -> int:
    """Train in this thread, printing events and writing ``run_dir`` (None: nothing saved).

    Returns 0 (completed / early-stopped), 1 (diverged) or 128 + signal when a signal stopped it.
    Bad input found while loading removes a fresh ``run_dir`` (nothing ran), unless
    ``keep_failed``: a directory the caller chose (``--run-dir``) is kept, marked crashed with
    the error's key and text, for the caller (the dashboard) to read and remove.
    """
    from engine.core.control import Control
    from engine.core.signals import StopOnSignals
    from engine.data.dataset import Stopped
    from engine.runs.writer import RunWriter
    from engine.training.trainer import run_training

    control = Control()
    printer = Printer(out, err, as_json=as_json)
    writer = None
    if run_dir is not None:
        from engine.config.presets import portable_dict

        writer = RunWriter(run_dir, portable_dict(cfg, cfg.name), resume_epoch=resume_epoch)

    watch = RunWatch()

    def emit(ev: Event) -> None:
        for out in watch(ev):
            if writer is not None:
                writer(out)
                if isinstance(out, RunStarted) and not as_json:
                    printer.err.write(f"run: {run_dir}\n")
            printer(out)
            if isinstance(out, RunFinished) and not as_json:
                for line in watch.warnings(out):
                    printer.out.write(f"warning: {line}\n")

    signals = StopOnSignals(control)
    early = False
    try:
        with signals:
            early = control.stopped  # a signal held while an import ran: nothing has started
            if early:
                raise Stopped()
            fin = run_training(cfg, emit, control, checkpoints=writer, resume_from=resume_from)
    except (ConfigError, Stopped) as exc:
        # Bad input found while loading, or a stop before the first epoch: nothing ran, so
        # a fresh run directory is removed rather than left as a crash to clean up.
        if writer is not None and writer.untouched:
            pass  # a resume that could not start: the run stays exactly as it was
        elif writer is not None and keep_failed:  # the caller reads why, then tidies up
            writer.crashed(f"{type(exc).__name__}: {exc}", **config_error_fields(exc))
        elif writer is not None:
            writer.discard_if_empty(f"{type(exc).__name__}: {exc}")
        if isinstance(exc, Stopped):
            when = "before the run started" if early else "while loading data"
            printer.err.write(f"stopped by {control.stopped_by} {when}; nothing ran\n")
            return signals.exit_code
        raise
    except Exception as exc:
        if writer is not None and not writer.untouched:
            writer.crashed(f"{type(exc).__name__}: {exc}", **config_error_fields(exc))
        raise
    finally:
        if writer is not None:
            writer.close()
    if fin.reason == "cancelled" and signals.interrupted:
        return signals.exit_code
    return EXIT_FAILED if fin.reason == "diverged" else EXIT_OK


def config_error_fields(exc: Exception) -> dict[str, Any]:
    """A config error's key and one-line reason, for ``status.json`` (a dashboard reads them).

    They go in the same write as the crashed state: a reader that sees the process gone sees
    them too. A user loss that cannot be loaded or called is the callable's fault when the
    engine names no other key (its error class lives in a torch-importing module: looked up only
    if loaded).
    """
    if not isinstance(exc, ConfigError):
        return {}
    user_spec = sys.modules.get("engine.losses.user_spec")
    key = exc.key or (
        "loss.callable"
        if user_spec is not None and isinstance(exc, user_spec.UserLossError)
        else None
    )
    return {"error_key": key, "error_text": str(exc)[:300]}
