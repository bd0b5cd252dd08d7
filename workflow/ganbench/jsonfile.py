"""Write a rule's JSON output (spec.json, config.json) and say so in its log."""
from __future__ import annotations

import json
from pathlib import Path


def write_json(path: str | Path, obj, log: str | Path) -> None:
    """``obj`` as sorted, indented JSON at ``path`` (atomically), one line in ``log``."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True))
    tmp.replace(path)
    Path(log).write_text(f"wrote {path}\n")
