"""Tests and intervals of the training-failure rate over seeds (a seed fails when at least half
of its runs diverged or did not learn):

* Barnard's exact unconditional test of the two arms' rates, Clopper-Pearson (exact) CI per
  arm, Newcombe's hybrid-score CI of the difference;
* "ruled out": the exact unconditional test that the failure-rate difference is at least the
  SESOI (tables ordered by the Farrington-Manning score, the p maximised over the nuisance
  control rate), i.e. the difference's upper bound below the SESOI.

Both tests' smallest attainable p (``barnard_min_p``, ``divergence_ruled_min_p``) is found by
exact enumeration at the most extreme table.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import optimize
from scipy import stats as sps

from ganbench.stats.conventions import nan_result


@lru_cache(maxsize=4096)
def _barnard(k_t: int, n_t: int, k_c: int, n_c: int) -> float:
    if k_t * n_c == k_c * n_t:
        return 1.0
    # scipy's samples are the table's columns
    return float(sps.barnard_exact([[k_t, k_c], [n_t - k_t, n_c - k_c]]).pvalue)


def barnard_min_p(n_t: int, n_c: int) -> float:
    """Smallest two-sided p Barnard's test can give at n_t vs n_c (all vs none)."""
    if n_t < 1 or n_c < 1:
        return 1.0
    return _barnard(n_t, n_t, 0, n_c)


def fm_restricted(k_t, n_t: int, k_c, n_c: int, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """Restricted maximum-likelihood rates (treatment, control) under rate_t - rate_c = delta
    (the closed-form root of the likelihood's cubic, as in the Farrington-Manning score test)."""
    p1, p2 = np.asarray(k_t, float) / n_t, np.asarray(k_c, float) / n_c
    theta = n_c / n_t
    a = 1 + theta
    b = -(1 + theta + p1 + theta * p2 + delta * (theta + 2))
    c = delta ** 2 + delta * (2 * p1 + theta + 1) + p1 + theta * p2
    d = -p1 * delta * (1 + delta)
    v = b ** 3 / (27 * a ** 3) - b * c / (6 * a ** 2) + d / (2 * a)
    u = np.sign(v) * np.sqrt(np.maximum(b ** 2 / (9 * a ** 2) - c / (3 * a), 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        w = (math.pi + np.arccos(np.clip(np.where(u != 0, v / u ** 3, 0.0), -1, 1))) / 3
    pt = np.clip(2 * u * np.cos(w) - b / (3 * a), delta, 1.0)
    return pt, pt - delta


def fm_score(k_t, n_t: int, k_c, n_c: int, delta: float) -> np.ndarray:
    """Score statistic of H0: rate_t - rate_c = delta (Farrington-Manning): the observed difference
    minus delta over its SD at the restricted estimates (never 0 for 0 < delta < 1)."""
    pt, pc = fm_restricted(k_t, n_t, k_c, n_c, delta)
    diff = np.asarray(k_t, float) / n_t - np.asarray(k_c, float) / n_c - delta
    return diff / np.sqrt(pt * (1 - pt) / n_t + pc * (1 - pc) / n_c)


@lru_cache(maxsize=8192)
def rate_difference_at_least(k_t: int, n_t: int, k_c: int, n_c: int, delta: float) -> float:
    """Exact unconditional p of H0: rate_t - rate_c >= delta against H1: < delta (the SESOI-sized
    difference is ruled out when it rejects). Tables are ordered by the Farrington-Manning score
    statistic; the tail is closed towards fewer treatment and more control failures (so the
    p-value is largest on the null boundary rate_t = rate_c + delta), and the p-value is that
    tail's probability maximised over the nuisance control rate: a 401-point grid refined by a
    bounded scalar search around its maximum."""
    if n_t < 1 or n_c < 1 or not 0 < delta < 1:
        return math.nan
    it, ic = np.arange(n_t + 1), np.arange(n_c + 1)
    z = fm_score(it[:, None], n_t, ic[None, :], n_c, delta)
    tail = z <= fm_score(k_t, n_t, k_c, n_c, delta) + 1e-9
    # closure: a table with fewer treatment failures or more control failures is at least as extreme
    tail = np.flip(np.logical_or.accumulate(np.flip(tail, axis=0), axis=0), axis=0)
    tail = np.logical_or.accumulate(tail, axis=1)
    tail = tail.astype(float)

    def prob(pc: np.ndarray) -> np.ndarray:
        pc = np.atleast_1d(pc)
        ft = sps.binom.pmf(it[None, :], n_t, np.clip(pc + delta, 0, 1)[:, None])
        fc = sps.binom.pmf(ic[None, :], n_c, pc[:, None])
        return np.einsum("gi,ij,gj->g", ft, tail, fc)

    grid = np.linspace(0.0, 1.0 - delta, 401)
    vals = prob(grid)
    i = int(np.argmax(vals))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    best = float(vals[i])
    if hi > lo:
        res = optimize.minimize_scalar(lambda x: -float(prob(np.array([x]))[0]), bounds=(lo, hi), method="bounded",
                                       options={"xatol": 1e-9})
        best = max(best, -float(res.fun))
    return min(1.0, best)


def divergence_ruled_min_p(n_t: int, n_c: int, delta: float) -> float:
    """Smallest p of the ruled-out divergence test at n_t vs n_c: the most extreme table (no
    treatment seed failed, every control seed did)."""
    if n_t < 1 or n_c < 1:
        return 1.0
    return rate_difference_at_least(0, n_t, n_c, n_c, delta)


@lru_cache(maxsize=4096)
def _wilson(k: int, n: int) -> tuple[float, float]:
    ci = sps.binomtest(k, n).proportion_ci(0.95, method="wilson")
    return float(ci.low), float(ci.high)


@lru_cache(maxsize=4096)
def exact_rate_ci(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return math.nan, math.nan
    ci = sps.binomtest(k, n).proportion_ci(0.95, method="exact")
    return float(ci.low), float(ci.high)


def _oriented(k_t: int, n_t: int, k_c: int, n_c: int, expected: str | None):
    """(k, n) of the arm the claim says fails more, then the other."""
    return (k_t, n_t, k_c, n_c) if expected != "lower" else (k_c, n_c, k_t, n_t)


def divergence(k_t: int, n_t: int, k_c: int, n_c: int, expected: str | None, sesoi: float) -> dict:
    """Divergence rate over seeds: Barnard's exact test; Newcombe CI of the difference; the
    exact unconditional test that the difference in the claimed direction is >= the SESOI."""
    directed = expected in ("higher", "lower") and np.isfinite(sesoi)
    # min_p_ruled: what multiplicity.min_p_ruled_of("divergence", ...) gives (1 without a seed in an arm)
    out = {"n": min(n_t, n_c), "n_t": n_t, "n_c": n_c, "k_t": k_t, "k_c": k_c,
           "test": "Barnard's exact test (seeds failed vs not: diverged or did not learn)", "p_ruled": math.nan,
           "rate_t": k_t / n_t if n_t else math.nan, "rate_c": k_c / n_c if n_c else math.nan,
           "ci_t": exact_rate_ci(k_t, n_t), "ci_c": exact_rate_ci(k_c, n_c),
           "min_p": barnard_min_p(n_t, n_c), "sides": 2, "sides_ruled": 1,
           "min_p_ruled": divergence_ruled_min_p(n_t, n_c, float(sesoi)) if directed else math.nan}
    if n_t == 0 or n_c == 0:
        return {**nan_result(), **out}
    p1, p2 = k_t / n_t, k_c / n_c
    l1, u1 = _wilson(k_t, n_t)
    l2, u2 = _wilson(k_c, n_c)
    d = p1 - p2
    out.update(estimate=d, ci_lo=d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
               ci_hi=d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2), conf=0.95, p=_barnard(k_t, n_t, k_c, n_c))
    if directed:
        out["p_ruled"] = rate_difference_at_least(*_oriented(k_t, n_t, k_c, n_c, expected), float(sesoi))
    return out
