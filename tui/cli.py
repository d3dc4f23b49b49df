"""``linreg-tui``: the dashboard, plus the engine's headless subcommands (train, presets).

Textual and the app are imported only when the dashboard opens, so ``linreg-tui train`` stays
fast; argument parsing and preset validation are the engine's.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from engine.cli import main as engine_main


def _launch(preset: str, overrides: list[str]) -> int:
    """Open the dashboard (the engine has already validated the preset and overrides).

    Returns the app's exit code: 0 after a normal quit, non-zero when the app crashed.
    """
    from tui.app import make_app

    app = make_app(preset, overrides)
    app.run()
    return app.return_code or 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns (and exits with) the exit code."""
    return engine_main(argv, launch_app=_launch)


if __name__ == "__main__":
    sys.exit(main())
