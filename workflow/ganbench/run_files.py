"""Reading a finished run's files for the report and its figures: one place that knows the run
folder's layout (impls/README.md, section 4) and forgives a missing or unreadable file.

Every reader returns None / [] / {} for a file that is absent or unreadable: a report of a
partial study draws what there is.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

# log.csv's numeric series beside `step` (runkit.outputs.LOG_COLUMNS)
LOG_NUMERIC = ("d_loss", "g_loss", "d_real", "d_fake")


class Resolver:
    """Maps a summary ``run_dir`` to an existing folder: as given (relative to the cwd),
    else relative to the repo root guessed from the summary path."""

    def __init__(self, summary_path: Path):
        self.roots = [Path.cwd()]
        summary_path = Path(summary_path).resolve()
        for parent in list(summary_path.parents)[:4]:
            if parent not in self.roots:
                self.roots.append(parent)

    def __call__(self, run_dir) -> Path | None:
        if run_dir is None or (isinstance(run_dir, float) and math.isnan(run_dir)) or str(run_dir) == "":
            return None
        p = Path(str(run_dir))
        if p.is_absolute():
            return p if p.is_dir() else None
        for root in self.roots:
            if (root / p).is_dir():
                return root / p
        return None


def read_json(path: Path | None) -> dict:
    """A JSON object file ({} when absent, unreadable or not an object)."""
    if path is None:
        return {}
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_spec(run_dir: Path | None) -> dict:
    """A run's spec.json ({} when absent or unreadable)."""
    return read_json(None if run_dir is None else Path(run_dir) / "spec.json")


def read_metrics(run_dir: Path | None) -> dict:
    """A run's metrics.json, the evaluator's scores ({} when absent or unreadable)."""
    return read_json(None if run_dir is None else Path(run_dir) / "metrics.json")


def read_log(path: Path) -> pd.DataFrame | None:
    """log.csv with numeric columns, or None (absent, unreadable, no rows)."""
    try:
        log = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return None
    if "step" not in log or log.empty:
        return None
    for col in ("step", *LOG_NUMERIC):
        if col in log:
            log[col] = pd.to_numeric(log[col], errors="coerce")
    return log


def read_curve(run_dir: Path | None) -> list[dict]:
    """The ``curve`` points of a run's metrics.json ([] when absent or unreadable)."""
    curve = read_metrics(run_dir).get("curve")
    return [p for p in curve if isinstance(p, dict) and "step" in p] if isinstance(curve, list) else []


def read_class_hist(run_dir: Path | None) -> list[float] | None:
    """The generated-class histogram of a run's end score (metrics.json ``class_hist``) as shares, or None."""
    hist = read_metrics(run_dir).get("class_hist")
    if not isinstance(hist, list) or not hist:
        return None
    values = np.asarray(hist, dtype=float)
    return list(values / values.sum()) if values.sum() > 0 else None
