"""The verdict rules as data, so the report prints exactly what the code does: the verdict
labels, the rule code of each state without evidence, the premises of prevention claims, and the
texts of the rules (per endpoint, equivalence, non-inferiority, combination, the Holm family).
"""
from __future__ import annotations

from ganbench.stats.conventions import MIN_SEEDS

REPRODUCED, WEAKER, NOT_REPRODUCED, INCONCLUSIVE = ("reproduced", "weaker than claimed", "not reproduced",
                                                    "inconclusive")
# states of an endpoint that carry no evidence (no test was run), and their rule codes
STATE_RULE = {"not measured": "N", "arm missing": "A", "not trained": "G", "premise not met": "P",
              "too few seeds": "S"}
NO_EVIDENCE_RULES = tuple(STATE_RULE.values())

# Premises: an endpoint that measures the prevention of an event says nothing when the event
# occurs in neither arm. metric -> (what did not occur, what a seed with the event is).
PREMISES: dict[str, tuple[str, str]] = {
    "d_collapse_frac": ("no collapse in either arm", "any late D-loss collapse (D loss < 0.1)"),
}

SIGNIFICANT = ("passes Holm's step-down within its claim: p below the critical p of its step (alpha / j with j "
               "of the claim's tests left, at a single look; the group-sequential boundary of size alpha / j at "
               "the look, in a sequential design)")
RULES: tuple[tuple[str, str, str], ...] = (
    ("N", INCONCLUSIVE, "endpoint not measured: no run of either arm has a value of the endpoint (e.g. an "
                        "older summary without that column)."),
    ("A", INCONCLUSIVE, "arm missing: the treatment or the control arm has no run in this study."),
    ("G", INCONCLUSIVE, "the baseline did not train: the baseline arm (the recipe's own setting) fails the 'did it learn' rule below."),
    ("P", INCONCLUSIVE, "the premise did not occur: the claim is about preventing an event (a late D-loss collapse) "
                        "and no seed of either arm had it; the counts are given. Never 'not reproduced'."),
    ("S", INCONCLUSIVE, f"too few seeds: fewer than {MIN_SEEDS} seeds with data in both arms, or the test's "
                        "smallest attainable p at this n is not below the critical p of Holm's first step in its "
                        "claim (alpha / m, m = tests in the claim's family); such tests leave the family one at a "
                        "time, the worst first, then m is recomputed; no test is run and the report says which "
                        "test at which n."),
    ("R", REPRODUCED, f"the effect test {SIGNIFICANT}, the 95% CI excludes 0 on the claimed side AND the point "
                      "estimate is at least the SESOI in the claimed direction. A claim that names no direction "
                      "(the factor 'affects' the endpoint): on either side, with the effect test at half the "
                      "level (two-sided 2.5%, so a false 'reproduced' either way stays at 2.5%); no rule O."),
    ("W", WEAKER, "the effect test is significant as in R and the CI excludes 0 on the claimed side, but the point "
                  "estimate is smaller than the SESOI."),
    ("O", NOT_REPRODUCED, "the effect test is significant as in R with the estimate and CI on the opposite side."),
    ("X", NOT_REPRODUCED, "ruled out: the one-sided test that the effect is at least the SESOI in the claimed "
                          f"direction {SIGNIFICANT} (equivalently the effect's upper bound is below the SESOI). "
                          "Differences: one-sided t; training-failure rate: exact unconditional test of a rate "
                          "difference >= the SESOI; seed spread: one-sided F test of an SD ratio >= the SESOI "
                          "ratio. A claim that names no direction: TOST, both one-sided tests that the effect lies "
                          "beyond -SESOI and beyond +SESOI reject (the 90% CI inside +/- SESOI)."),
    ("I", INCONCLUSIVE, "none of the above: no significant effect, and an effect of SESOI size is not ruled out."),
)
EQUIVALENCE_RULES: tuple[tuple[str, str, str], ...] = (
    ("N/A/G/S", INCONCLUSIVE, "as for the other observations."),
    ("E", REPRODUCED, f"equivalent: TOST (both one-sided t-tests against -margin and +margin) {SIGNIFICANT}; "
                      "the 90% CI lies inside the margin. Implementations that score identically on every seed "
                      "are reported as such, with n, and tested by exact sign tests (p = 2^-n: 0.125 at 3 "
                      "seeds, 0.031 at 5), not as an infinite t."),
    ("D", NOT_REPRODUCED, "different: the one-sided t-test that the effect lies beyond the nearer margin "
                          f"(doubled for the two sides) {SIGNIFICANT}."),
    ("I", INCONCLUSIVE, "neither equivalence nor a difference beyond the margin shown."),
)
NONINFERIORITY_RULES: tuple[tuple[str, str, str], ...] = (
    ("N/A/G/S", INCONCLUSIVE, "as for the other observations."),
    ("V", REPRODUCED, f"non-inferior: the one-sided t-test that the treatment is worse by at least the margin "
                      f"{SIGNIFICANT}, at half the level (one-sided 2.5%, so a false 'reproduced' stays at "
                      "2.5%); the treatment may still be worse by less than the margin (said so)."),
    ("B", NOT_REPRODUCED, f"worse beyond the margin: the effect test {SIGNIFICANT} on the worse side and the point "
                          "estimate is at least the margin."),
    ("I", INCONCLUSIVE, "neither: a difference of the margin's size is not ruled out, and no worse-by-the-margin "
                        "effect is shown."),
)
COMBINE_RULES: tuple[tuple[str, str], ...] = (
    ("endpoints, 'all' (a conjunctive claim)", "reproduced only if every primary endpoint is; not reproduced if "
     "any is; else inconclusive (any without evidence or inconclusive) or weaker than claimed."),
    ("endpoints, 'any' (a stability claim: divergence rate or seed spread)", "reproduced if one is and none is "
     "not reproduced; endpoints that disagree give inconclusive; not reproduced only if every tested one is."),
    ("models", "each model (recipe) has its own verdict; the headline is their common verdict among models "
     "with evidence (reproduced on some and weaker than claimed on the others: weaker than claimed); when they "
     "disagree otherwise it is inconclusive with the reason; a significant "
     "model x arm interaction (Welch t on per-seed effects, raw p < 0.05) is reported beside it."),
)
FAMILY_RULE = (
    "Each claim is its own family: Holm's step-down across that claim's primary endpoints and models (for the "
    "implementations claim, across its comparisons), separately for the test of an effect and for the test that "
    "rules an effect of SESOI size out (for the implementations, TOST and 'beyond the margin'). The false-verdict "
    "rate is controlled per claim, not across the study; beside each p the report shows the claim's Holm-adjusted "
    "p and the study-wide Holm-adjusted p (one family of every admitted primary test of every claim) for readers "
    "who want the family-wise view. A test enters its claim's family only if its smallest attainable p at its n "
    "(computed per test: 0 for t-tests, exact for Barnard's test and the ruled-out failure-rate test, closed form "
    "for Brown-Forsythe: 0.116 at 3 vs 3, 0.0039 at 5 vs 5) is below the critical p of Holm's first step; the "
    "tests that cannot are left out one at a time, the worst first, recomputing m each time. At a single look the "
    "family is fixed by the seeds present and the critical p of the step with j tests left is alpha / j. In a "
    "sequential design the family is fixed by the cap (the last look's planned seeds) for every look, a test "
    "without data at a look counts in m but cannot reject, and the critical p is the look's boundary at alpha / j. "
    "Secondary endpoints, reference arms and the model x arm interaction are descriptive: raw p, no verdict."
)
