"""Architecture contracts: the engine is headless; config and presets load without torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[1] / "engine"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_engine_source_never_imports_textual_or_tui():
    for path in ENGINE.glob("*.py"):
        bad = imported_modules(path) & {"textual", "textual_plotext", "plotext", "tui"}
        assert not bad, f"{path.name} imports {bad}"


def run_python(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ENGINE.parent
    ).stdout.strip()


def test_a_whole_run_loads_no_textual():
    out = run_python(
        "import sys, engine\n"
        "cfg = engine.load_config('default', ['train.epochs=2'])\n"
        "engine.fit(cfg)\n"
        "import engine.cli.main\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('textual', 'tui', 'plotext', 'textual_plotext')))"
    )
    assert out == "[]"


def test_config_presets_and_formulas_do_not_import_torch():
    out = run_python(
        "import sys, engine, engine.config, engine.config.presets, engine.config.yaml_io\n"
        "import engine.losses.formulas\n"
        "import engine.core.events\n"
        "import engine.training.run, engine.cli.main\n"
        "cfg = engine.load_config('ridge')\n"
        "engine.losses.formulas.describe(cfg.loss)\n"
        "print('torch' in sys.modules)"
    )
    assert out == "False"
