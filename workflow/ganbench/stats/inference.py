"""Tests and intervals on seed-level data (scipy.stats wherever it has the procedure).

* difference endpoints: one-sample t on the per-seed differences
  (``ttest_1samp(d).confidence_interval()``, the same as ``ttest_rel`` on the paired seed
  means); "ruled out": one-sided t against the SESOI;
* equivalence: TOST = two one-sided t-tests at alpha against -margin / +margin, i.e. the
  90% CI inside the margin; "beyond the margin": one-sided t against the nearer margin;
* divergence rate: Barnard's exact unconditional test over seeds, Clopper-Pearson (exact)
  CI per arm, Newcombe's hybrid-score CI of the difference; "ruled out": the exact
  unconditional test that the failure-rate difference is at least the SESOI (tables ordered
  by the Farrington-Manning score, the p maximised over the nuisance control rate), i.e. the
  difference's upper bound below the SESOI;
* seed spread: Brown-Forsythe (``levene(center="median")``) on per-seed log FID, with the
  F-based CI of the SD ratio; "ruled out": the one-sided F test that the SD ratio is at
  least the SESOI ratio (the CI's upper bound below it);
* model x arm interaction: Welch t (two models) or one-way ANOVA on per-seed effects.

Zero variance is never an infinite statistic: per-seed differences that are all equal are
tested with the exact sign test (= the sign-flip permutation test for constant differences:
one-sided p 2^-n, 0.125 at n = 3); Brown-Forsythe with no spread within either arm's
absolute deviations uses the exact permutation test on them; the interaction with no spread
within any model uses the exact permutation test of the model labels.

Every function reports ``min_p`` (and ``min_p_ruled``): the smallest p the test can give at
this n (``min_p_of`` / ``min_p_ruled_of`` give it for a planned n), so the caller never runs
a test that cannot reach significance after correction: 0 for the t-tests (as the seed SD
goes to 0), Barnard's and the ruled-out divergence test by exact enumeration at the most
extreme table, Brown-Forsythe in closed form (both arms odd: F_max = max((n_t - 1) n_c,
(n_c - 1) n_t) (N - 2) / N on (1, N - 2) df, i.e. (n - 1)^2 at n vs n: 0.116 at 3 vs 3;
otherwise 0).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import optimize, special
from scipy import stats as sps

ALPHA = 0.05
CONSTANT_TEST = "exact sign test (every per-seed difference is equal: no variance for a t-test)"
CONSTANT_TOST = "TOST by exact sign tests (every per-seed difference is equal: no variance for a t-test)"
MIN_SEEDS = 3  # t and Brown-Forsythe need >= 3 seeds (>= 2 degrees of freedom)
BCA_MIN_SEEDS = 10  # the BCa bootstrap CI is shown (descriptively) only from this many seeds
BCA_RESAMPLES = 9999


def _nan_result(**extra) -> dict:
    return {"n": 0, "estimate": math.nan, "ci_lo": math.nan, "ci_hi": math.nan, "p": math.nan,
            "p_ruled": math.nan, "min_p": math.nan, "min_p_ruled": math.nan, **extra}


def constant(d: np.ndarray) -> bool:
    """Every value equal (up to rounding: 1e-12 relative), so a t statistic would be infinite."""
    d = np.asarray(d, dtype=float)
    return len(d) > 0 and float(np.ptp(d)) <= 1e-12 * max(1.0, float(np.max(np.abs(d))))


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
        return _nan_result(n=n, test=test, estimate=float(d.mean()) if n else math.nan, min_p_ruled=math.nan)
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
        return _nan_result(n=n, test=test, estimate=float(d.mean()) if n else math.nan, min_p_ruled=math.nan)
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
    out = {"n": min(n_t, n_c), "n_t": n_t, "n_c": n_c, "k_t": k_t, "k_c": k_c,
           "test": "Barnard's exact test (seeds failed vs not: diverged or did not learn)", "p_ruled": math.nan,
           "rate_t": k_t / n_t if n_t else math.nan, "rate_c": k_c / n_c if n_c else math.nan,
           "ci_t": exact_rate_ci(k_t, n_t), "ci_c": exact_rate_ci(k_c, n_c),
           "min_p": barnard_min_p(n_t, n_c), "sides": 2, "sides_ruled": 1,
           "min_p_ruled": min_p_ruled_of("divergence", n_t, n_c, sesoi) if directed else math.nan}
    if n_t == 0 or n_c == 0:
        return {**_nan_result(), **out}
    p1, p2 = k_t / n_t, k_c / n_c
    l1, u1 = _wilson(k_t, n_t)
    l2, u2 = _wilson(k_c, n_c)
    d = p1 - p2
    out.update(estimate=d, ci_lo=d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
               ci_hi=d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2), conf=0.95, p=_barnard(k_t, n_t, k_c, n_c))
    if directed:
        out["p_ruled"] = rate_difference_at_least(*_oriented(k_t, n_t, k_c, n_c, expected), float(sesoi))
    return out


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


BF_TEST = "Brown-Forsythe (levene, center=median) on per-seed log FID"


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
        return {**_nan_result(), **base}
    s_t = 0.0 if constant(x_t) else float(x_t.std(ddof=1))
    s_c = 0.0 if constant(x_c) else float(x_c.std(ddof=1))
    if s_t == 0 and s_c == 0:
        return {**_nan_result(), **base, "p": 1.0, "estimate": 0.0, "ci_lo": 0.0, "ci_hi": 0.0,
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


def bca(d: np.ndarray, conf: float = 1 - ALPHA) -> dict:
    """Descriptive BCa bootstrap CI of the mean (only from BCA_MIN_SEEDS seeds: below that
    BCa under-covers and the t interval is the one used)."""
    if len(d) < BCA_MIN_SEEDS or constant(d):
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
