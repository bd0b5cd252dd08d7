"""Conventions every test in this package shares: the level, the fewest seeds a test needs, when
data have no variance (so a statistic would be infinite), and the result of a test not run."""
from __future__ import annotations

import math

import numpy as np

ALPHA = 0.05
MIN_SEEDS = 3  # t and Brown-Forsythe need >= 3 seeds (>= 2 degrees of freedom)


def nan_result(**extra) -> dict:
    """A test's result with every number NaN (too few seeds, or an arm without data)."""
    return {"n": 0, "estimate": math.nan, "ci_lo": math.nan, "ci_hi": math.nan, "p": math.nan,
            "p_ruled": math.nan, "min_p": math.nan, "min_p_ruled": math.nan, **extra}


def constant(d: np.ndarray) -> bool:
    """Every value equal (up to rounding: 1e-12 relative), so a t statistic would be infinite."""
    d = np.asarray(d, dtype=float)
    return len(d) > 0 and float(np.ptp(d)) <= 1e-12 * max(1.0, float(np.max(np.abs(d))))
