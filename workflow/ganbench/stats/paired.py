"""Tests and intervals on paired per-seed differences (treatment - control within a seed, on the
endpoint's scale), with scipy.stats wherever it has the procedure:

* difference endpoints: one-sample t on the per-seed differences
  (``ttest_1samp(d).confidence_interval()``, the same as ``ttest_rel`` on the paired seed
  means); "ruled out": one-sided t against the SESOI;
* equivalence: TOST = two one-sided t-tests at alpha against -margin / +margin, i.e. the
  90% CI inside the margin; "beyond the margin": one-sided t against the nearer margin;
* the t interval that matches a decision at its critical p, and the descriptive BCa interval;
* model x arm interaction: Welch t (two models) or one-way ANOVA on per-seed effects.

Zero variance is never an infinite statistic: per-seed differences that are all equal are
tested with the exact sign test (= the sign-flip permutation test for constant differences:
one-sided p 2^-n, 0.125 at n = 3); the interaction with no spread within any model uses the
exact permutation test of the model labels. The smallest attainable p of every t-test is 0
(as the seed SD goes to 0).
"""
from __future__ import annotations

import math

import numpy as np
from scipy import special
from scipy import stats as sps

from ganbench.stats.conventions import ALPHA, MIN_SEEDS, constant, nan_result

CONSTANT_TEST = "exact sign test (every per-seed difference is equal: no variance for a t-test)"
CONSTANT_TOST = "TOST by exact sign tests (every per-seed difference is equal: no variance for a t-test)"
BCA_MIN_SEEDS = 10  # the BCa bootstrap CI is shown (descriptively) only from this many seeds
BCA_RESAMPLES = 9999


def sign_test(d: np.ndarray, mu: float, alternative: str) -> float:
    """Exact sign test of H0: median = mu (scipy's binomtest on the signs of d - mu; zeros are
    ties and carry no evidence). For constant differences it equals the exact sign-flip
    permutation test: one-sided 2^-n, two-sided 2^(1-n)."""
    x = np.asarray(d, dtype=float) - mu
    x = x[np.abs(x) > 1e-12 * max(1.0, abs(mu))]
    if len(x) == 0:
        return 1.0
    return float(sps.binomtest(int((x > 0).sum()), len(x), 0.5, alternative=alternative).pvalue)


def _t_one_sample(d: np.ndarray, mu: float, alternative: str) -> float:
    """One-sample t p-value (the t distribution's tail at t = (mean - mu) / (sd / sqrt(n)), n - 1
    df: what scipy's ttest_1samp returns, without its per-call overhead; asserted equal in the
    tests); when every difference is equal (no variance: t would be infinite) the exact sign test."""
    if constant(d):
        return sign_test(d, mu, alternative)
    n = len(d)
    t = (float(np.mean(d)) - mu) / (float(np.std(d, ddof=1)) / math.sqrt(n))
    # scipy.special.stdtr is the t distribution's CDF (sps.t.cdf without its argument checking)
    if alternative == "greater":
        return float(special.stdtr(n - 1, -t))
    if alternative == "less":
        return float(special.stdtr(n - 1, t))
    return float(2 * special.stdtr(n - 1, -abs(t)))


def t_ci(d: np.ndarray, conf: float) -> tuple[float, float]:
    """Two-sided t CI of the mean (as ttest_1samp(d).confidence_interval(conf))."""
    d = np.asarray(d, dtype=float)
    mean = float(np.mean(d))
    if constant(d):
        return mean, mean
    half = float(special.stdtrit(len(d) - 1, 0.5 + conf / 2)) * float(np.std(d, ddof=1)) / math.sqrt(len(d))
    return mean - half, mean + half


def decision_interval(r: dict) -> tuple[float, float, float] | None:
    """(lo, hi, confidence) of the t interval that matches the decision of a t-based test whose
    critical p is ``r["crit_p"]`` (its Holm step's alpha / j, or the look's group-sequential
    boundary): the effect test rejects exactly when the (1 - crit) interval excludes 0; TOST
    shows equivalence exactly when the (1 - 2 crit) interval lies inside the margin. None for
    other tests (exact, rank and variance tests have no matching t interval)."""
    crit, n, sd, est = (r.get(k, math.nan) for k in ("crit_p", "n", "sd", "estimate"))
    if r.get("test") in (CONSTANT_TOST, "TOST (two one-sided t-tests)"):
        conf = 1 - 2 * crit
    elif r.get("test") in (CONSTANT_TEST, "paired t-test over seeds"):
        conf = 1 - crit
    else:
        return None
    if not all(np.isfinite(x) for x in (crit, n, sd, est)) or n < 2 or not 0 < conf < 1:
        return None
    half = float(special.stdtrit(int(n) - 1, 0.5 + conf / 2)) * float(sd) / math.sqrt(n)
    return float(est) - half, float(est) + half, float(conf)


def difference(d, expected: str | None, sesoi: float, conf: float = 1 - ALPHA, descriptive: bool = True) -> dict:
    """Per-seed differences (treatment - control on the endpoint's scale): paired t-test over
    seeds, its t CI, and the one-sided t-test of 'the effect is at least the SESOI'.
    ``descriptive``: also the BCa bootstrap CI (from BCA_MIN_SEEDS seeds; no part of a verdict)."""
    d = np.asarray(d, dtype=float)
    d = d[np.isfinite(d)]
    n = len(d)
    test = "paired t-test over seeds"
    if n < MIN_SEEDS:
        return nan_result(n=n, test=test, estimate=float(d.mean()) if n else math.nan, min_p_ruled=math.nan)
    const = constant(d)
    if const:
        test = CONSTANT_TEST
    p, (lo, hi) = _t_one_sample(d, 0.0, "two-sided"), t_ci(d, conf)
    p_ruled = math.nan
    if expected in ("higher", "lower") and np.isfinite(sesoi):
        sign = 1.0 if expected == "higher" else -1.0
        p_ruled = _t_one_sample(sign * d, sesoi, "less")  # H0: effect in the claimed direction >= SESOI
    elif expected is None and np.isfinite(sesoi):  # a claim of an effect either way: ruled out by TOST
        p_ruled = max(_t_one_sample(d, -sesoi, "greater"), _t_one_sample(d, sesoi, "less"))
    return {"n": n, "estimate": float(d.mean()), "ci_lo": lo, "ci_hi": hi, "conf": conf, "p": p,
            "p_ruled": p_ruled, "min_p": 0.0, "min_p_ruled": 0.0, "test": test, "constant": const,
            "sd": float(d.std(ddof=1)), "sides": 2, "sides_ruled": 1,
            **(bca(d) if descriptive else {"bca_lo": math.nan, "bca_hi": math.nan})}


def equivalence(d, margin: float, alpha: float = ALPHA) -> dict:
    """TOST on per-seed differences: equivalent when both one-sided tests reject at alpha,
    which is the (1 - 2 alpha) t CI lying inside +/- margin."""
    d = np.asarray(d, dtype=float)
    d = d[np.isfinite(d)]
    n = len(d)
    test = "TOST (two one-sided t-tests)"
    if n < MIN_SEEDS:
        return nan_result(n=n, test=test, estimate=float(d.mean()) if n else math.nan, min_p_ruled=math.nan)
    const = constant(d)
    p_lower = _t_one_sample(d, -margin, "greater")  # H0: effect <= -margin
    p_upper = _t_one_sample(d, margin, "less")  # H0: effect >= +margin
    beyond_hi = _t_one_sample(d, margin, "greater")  # H0: effect <= +margin
    beyond_lo = _t_one_sample(d, -margin, "less")  # H0: effect >= -margin
    lo, hi = t_ci(d, 1 - 2 * alpha)
    return {"n": n, "estimate": float(d.mean()), "ci_lo": lo, "ci_hi": hi, "conf": 1 - 2 * alpha,
            "p": max(p_lower, p_upper), "p_lower": p_lower, "p_upper": p_upper,
            "p_ruled": min(1.0, 2 * min(beyond_hi, beyond_lo)), "min_p": 0.0, "min_p_ruled": 0.0,
            "test": (CONSTANT_TOST if const else test), "constant": const,
            "identical": bool(const and np.max(np.abs(d)) <= 1e-12), "sd": float(d.std(ddof=1)), "sides": 1,
            "sides_ruled": 2}


def bca(d: np.ndarray, conf: float = 1 - ALPHA) -> dict:
    """Descriptive BCa bootstrap CI of the mean (only from BCA_MIN_SEEDS seeds: below that
    BCa under-covers and the t interval is the one used)."""
    if len(d) < BCA_MIN_SEEDS or constant(d):
        return {"bca_lo": math.nan, "bca_hi": math.nan}
    res = sps.bootstrap((d,), np.mean, confidence_level=conf, n_resamples=BCA_RESAMPLES, method="BCa",
                        random_state=np.random.default_rng(20250101))
    return {"bca_lo": float(res.confidence_interval.low), "bca_hi": float(res.confidence_interval.high)}


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


def _between_ss(*groups, axis=-1):
    allv = np.concatenate(groups, axis=axis)
    grand = np.mean(allv, axis=axis, keepdims=True)
    return sum(g.shape[axis] * (np.mean(g, axis=axis, keepdims=True) - grand) ** 2 for g in groups).squeeze(axis)


def interaction(effects: dict[str, np.ndarray]) -> dict:
    """Do per-seed effects differ between groups (model x arm interaction)?"""
    groups = {k: np.asarray(v, float)[np.isfinite(np.asarray(v, float))] for k, v in effects.items()}
    groups = {k: v for k, v in groups.items() if len(v) >= 2}
    if len(groups) < 2:
        return {"p": math.nan, "test": "none (fewer than two models with effects)"}
    vals = list(groups.values())
    if all(constant(v) for v in vals):
        # no variance within any model: the exact permutation test of the model labels (between-model
        # sum of squares, which orders the permutations as the ANOVA F does)
        if constant([v[0] for v in vals]):
            return {"p": 1.0, "test": "none needed (every per-seed effect is equal)"}
        res = sps.permutation_test(vals, _between_ss, permutation_type="independent", alternative="greater",
                                   vectorized=True, n_resamples=20000, rng=np.random.default_rng(20250101))
        return {"p": float(res.pvalue), "test": "permutation test of the models (no variance within a model)"}
    if len(vals) == 2:
        p = float(sps.ttest_ind(vals[0], vals[1], equal_var=False).pvalue)
    else:
        p = float(sps.f_oneway(*vals).pvalue)
    return {"p": p, "test": "Welch t-test on per-seed effects" if len(vals) == 2 else "one-way ANOVA on per-seed effects"}
