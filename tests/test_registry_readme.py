"""The README's loss and optimizer tables say what the registries declare.

Each built-in loss has a row in the "## Losses" table holding its formula (the registry's
template with its parameters as symbols) and, per parameter, its config key and default; each
built-in optimizer has a row in the optimizer table holding its update formula and the
``optim.*`` keys it reads. No row names an entry the registry does not have.
"""

from __future__ import annotations

from pathlib import Path

from engine.optimizer_registry import OPTIMIZERS, builtin_optimizer_names
from engine.registry import CLASSIFICATION_LOSSES, LOSSES, builtin_loss_names

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    """The README's text from ``title`` to the next ``## `` heading."""
    start = README.index(f"\n{title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def table(text: str, header: str) -> dict[str, str]:
    """The rows of the table under the header line starting with ``header``, by first cell
    (backticks stripped), with Markdown's escaped ``\\|`` read back as ``|``."""
    lines = text[text.index("\n" + header) :].splitlines()[3:]  # skip header and ---
    rows: dict[str, str] = {}
    for line in lines:
        if not line.startswith("|"):
            break
        first = line.split(" | ", 1)[0].removeprefix("| ").strip("`")
        rows[first] = line.replace("\\|", "|")
    return rows


def test_the_loss_table_has_each_builtin_with_its_formula_keys_and_defaults() -> None:
    rows = table(section("## Losses"), "| `loss.name` |")
    every = {**LOSSES, **CLASSIFICATION_LOSSES}
    assert set(rows) - {"penalties"} == set(builtin_loss_names()) | set(CLASSIFICATION_LOSSES)
    for name in [*builtin_loss_names(), *CLASSIFICATION_LOSSES]:
        spec, row = every[name], rows[name]
        assert f"`{spec.symbolic()}`" in row, (name, spec.symbolic())
        for p, key in zip(spec.params, spec.form_keys()):
            assert f"`{p.symbol} = {key}` (default {p.default:g})" in row, (name, key)


def test_the_optimizer_table_has_each_builtin_with_its_update_and_keys() -> None:
    rows = table(section("## Losses"), "| `optim.name` |")
    assert set(rows) == set(builtin_optimizer_names())
    for name in builtin_optimizer_names():
        spec, row = OPTIMIZERS[name], rows[name]
        assert spec.formula and f"`{spec.formula}`" in row, name
        keys = row.rsplit(" | ", 1)[1].rstrip(" |")
        assert keys == ", ".join(f"`{k}`" for k in spec.form_keys()), name
