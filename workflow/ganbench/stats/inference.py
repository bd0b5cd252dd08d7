"""Tests and intervals on seed-level data (scipy.stats wherever it has the procedure).

* difference endpoints: one-sample t on the per-seed differences
  (``ttest_1samp(d).confidence_interval()``, the same as ``ttest_rel`` on the paired seed
  means); "ruled out": one-sided t against the SESOI;
* equivalence: TOST = two one-sided t-tests at alpha against -margin / +margin, i.e. the
  90% CI inside the margin; "beyond the margin": one-sided t against the nearer margin;
* divergence rate: Barnard's exact unconditional test over seeds, Clopper-Pearson (exact)
  CI per arm, Newcombe's hybrid-score CI of the difference;
* seed spread: Brown-Forsythe (``levene(center="median")``) on per-seed log FID, with the
  F-based CI of the SD ratio;
* model x arm interaction: Welch t (two models) or one-way ANOVA on per-seed effects.

Every function reports ``min_p``: the smallest p the test can give at this n, so the
caller never runs a test that cannot reach significance after correction.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import stats as sps

ALPHA = 0.05
MIN_SEEDS = 3  # t and Brown-Forsythe need >= 3 seeds (>= 2 degrees of freedom)
BCA_MIN_SEEDS = 10  # the BCa bootstrap CI is shown (descriptively) only from this many seeds
BCA_RESAMPLES = 9999


def _nan_result(**extra) -> dict:
    return {"n": 0, "estimate": math.nan, "ci_lo": math.nan, "ci_hi": math.nan, "p": math.nan,
            "p_ruled": math.nan, "min_p": math.nan, **extra}


def _t_one_sample(d: np.ndarray, mu: float, alternative: str) -> float:
    """One-sample t p-value, also defined when every difference is equal."""
    if np.ptp(d) == 0:
        diff = float(d[0] - mu)
        if diff == 0:
            return 1.0
        if alternative == "two-sided":
            return 0.0
        return 0.0 if (diff > 0) == (alternative == "greater") else 1.0
    return float(sps.ttest_1samp(d, mu, alternative=alternative).pvalue)


def t_ci(d: np.ndarray, conf: float) -> tuple[float, float]:
    if np.ptp(d) == 0:
        return float(d[0]), float(d[0])
    ci = sps.ttest_1samp(d, 0.0).confidence_interval(conf)
    return float(ci.low), float(ci.high)


def _t_tail(d: np.ndarray, mu: float, alternative: str) -> float:
    """One-sided t p-value from the t distribution (H1: mean > mu or mean < mu)."""
    if np.ptp(d) == 0:
        return _t_one_sample(d, mu, alternative)
    n = len(d)
    t = (d.mean() - mu) / (d.std(ddof=1) / math.sqrt(n))
    return float(sps.t.sf(t, n - 1) if alternative == "greater" else sps.t.cdf(t, n - 1))


def difference(d, expected: str | None, sesoi: float, conf: float = 1 - ALPHA) -> dict:
    """Per-seed differences (treatment - control on the endpoint's scale): paired t-test over
    seeds, its t CI, and the one-sided t-test of 'the effect is at least the SESOI'."""
    d = np.asarray(d, dtype=float)
    d = d[np.isfinite(d)]
    n = len(d)
    if n < MIN_SEEDS:
        return _nan_result(n=n, test="paired t-test over seeds", estimate=float(d.mean()) if n else math.nan)
    if np.ptp(d) == 0:
        p, (lo, hi) = _t_one_sample(d, 0.0, "two-sided"), t_ci(d, conf)
    else:
        res = sps.ttest_1samp(d, 0.0)
        ci = res.confidence_interval(conf)
        p, lo, hi = float(res.pvalue), float(ci.low), float(ci.high)
    p_ruled = math.nan
    if expected in ("higher", "lower") and np.isfinite(sesoi):
        sign = 1.0 if expected == "higher" else -1.0
        p_ruled = _t_tail(sign * d, sesoi, "less")  # H0: effect in the claimed direction >= SESOI
    return {"n": n, "estimate": float(d.mean()), "ci_lo": lo, "ci_hi": hi, "conf": conf, "p": p,
            "p_ruled": p_ruled, "min_p": 0.0, "test": "paired t-test over seeds", "sd": float(d.std(ddof=1)),
            **bca(d)}


def equivalence(d, margin: float, alpha: float = ALPHA) -> dict:
    """TOST on per-seed differences: equivalent when both one-sided tests reject at alpha,
    which is the (1 - 2 alpha) t CI lying inside +/- margin."""
    d = np.asarray(d, dtype=float)
    d = d[np.isfinite(d)]
    n = len(d)
    if n < MIN_SEEDS:
        return _nan_result(n=n, test="TOST (two one-sided t-tests)", estimate=float(d.mean()) if n else math.nan)
    p_lower = _t_one_sample(d, -margin, "greater")  # H0: effect <= -margin
    p_upper = _t_one_sample(d, margin, "less")  # H0: effect >= +margin
    beyond_hi = _t_one_sample(d, margin, "greater")  # H0: effect <= +margin
    beyond_lo = _t_one_sample(d, -margin, "less")  # H0: effect >= -margin
    lo, hi = t_ci(d, 1 - 2 * alpha)
    return {"n": n, "estimate": float(d.mean()), "ci_lo": lo, "ci_hi": hi, "conf": 1 - 2 * alpha,
            "p": max(p_lower, p_upper), "p_lower": p_lower, "p_upper": p_upper,
            "p_ruled": min(1.0, 2 * min(beyond_hi, beyond_lo)), "min_p": 0.0,
            "test": "TOST (two one-sided t-tests)", "sd": float(d.std(ddof=1))}


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


def _wilson(k: int, n: int) -> tuple[float, float]:
    ci = sps.binomtest(k, n).proportion_ci(0.95, method="wilson")
    return float(ci.low), float(ci.high)


def exact_rate_ci(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return math.nan, math.nan
    ci = sps.binomtest(k, n).proportion_ci(0.95, method="exact")
    return float(ci.low), float(ci.high)


def divergence(k_t: int, n_t: int, k_c: int, n_c: int, expected: str | None, sesoi: float) -> dict:
    """Divergence rate over seeds: Barnard's exact test; Newcombe CI of the difference."""
    out = {"n": min(n_t, n_c), "n_t": n_t, "n_c": n_c, "k_t": k_t, "k_c": k_c,
           "test": "Barnard's exact test (seeds failed vs not: diverged or did not learn)", "p_ruled": math.nan,
           "rate_t": k_t / n_t if n_t else math.nan, "rate_c": k_c / n_c if n_c else math.nan,
           "ci_t": exact_rate_ci(k_t, n_t), "ci_c": exact_rate_ci(k_c, n_c),
           "min_p": barnard_min_p(n_t, n_c)}
    if n_t == 0 or n_c == 0:
        return {**_nan_result(), **out}
    p1, p2 = k_t / n_t, k_c / n_c
    l1, u1 = _wilson(k_t, n_t)
    l2, u2 = _wilson(k_c, n_c)
    d = p1 - p2
    out.update(estimate=d, ci_lo=d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
               ci_hi=d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2), conf=0.95, p=_barnard(k_t, n_t, k_c, n_c))
    return out


def spread(x_t, x_c, expected: str | None, sesoi: float, conf: float = 1 - ALPHA) -> dict:
    """Seed spread of log FID: Brown-Forsythe test; effect = log(SD_t / SD_c) with the
    F-distribution CI (normal theory)."""
    x_t = np.asarray(x_t, dtype=float)
    x_c = np.asarray(x_c, dtype=float)
    x_t, x_c = x_t[np.isfinite(x_t)], x_c[np.isfinite(x_c)]
    n_t, n_c = len(x_t), len(x_c)
    base = {"n": min(n_t, n_c), "n_t": n_t, "n_c": n_c,
            "test": "Brown-Forsythe (levene, center=median) on per-seed log FID"}
    if min(n_t, n_c) < MIN_SEEDS:
        return {**_nan_result(), **base}
    s_t, s_c = float(x_t.std(ddof=1)), float(x_c.std(ddof=1))
    if s_t == 0 and s_c == 0:
        return {**_nan_result(), **base, "p": 1.0, "estimate": 0.0, "ci_lo": 0.0, "ci_hi": 0.0, "min_p": 0.0,
                "sd_t": 0.0, "sd_c": 0.0}
    p = float(sps.levene(x_t, x_c, center="median").pvalue)
    if s_t == 0 or s_c == 0:
        est, lo, hi = (math.inf if s_c == 0 else -math.inf), math.nan, math.nan
    else:
        f = (s_t / s_c) ** 2
        a = 1 - conf
        lo = 0.5 * math.log(f / sps.f.ppf(1 - a / 2, n_t - 1, n_c - 1))
        hi = 0.5 * math.log(f / sps.f.ppf(a / 2, n_t - 1, n_c - 1))
        est = math.log(s_t / s_c)
    return {**base, "estimate": est, "ci_lo": lo, "ci_hi": hi, "conf": conf, "p": p, "p_ruled": math.nan,
            "min_p": 0.0, "sd_t": s_t, "sd_c": s_c}


def interaction(effects: dict[str, np.ndarray]) -> dict:
    """Do per-seed effects differ between groups (model x arm interaction)?"""
    groups = {k: np.asarray(v, float)[np.isfinite(np.asarray(v, float))] for k, v in effects.items()}
    groups = {k: v for k, v in groups.items() if len(v) >= 2}
    if len(groups) < 2:
        return {"p": math.nan, "test": "none (fewer than two models with effects)"}
    vals = list(groups.values())
    if all(np.ptp(v) == 0 for v in vals):
        p = 1.0 if np.ptp([v[0] for v in vals]) == 0 else 0.0
    elif len(vals) == 2:
        p = float(sps.ttest_ind(vals[0], vals[1], equal_var=False).pvalue)
    else:
        p = float(sps.f_oneway(*vals).pvalue)
    return {"p": p, "test": "Welch t-test on per-seed effects" if len(vals) == 2 else "one-way ANOVA on per-seed effects"}


def bca(d: np.ndarray, conf: float = 1 - ALPHA) -> dict:
    """Descriptive BCa bootstrap CI of the mean (only from BCA_MIN_SEEDS seeds: below that
    BCa under-covers and the t interval is the one used)."""
    if len(d) < BCA_MIN_SEEDS or np.ptp(d) == 0:
        return {"bca_lo": math.nan, "bca_hi": math.nan}
    res = sps.bootstrap((d,), np.mean, confidence_level=conf, n_resamples=BCA_RESAMPLES, method="BCa",
                        random_state=np.random.default_rng(20250101))
    return {"bca_lo": float(res.confidence_interval.low), "bca_hi": float(res.confidence_interval.high)}


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


def t_interval(values, conf: float = 0.95) -> tuple[float, float, float, int]:
    """Mean and two-sided t CI over finite values: (mean, lo, hi, n)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return (math.nan, math.nan, math.nan, 0)
    if n < 2:
        return (float(x.mean()), math.nan, math.nan, 1)
    lo, hi = t_ci(x, conf)
    return (float(x.mean()), lo, hi, n)
