"""Shared styling of the report's figures: the Agg backend, the seaborn theme, the resolution,
the verdict colours, saving a figure and the labelled placeholder drawn when data are missing
(so the fixed file names always exist), plus the small number checks the figures share.
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

DPI = 110
VERDICT_COLOURS = {"reproduced": "#1b7837", "weaker than claimed": "#e08214", "not reproduced": "#b2182b",
                   "inconclusive": "#7f7f7f"}

sns.set_theme(style="whitegrid", context="notebook")
matplotlib.rcParams["axes.formatter.useoffset"] = False  # no "1e-7+6.98" offsets on near-constant axes

def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def placeholder(path: Path, title: str, message: str) -> Path:
    fig, ax = plt.subplots(figsize=(6, 2.2))
    ax.axis("off")
    ax.set_title(title)
    ax.text(0.5, 0.45, message, ha="center", va="center", wrap=True, fontsize=11, color="#555555")
    return _save(fig, path)


def _finite(x) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _int_or(x, default: int) -> int:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return default
    return int(x) if math.isfinite(x) and x > 0 else default
