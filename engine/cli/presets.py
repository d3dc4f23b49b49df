"""``linreg-tui presets``: the bundled presets, then the user's, each with its description."""

from __future__ import annotations

import argparse

from engine.cli.common import EXIT_OK

HELP = "list the bundled and user presets"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``presets`` takes no arguments."""


def run(args: argparse.Namespace) -> int:
    """Bundled presets, then the user's, each group by name (``ridge`` before ``ridge-custom``)."""
    from engine.config.presets import list_presets, user_dir

    infos = sorted(list_presets(), key=lambda p: (not p.bundled, p.name.split("-")))
    width = max(len(p.name) for p in infos)
    for bundled, heading in ((True, "bundled (read-only):"), (False, f"yours, in {user_dir()}:")):
        group = [p for p in infos if p.bundled == bundled]
        if group:
            print(heading)
        for p in group:
            tag = "" if p.bundled else "  [user]"
            print(f"{p.name.ljust(width)}  {p.description}{tag}")
    return EXIT_OK
