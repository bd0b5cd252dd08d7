"""Verdict policy: which tests enter the family, Holm in both directions, one verdict per
endpoint, per model (recipe) and per observation. The rules are data so the report prints
exactly what the code does.
"""
from __future__ import annotations

import math

import numpy as np

from ganbench.stats.inference import ALPHA, MIN_SEEDS, holm

REPRODUCED, WEAKER, NOT_REPRODUCED, INCONCLUSIVE = ("reproduced", "weaker than claimed", "not reproduced",
                                                    "inconclusive")
# states of an endpoint that carry no evidence (no test was run)
NO_EVIDENCE = ("not measured", "arm missing", "not trained", "too few seeds")

RULES: tuple[tuple[str, str, str], ...] = (
    ("N", INCONCLUSIVE, "endpoint not measured: no run of either arm has a value of the endpoint (e.g. an "
                        "older summary without that column)."),
    ("A", INCONCLUSIVE, "arm missing: the treatment or the control arm has no run in this study."),
    ("G", INCONCLUSIVE, "the baseline did not train: the baseline arm (the recipe's own setting) fails the 'did it learn' rule below."),
    ("S", INCONCLUSIVE, f"too few seeds: fewer than {MIN_SEEDS} seeds with data in both arms, or the test's "
                        "smallest attainable p at this n exceeds alpha / m (m = size of its Holm family); "
                        "no test is run and the report says which test at which n."),
    ("R", REPRODUCED, f"Holm-adjusted p < {ALPHA}, the 95% CI excludes 0 on the claimed side AND the point "
                      "estimate is at least the SESOI in the claimed direction."),
    ("W", WEAKER, f"Holm-adjusted p < {ALPHA} and the CI excludes 0 on the claimed side, but the point "
                  "estimate is smaller than the SESOI."),
    ("O", NOT_REPRODUCED, f"Holm-adjusted p < {ALPHA} with the estimate and CI on the opposite side."),
    ("X", NOT_REPRODUCED, f"ruled out: the one-sided test that the effect is at least the SESOI in the claimed "
                          f"direction rejects at Holm-adjusted p < {ALPHA} (equivalently the effect's 90% "
                          "upper bound is below the SESOI)."),
    ("I", INCONCLUSIVE, "none of the above: no significant effect, and an effect of SESOI size is not ruled out."),
)
EQUIVALENCE_RULES: tuple[tuple[str, str, str], ...] = (
    ("N/A/G/S", INCONCLUSIVE, "as for the other observations."),
    ("E", REPRODUCED, f"equivalent: TOST (both one-sided t-tests against -margin and +margin), Holm-adjusted "
                      f"p < {ALPHA}; the 90% CI lies inside the margin."),
    ("D", NOT_REPRODUCED, f"different: the one-sided t-test that the effect lies beyond the nearer margin "
                          f"(doubled for the two sides) rejects at Holm-adjusted p < {ALPHA}."),
    ("I", INCONCLUSIVE, "neither equivalence nor a difference beyond the margin shown."),
)
COMBINE_RULES: tuple[tuple[str, str], ...] = (
    ("endpoints, 'all' (a conjunctive claim)", "reproduced only if every primary endpoint is; not reproduced if "
     "any is; else inconclusive (any without evidence or inconclusive) or weaker than claimed."),
    ("endpoints, 'any' (a stability claim: divergence rate or seed spread)", "reproduced if one is and none is "
     "not reproduced; endpoints that disagree give inconclusive; not reproduced only if every tested one is."),
    ("models", "each model (recipe) has its own verdict; the headline is their common verdict among models "
     "with evidence; when they disagree it is inconclusive with the reason (sign disagreement); a significant "
     "model x arm interaction (Welch t on per-seed effects, raw p < 0.05) is reported beside it."),
)
FAMILY_RULE = (
    "Holm's step-down correction is applied across the primary endpoints of all observations (one family; "
    "the frameworks comparisons are a second family), separately for the test of an effect and for the "
    "test that rules an effect of SESOI size out (or, for the frameworks, TOST and 'beyond the margin'). "
    "A test enters a family only if its smallest attainable p at the study's n is below alpha / m. Secondary "
    "endpoints, reference arms and the model x arm interaction are descriptive: raw p, no verdict."
)


def admit(results: list[dict], alpha: float = ALPHA) -> None:
    """Drop from the family (state 'too few seeds') every test whose smallest attainable p
    exceeds alpha / m; repeat until the family is stable. Depends on n only, not on data."""
    while True:
        family = [r for r in results if r["state"] == "tested"]
        m = len(family)
        out = [r for r in family if not (r["min_p"] <= alpha / m)]
        if not out:
            return
        for r in out:
            r["state"] = "too few seeds"
            r["why"] = (f"{r['test']} at {r.get('n_t', r['n'])} vs {r.get('n_c', r['n'])} seeds cannot reach "
                        f"p < {alpha}/{m} = {alpha / m:.4f} (its smallest p is {r['min_p']:.3g})")


def adjust(results: list[dict]) -> None:
    """Holm over the family, for p (effect / TOST) and p_ruled (ruled out / beyond margin)."""
    family = [r for r in results if r["state"] == "tested"]
    for key in ("p", "p_ruled"):
        adj = holm([r.get(key, math.nan) for r in family])
        for r, a in zip(family, adj):
            r[key + "_holm"] = float(a)
    for r in results:
        r["m"] = len(family)


def _claimed_side(r: dict) -> tuple[float, float, float]:
    sign = 1.0 if r["expected"] == "higher" else -1.0
    lo, hi = r["ci_lo"] * sign, r["ci_hi"] * sign
    return r["estimate"] * sign, min(lo, hi), max(lo, hi)


def endpoint_verdict(r: dict, alpha: float = ALPHA) -> tuple[str, str, str]:
    """(verdict, rule, reason) of one primary endpoint after ``adjust``."""
    code = {"not measured": "N", "arm missing": "A", "not trained": "G", "too few seeds": "S"}
    if r["state"] != "tested":
        return INCONCLUSIVE, code[r["state"]], r["why"]
    if r["scale"] == "equivalence":
        return equivalence_verdict(r, alpha)
    est, lo, hi = _claimed_side(r)
    p, pr = r.get("p_holm", math.nan), r.get("p_ruled_holm", math.nan)
    if np.isfinite(p) and p < alpha:
        if est > 0 and lo > 0:
            if est >= r["sesoi"]:
                return REPRODUCED, "R", f"significant in the claimed direction and at least the SESOI ({r['sesoi_text']})"
            return WEAKER, "W", f"significant in the claimed direction but below the SESOI ({r['sesoi_text']})"
        if est < 0 and hi < 0:
            return NOT_REPRODUCED, "O", "significant in the opposite direction to the claim"
    if np.isfinite(pr) and pr < alpha:
        return NOT_REPRODUCED, "X", f"an effect of at least the SESOI ({r['sesoi_text']}) is ruled out"
    return INCONCLUSIVE, "I", "no significant effect, and a SESOI-sized effect is not ruled out"


def equivalence_verdict(r: dict, alpha: float = ALPHA) -> tuple[str, str, str]:
    p, pr = r.get("p_holm", math.nan), r.get("p_ruled_holm", math.nan)
    if np.isfinite(p) and p < alpha and r["ci_lo"] > -r["sesoi"] and r["ci_hi"] < r["sesoi"]:
        return REPRODUCED, "E", f"equivalent within {r['sesoi_text']}"
    if np.isfinite(pr) and pr < alpha:
        return NOT_REPRODUCED, "D", f"the difference lies beyond the margin {r['sesoi_text']}"
    return INCONCLUSIVE, "I", f"equivalence within {r['sesoi_text']} neither shown nor ruled out"


def combine_endpoints(verdicts: list[tuple[str, str, str, str]], mode: str) -> tuple[str, str, str]:
    """verdicts: (label, verdict, rule, reason). Returns (verdict, rule, reason)."""
    if len(verdicts) == 1:
        _, v, rule, why = verdicts[0]
        return v, rule, why
    text = "; ".join(f"{label}: {v} ({rule})" for label, v, rule, _ in verdicts)
    evidence = [(label, v) for label, v, rule, _ in verdicts if rule not in ("N", "A", "G", "S")]
    vs = [v for _, v in evidence]
    if not evidence:
        first = verdicts[0]
        return INCONCLUSIVE, first[2], "; ".join(f"{label}: {why}" for label, _, _, why in verdicts)
    if mode == "any":
        positive = [v for v in vs if v in (REPRODUCED, WEAKER)]
        if positive and NOT_REPRODUCED in vs:
            return INCONCLUSIVE, "C", "primary endpoints disagree: " + text
        if REPRODUCED in vs:
            return REPRODUCED, "C", text
        if WEAKER in vs:
            return WEAKER, "C", text
        if all(v == NOT_REPRODUCED for v in vs):
            return NOT_REPRODUCED, "C", text
        return INCONCLUSIVE, "C", text
    # "all": a conjunction
    if NOT_REPRODUCED in vs:
        return NOT_REPRODUCED, "C", text
    if len(evidence) < len(verdicts) or INCONCLUSIVE in vs:
        return INCONCLUSIVE, "C", text
    if all(v == REPRODUCED for v in vs):
        return REPRODUCED, "C", text
    return WEAKER, "C", text


def combine_groups(groups: list[dict], interaction: dict) -> tuple[str, str, str]:
    """Headline verdict over models (recipes): their common verdict among those with evidence."""
    if len(groups) == 1:
        return groups[0]["verdict"], groups[0]["rule"], groups[0]["reason"]
    if not groups:
        return INCONCLUSIVE, "A", "arm missing: no run of this observation in the study"
    evidence = [g for g in groups if g["rule"] not in ("N", "A", "G", "S")]
    text = "; ".join(f"{g['group']}: {g['verdict']}" for g in groups)
    p_int = interaction.get("p", math.nan)
    note = f" (model x arm interaction p = {p_int:.3g})" if np.isfinite(p_int) else ""
    if not evidence:
        first = groups[0]
        return INCONCLUSIVE, first["rule"], "; ".join(f"{g['group']}: {g['reason']}" for g in groups)
    verdicts = {g["verdict"] for g in evidence}
    if len(verdicts) == 1:
        v = verdicts.pop()
        rest = "" if len(evidence) == len(groups) else "; the others carry no evidence"
        return v, "M", f"{v} on every model with evidence ({text}){rest}{note}"
    return INCONCLUSIVE, "M", f"heterogeneous: models disagree ({text}){note}"
