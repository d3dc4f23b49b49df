"""The README stays true: every config key, loss and bundled preset is documented."""

from __future__ import annotations

from pathlib import Path

from engine.config import LOSS_NAMES, field_docs
from engine.config.presets import list_presets

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_config_key_is_in_the_readme():
    for key, _, _ in field_docs():
        assert f"`{key}`" in README, key


def test_every_loss_and_bundled_preset_is_in_the_readme():
    for name in LOSS_NAMES:
        assert f"| `{name}` |" in README, name
    for p in list_presets():
        if p.bundled:
            assert f"`{p.name}`" in README, p.name


def test_the_two_setup_commands_are_there():
    assert ".venv/bin/pip install -e . && .venv/bin/linreg-tui" in README
    assert ".venv/bin/pip install -e '.[test]' && .venv/bin/pytest" in README
