"""The arithmetic of testing many hypotheses at once: Holm's step-down adjusted p, and the
smallest p each endpoint scale's test can give at a planned n (``min_p_of`` / ``min_p_ruled_of``),
which decides whether a test can pass Holm's first step and so may enter its claim's family:
0 for the t-tests (as the seed SD goes to 0), exact enumeration for Barnard's test and the
ruled-out failure-rate test, closed form for Brown-Forsythe.
"""
from __future__ import annotations

import math

import numpy as np

from ganbench.stats.conventions import MIN_SEEDS
from ganbench.stats.failure_rate import barnard_min_p, divergence_ruled_min_p
from ganbench.stats.seed_spread import brown_forsythe_min_p


def holm(pvalues) -> np.ndarray:
    """Holm step-down adjusted p-values; NaN entries are not in the family and stay NaN."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    m = len(idx)
    running = 0.0
    for rank, i in enumerate(idx[np.argsort(p[idx], kind="mergesort")]):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def min_p_of(scale: str, n_t: int, n_c: int | None = None) -> float:
    """Smallest p of the effect test of an endpoint on ``scale`` at n_t vs n_c seeds (planned n)."""
    n_c = n_t if n_c is None else n_c
    if min(n_t, n_c) < (1 if scale == "divergence" else MIN_SEEDS):
        return 1.0
    if scale == "divergence":
        return barnard_min_p(n_t, n_c)
    if scale == "spread":
        return brown_forsythe_min_p(n_t, n_c)
    return 0.0


def min_p_ruled_of(scale: str, n_t: int, n_c: int | None = None, sesoi: float = math.nan) -> float:
    """Smallest p of the 'ruled out' (or 'beyond the margin') test at n_t vs n_c seeds."""
    n_c = n_t if n_c is None else n_c
    if min(n_t, n_c) < (1 if scale == "divergence" else MIN_SEEDS):
        return 1.0
    if scale == "divergence":
        return divergence_ruled_min_p(n_t, n_c, float(sesoi))
    return 0.0
