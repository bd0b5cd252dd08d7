"""Tests and intervals of the seed spread of log FID (how much the score varies over seeds):
Brown-Forsythe (``levene(center="median")``) on per-seed log FID, with the F-based CI of the
SD ratio; "ruled out": the one-sided F test that the SD ratio is at least the SESOI ratio (the
CI's upper bound below it).

Zero variance is never an infinite statistic: with no spread within either arm's absolute
deviations the exact permutation test on them is used. The smallest attainable p of
Brown-Forsythe has a closed form (both arms odd: F_max = max((n_t - 1) n_c, (n_c - 1) n_t)
(N - 2) / N on (1, N - 2) df, i.e. (n - 1)^2 at n vs n: 0.116 at 3 vs 3; otherwise 0).
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from ganbench.stats.conventions import ALPHA, MIN_SEEDS, constant, nan_result

BF_TEST = "Brown-Forsythe (levene, center=median) on per-seed log FID"


def brown_forsythe_min_p(n_t: int, n_c: int) -> float:
    """Smallest p of Brown-Forsythe (two groups) at n_t vs n_c, closed form. With an odd number of
    seeds a group's median is one of its values, so one absolute deviation is 0: the largest F
    has one group constant and the other with deviations (0, c, ..., c): F_max = (n_a - 1) n_b
    (N - 2) / N on (1, N - 2) df (n vs n: (n - 1)^2). With an even group, all its deviations can be
    equal and F is unbounded: 0."""
    if min(n_t, n_c) < 2:
        return 1.0
    if n_t % 2 == 0 or n_c % 2 == 0:
        return 0.0
    big_n = n_t + n_c
    f_max = max((n_t - 1) * n_c, (n_c - 1) * n_t) * (big_n - 2) / big_n
    return float(sps.f.sf(f_max, 1, big_n - 2))


def _brown_forsythe(x_t: np.ndarray, x_c: np.ndarray) -> tuple[float, str]:
    """(p, test) of Brown-Forsythe; when neither arm's absolute deviations from its median vary
    (F would be infinite), the exact permutation test of those deviations between the arms."""
    z_t, z_c = np.abs(x_t - np.median(x_t)), np.abs(x_c - np.median(x_c))
    if constant(z_t) and constant(z_c):
        if constant(np.concatenate([z_t, z_c])):
            return 1.0, "Brown-Forsythe: no difference in spread"
        res = sps.permutation_test((z_t, z_c), lambda a, b, axis: np.mean(a, axis=axis) - np.mean(b, axis=axis),
                                   permutation_type="independent", alternative="two-sided", vectorized=True,
                                   n_resamples=math.inf)
        return float(res.pvalue), ("exact permutation test of the absolute deviations from the median (no spread "
                                   "within an arm: no variance for Brown-Forsythe)")
    return float(sps.levene(x_t, x_c, center="median").pvalue), BF_TEST


def spread(x_t, x_c, expected: str | None, sesoi: float, conf: float = 1 - ALPHA) -> dict:
    """Seed spread of log FID: Brown-Forsythe test; effect = log(SD_t / SD_c) with the
    F-distribution CI (normal theory); ruled out: the one-sided F test that the SD ratio in the
    claimed direction is at least exp(SESOI) (the same normal theory as the CI)."""
    x_t = np.asarray(x_t, dtype=float)
    x_c = np.asarray(x_c, dtype=float)
    x_t, x_c = x_t[np.isfinite(x_t)], x_c[np.isfinite(x_c)]
    n_t, n_c = len(x_t), len(x_c)
    directed = expected in ("higher", "lower") and np.isfinite(sesoi)
    base = {"n": min(n_t, n_c), "n_t": n_t, "n_c": n_c, "test": BF_TEST, "sides": 2, "sides_ruled": 1,
            "min_p": brown_forsythe_min_p(n_t, n_c), "min_p_ruled": 0.0 if directed else math.nan}
    if min(n_t, n_c) < MIN_SEEDS:
        return {**nan_result(), **base}
    s_t = 0.0 if constant(x_t) else float(x_t.std(ddof=1))
    s_c = 0.0 if constant(x_c) else float(x_c.std(ddof=1))
    if s_t == 0 and s_c == 0:
        return {**nan_result(), **base, "p": 1.0, "estimate": 0.0, "ci_lo": 0.0, "ci_hi": 0.0,
                "test": "no spread in either arm (every seed scores the same)", "sd_t": 0.0, "sd_c": 0.0}
    p, test = _brown_forsythe(x_t, x_c)
    p_ruled = math.nan
    if s_t == 0 or s_c == 0:
        # the ratio is 0 or infinite: no F-distribution CI or F test (never p = 0 from zero variance)
        est, lo, hi = (math.inf if s_c == 0 else -math.inf), math.nan, math.nan
    else:
        f = (s_t / s_c) ** 2
        a = 1 - conf
        lo = 0.5 * math.log(f / sps.f.ppf(1 - a / 2, n_t - 1, n_c - 1))
        hi = 0.5 * math.log(f / sps.f.ppf(a / 2, n_t - 1, n_c - 1))
        est = math.log(s_t / s_c)
        if directed:
            r0 = math.exp(2 * sesoi)
            p_ruled = float(sps.f.cdf(f / r0, n_t - 1, n_c - 1) if expected == "higher"
                            else sps.f.sf(f * r0, n_t - 1, n_c - 1))
    return {**base, "test": test, "estimate": est, "ci_lo": lo, "ci_hi": hi, "conf": conf, "p": p,
            "p_ruled": p_ruled, "sd_t": s_t, "sd_c": s_c}
