"""The README's preset-key table is the schema's documentation, row for row.

Each field's doc lives once, in ``engine/config/schema.py`` (many read from the registry); the
README table must say the same, so a changed range or a new choice cannot leave it stale.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.config.schema import field_docs

README = Path(__file__).resolve().parents[1] / "README.md"


def _value(default: Any) -> str:
    if default is None:
        return "null"
    if default == "":
        return '""'
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, (dict, list)):
        return json.dumps(default)
    return str(default)


def test_every_key_row_is_the_schemas_doc() -> None:
    rows = set(README.read_text(encoding="utf-8").splitlines())
    missing = [
        f"| `{key}` | `{_value(default)}` | {doc.replace('|', '&#124;')} |"
        for key, default, doc in field_docs()
    ]
    missing = [row for row in missing if row not in rows]
    assert not missing, "README key table differs from the schema:\n" + "\n".join(missing)
