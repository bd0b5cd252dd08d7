"""The one namespace of the tests and intervals on seed-level data: the analysis, the verdict
policy and the tests call ``inference.<name>``; each name lives in the module of its endpoint
scale (scipy.stats wherever it has the procedure):

* ``paired``       — difference endpoints (paired t on per-seed differences, "ruled out": one-sided
  t against the SESOI), equivalence (TOST; "beyond the margin"), t and BCa intervals, and the
  model x arm interaction (Welch t or one-way ANOVA on per-seed effects);
* ``failure_rate`` — training-failure rate over seeds (Barnard's exact test, Clopper-Pearson and
  Newcombe CIs; "ruled out": the exact unconditional test of a difference >= the SESOI);
* ``seed_spread``  — seed spread (Brown-Forsythe with the F-based CI of the SD ratio; "ruled out":
  the one-sided F test of an SD ratio >= the SESOI ratio);
* ``multiplicity`` — Holm's adjusted p and the smallest p each test can give at a planned n;
* ``conventions``  — the level, the fewest seeds, zero variance, the empty result.

Zero variance is never an infinite statistic (exact sign and permutation tests instead), and
every test reports ``min_p`` (and ``min_p_ruled``), the smallest p it can give at its n, so the
caller never runs a test that cannot reach significance after correction.
"""
from __future__ import annotations

from ganbench.stats.conventions import ALPHA, MIN_SEEDS, constant
from ganbench.stats.failure_rate import (barnard_min_p, divergence, divergence_ruled_min_p, exact_rate_ci,
                                         fm_restricted, fm_score, rate_difference_at_least)
from ganbench.stats.multiplicity import holm, min_p_of, min_p_ruled_of
from ganbench.stats.paired import (BCA_MIN_SEEDS, BCA_RESAMPLES, CONSTANT_TEST, CONSTANT_TOST, bca,
                                   decision_interval, difference, equivalence, interaction, sign_test, t_ci,
                                   t_interval)
from ganbench.stats.seed_spread import BF_TEST, brown_forsythe_min_p, spread

__all__ = [
    "ALPHA", "MIN_SEEDS", "constant",
    "barnard_min_p", "divergence", "divergence_ruled_min_p", "exact_rate_ci", "fm_restricted", "fm_score",
    "rate_difference_at_least",
    "holm", "min_p_of", "min_p_ruled_of",
    "BCA_MIN_SEEDS", "BCA_RESAMPLES", "CONSTANT_TEST", "CONSTANT_TOST", "bca", "decision_interval", "difference",
    "equivalence", "interaction", "sign_test", "t_ci", "t_interval",
    "BF_TEST", "brown_forsythe_min_p", "spread",
]
