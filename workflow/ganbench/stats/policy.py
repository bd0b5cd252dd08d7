"""Verdict policy: which tests enter a claim's family, Holm's step-down within each claim in
both directions (against the look's group-sequential boundary in a sequential design), one
verdict per endpoint, per model (recipe) and per observation. The rules are data so the report
prints exactly what the code does.
"""
from __future__ import annotations

import math

import numpy as np

from ganbench.stats.inference import ALPHA, MIN_SEEDS, decision_interval, holm, min_p_of, min_p_ruled_of

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


def _sequential(design) -> bool:
    return design is not None and not design.fixed


def _design_crit(design, look: int, level: float, sides: int) -> float:
    return design.crit(look, level, sides) if _sequential(design) else level


def _level(r: dict, key: str, level: float) -> float:
    """The size of one test at Holm's step ``level``. A verdict of 'reproduced' may be wrong 2.5% of the
    time per claim (a directed claim's effect test: two-sided 5%, one side counts). So a claim that
    names no direction runs its effect test at half the level (two-sided 2.5%: either side counts), and
    a non-inferiority claim, which a one-sided test reproduces (rule V), runs that test at half the
    level too (one-sided 2.5%, the usual non-inferiority level)."""
    if (key == "p" and two_sided(r)) or (key == "p_ruled" and r.get("scale") == "noninferiority"):
        return level / 2
    return level


def _planned_reach(r: dict, key: str, level: float, design, look: int) -> tuple[float, float, str]:
    """(smallest p at the planned n, the critical p it must beat, where) for family admission."""
    level = _level(r, key, level)
    sides = int(r.get("sides" if key == "p" else "sides_ruled", 2 if key == "p" else 1))
    if not _sequential(design):
        n_t, n_c = r.get("n_t", r["n"]), r.get("n_c", r["n"])
        mp = r["min_p"] if key == "p" else r.get("min_p_ruled", math.nan)
        return mp, level, f"{n_t} vs {n_c} seeds"
    # sequential: can it beat the boundary at any look (planned n per look)?
    best = None
    for k, n in enumerate(design.looks):
        mp = min_p_of(r["scale"], n, n) if key == "p" else min_p_ruled_of(r["scale"], n, n, r["sesoi"])
        c = design.crit(k, level, sides)
        if best is None or mp - c < best[0] - best[1]:
            best = (mp, c, f"{n} vs {n} seeds (look {k + 1} of {design.k})")
    return best


def members(results: list[dict], key: str, design=None) -> list[dict]:
    """The endpoints that may enter the ``key`` family before admission by smallest p."""
    if not _sequential(design):
        if key == "p":
            return [r for r in results if r["state"] == "tested"]
        return [r for r in results if r["state"] == "tested" and np.isfinite(r.get("min_p_ruled", math.nan))]
    # a design fixes the family by the planned seeds, whatever this look's data
    if key == "p":
        return [r for r in results if r["state"] not in ("not measured", "arm missing")]
    return [r for r in results if r.get("in_p") and (r["scale"] == "equivalence" or r.get("expected") in
                                                      ("higher", "lower") or two_sided(r))]


def admit(results: list[dict], alpha: float = ALPHA, key: str = "p", design=None, look: int = 0) -> list[dict]:
    """The ``key`` family ("p": effect / TOST; "p_ruled": ruled out / beyond the margin) of one
    claim: every member whose smallest attainable p beats the critical p of Holm's first step
    (alpha / m, or the sequential boundary at alpha / m at some look); the tests that cannot are
    left out one at a time, the worst first, recomputing m. Depends on n only, not on data.
    A test left out of the effect family is 'too few seeds' (rule S) with the reason."""
    family = members(results, key, design)
    for r in results:
        r["in_" + key] = False
    while family:
        m = len(family)
        gaps = []
        for r in family:
            mp, c, where = _planned_reach(r, key, alpha / m, design, look)
            if not (np.isfinite(mp) and mp < c):
                gaps.append(((mp if np.isfinite(mp) else math.inf) - c, r, mp, c, where))
        if not gaps:
            break
        _, worst, mp, c, where = max(gaps, key=lambda g: g[0])  # the worst first (first listed on ties)
        family = [r for r in family if r is not worst]
        why = (f"{worst['test'] or 'the test'} at {where} cannot reach p < {c:.4g} (critical p of Holm's first step "
               f"at m = {m}: alpha / {m}{', group-sequential boundary' if _sequential(design) else ''}; "
               f"its smallest p is {mp:.3g})")
        if key == "p" and worst["state"] == "tested":
            worst["state"], worst["why"] = "too few seeds", why
        worst["why_" + key] = why
    for r in family:
        r["in_" + key] = True
    return family


def step_down(family: list[dict], key: str, alpha: float = ALPHA, design=None, look: int = 0) -> None:
    """Holm's step-down over ``family``: sorted by p, the test at the step with j tests left rejects
    when p < critical p (alpha / j, or the look's boundary at alpha / j); the first that does not
    stops it. Sets ``reject_<key>`` and ``crit_<key>``. A member without a p (no data at this look)
    counts in m and cannot reject."""
    m = len(family)
    ps = [r.get(key, math.nan) if r["state"] == "tested" else math.nan for r in family]
    ps = [p if np.isfinite(p) else math.inf for p in ps]
    order = sorted(range(m), key=lambda i: ps[i])
    going = True
    for rank, i in enumerate(order):
        r = family[i]
        sides = int(r.get("sides" if key == "p" else "sides_ruled", 2 if key == "p" else 1))
        c = _design_crit(design, look, _level(r, key, alpha / (m - rank)), sides)
        r["crit_" + key] = c
        going = going and ps[i] < c
        r["reject_" + key] = bool(going)


def adjust(results: list[dict], alpha: float = ALPHA, design=None, look: int = 0) -> None:
    """One claim's families (after ``admit``): Holm-adjusted p (descriptive), the step-down decision
    against the critical p (alpha / j, or the look's boundary) for p and p_ruled, and m."""
    for key in ("p", "p_ruled"):
        family = [r for r in results if r.get("in_" + key)]
        adj = holm([r.get(key, math.nan) if r["state"] == "tested" else math.nan for r in family])
        for r in results:
            r[key + "_holm"] = math.nan
            r["reject_" + key] = False
            r["crit_" + key] = math.nan
        for r, a in zip(family, adj):
            r[key + "_holm"] = float(a)
        step_down(family, key, alpha, design, look)
        for r in results:
            r["m" if key == "p" else "m_ruled"] = len(family)
    for r in results:  # the interval the effect decision used (at its critical p), where a t-test made it
        dec = decision_interval(r) if r["state"] == "tested" else None
        r["dec_lo"], r["dec_hi"], r["dec_conf"] = dec if dec else (math.nan, math.nan, math.nan)


def study_wide(results: list[dict]) -> None:
    """Holm across every admitted primary test of every claim (descriptive: p_holm_study)."""
    for key in ("p", "p_ruled"):
        family = [r for r in results if r.get("in_" + key) and r["state"] == "tested"
                  and np.isfinite(r.get(key, math.nan))]
        for r in results:
            r[key + "_holm_study"] = math.nan
        for r, a in zip(family, holm([r[key] for r in family])):
            r[key + "_holm_study"] = float(a)
        for r in results:
            r["m_study" if key == "p" else "m_ruled_study"] = len(family)


def _significant(r: dict, key: str, alpha: float) -> bool:
    if "reject_" + key in r:
        return bool(r["reject_" + key])
    p = r.get(key + "_holm", math.nan)  # results built by hand: the Holm-adjusted p against alpha
    return bool(np.isfinite(p) and p < alpha)


def _claimed_side(r: dict) -> tuple[float, float, float]:
    sign = 1.0 if r["expected"] == "higher" else -1.0
    lo, hi = r["ci_lo"] * sign, r["ci_hi"] * sign
    return r["estimate"] * sign, min(lo, hi), max(lo, hi)


def two_sided(r: dict) -> bool:
    """A claim that the factor changes the endpoint, in no named direction ("affects")."""
    return r.get("scale") in ("log_ratio", "difference") and r.get("expected") is None


def endpoint_verdict(r: dict, alpha: float = ALPHA) -> tuple[str, str, str]:
    """(verdict, rule, reason) of one primary endpoint after ``adjust``."""
    if r["state"] != "tested":
        return INCONCLUSIVE, STATE_RULE[r["state"]], r["why"]
    if r["scale"] == "equivalence":
        return equivalence_verdict(r, alpha)
    if r["scale"] == "noninferiority":
        return noninferiority_verdict(r, alpha)
    if two_sided(r):
        return two_sided_verdict(r, alpha)
    est, lo, hi = _claimed_side(r)
    if _significant(r, "p", alpha):
        if est > 0 and lo > 0:
            if est >= r["sesoi"]:
                return REPRODUCED, "R", f"significant in the claimed direction and at least the SESOI ({r['sesoi_text']})"
            return WEAKER, "W", f"significant in the claimed direction but below the SESOI ({r['sesoi_text']})"
        if est < 0 and hi < 0:
            return NOT_REPRODUCED, "O", "significant in the opposite direction to the claim"
    if _significant(r, "p_ruled", alpha):
        return NOT_REPRODUCED, "X", f"an effect of at least the SESOI ({r['sesoi_text']}) is ruled out"
    return INCONCLUSIVE, "I", "no significant effect, and a SESOI-sized effect is not ruled out"


def two_sided_verdict(r: dict, alpha: float = ALPHA) -> tuple[str, str, str]:
    """A claim of an effect in either direction: R / W as for a directed claim, on whichever side the
    effect lies; X when TOST rules out an effect of the SESOI either way. No rule O (no wrong side)."""
    est, lo, hi = r["estimate"], r["ci_lo"], r["ci_hi"]
    if _significant(r, "p", alpha) and (lo > 0 or hi < 0):
        side = "higher" if est > 0 else "lower"
        if abs(est) >= r["sesoi"]:
            return REPRODUCED, "R", (f"significant ({side}; the claim names no direction) and at least the SESOI "
                                     f"({r['sesoi_text']})")
        return WEAKER, "W", f"significant ({side}) but below the SESOI ({r['sesoi_text']})"
    if _significant(r, "p_ruled", alpha):
        return NOT_REPRODUCED, "X", f"an effect of at least the SESOI ({r['sesoi_text']}) either way is ruled out (TOST)"
    return INCONCLUSIVE, "I", "no significant effect, and a SESOI-sized effect either way is not ruled out"


def equivalence_verdict(r: dict, alpha: float = ALPHA) -> tuple[str, str, str]:
    same = (f"the implementations score identically on every seed (n = {r['n']}; exact sign tests, TOST p = "
            f"{r.get('p', math.nan):.3g}): " if r.get("identical") else "")
    if _significant(r, "p", alpha) and r["ci_lo"] > -r["sesoi"] and r["ci_hi"] < r["sesoi"]:
        return REPRODUCED, "E", f"{same}equivalent within {r['sesoi_text']}"
    if _significant(r, "p_ruled", alpha):
        return NOT_REPRODUCED, "D", f"{same}the difference lies beyond the margin {r['sesoi_text']}"
    return INCONCLUSIVE, "I", f"{same}equivalence within {r['sesoi_text']} neither shown nor ruled out"


def noninferiority_verdict(r: dict, alpha: float = ALPHA) -> tuple[str, str, str]:
    """A claim that the treatment is no worse than the control by the margin (``sesoi``) on the
    ``expected`` (worse) side: rule V when a worse-by-the-margin effect is ruled out, B when the
    treatment is significantly worse by at least the margin."""
    worse, lo, hi = _claimed_side(r)
    if _significant(r, "p_ruled", alpha):
        side = ("worse by less than the margin (significant)" if _significant(r, "p", alpha) and lo > 0 else
                "not worse" if worse <= 0 else "worse by less than the margin")
        return REPRODUCED, "V", f"non-inferior: worse by {r['sesoi_text']} is ruled out ({side})"
    if _significant(r, "p", alpha) and lo > 0 and worse >= r["sesoi"]:
        return NOT_REPRODUCED, "B", f"worse by at least the margin ({r['sesoi_text']})"
    return INCONCLUSIVE, "I", f"non-inferiority within {r['sesoi_text']} neither shown nor ruled out"


def combine_endpoints(verdicts: list[tuple[str, str, str, str]], mode: str) -> tuple[str, str, str]:
    """verdicts: (label, verdict, rule, reason). Returns (verdict, rule, reason)."""
    if len(verdicts) == 1:
        _, v, rule, why = verdicts[0]
        return v, rule, why
    text = "; ".join(f"{label}: {v} ({rule})" for label, v, rule, _ in verdicts)
    evidence = [(label, v) for label, v, rule, _ in verdicts if rule not in NO_EVIDENCE_RULES]
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
    evidence = [g for g in groups if g["rule"] not in NO_EVIDENCE_RULES]
    text = "; ".join(f"{g['group']}: {g['verdict']}" for g in groups)
    p_int = interaction.get("p", math.nan)
    note = f" (model x arm interaction p = {p_int:.3g})" if np.isfinite(p_int) else ""
    if not evidence:
        first = groups[0]
        return INCONCLUSIVE, first["rule"], "; ".join(f"{g['group']}: {g['reason']}" for g in groups)
    verdicts = {g["verdict"] for g in evidence}
    rest = "" if len(evidence) == len(groups) else "; the others carry no evidence"
    if len(verdicts) == 1:
        v = verdicts.pop()
        return v, "M", f"{v} on every model with evidence ({text}){rest}{note}"
    if verdicts == {REPRODUCED, WEAKER}:
        # the same sign everywhere: significant in the claimed direction on every model, but not at least
        # the SESOI on every one
        return WEAKER, "M", (f"significant in the claimed direction on every model with evidence, below the SESOI "
                             f"on some ({text}){rest}{note}")
    return INCONCLUSIVE, "M", f"heterogeneous: models disagree ({text}){note}"


# ------------------------------------------------------------------ claims this study did not run
NOT_RUN = "not run at this scale"


def _included(config: dict) -> list[str] | None:
    inc = (config.get("observations") or {}).get("include") if isinstance(config.get("observations"), dict) else None
    if inc == "all" or inc is None:
        return None
    return [str(i) for i in inc] if isinstance(inc, list) else None


def _group_ran(g: dict) -> bool:
    return bool(g.get("treatment", {}).get("n_runs") or g.get("control", {}).get("n_runs")
                or any(ref.get("counts", {}).get("n_runs") for ref in g.get("references", [])))


def mark_not_run(results: list[dict], config: dict, df) -> None:
    """Observations (and groups) none of whose arms has a run: shown as 'not run at this scale',
    not judged and not hidden. Sets ``not_run`` / ``not_run_reason`` / ``shown_verdict``."""
    included = _included(config)
    n_impls = df["impl"].nunique() if len(df) else 0
    for o in results:
        for g in o["groups"]:
            g["not_run"] = not _group_ran(g)
            g["shown_verdict"] = NOT_RUN if g["not_run"] else g.get("verdict", "")
        o["not_run"] = not o["groups"] or all(g["not_run"] for g in o["groups"])
        if not o["not_run"]:
            o["shown_verdict"] = o["verdict"]
            o["not_run_reason"] = ""
            continue
        o["shown_verdict"] = NOT_RUN
        if o["kind"] == "equivalence":
            o["not_run_reason"] = (f"needs runs of the same arm and seed in two implementations; this study has "
                                   f"{n_impls} implementation(s)")
        elif included is not None and o["id"] not in included:
            o["not_run_reason"] = ("this study's config leaves it out of observations.include, so its arms "
                                   "were not run at this scale")
        else:
            o["not_run_reason"] = "no run of its arms in this study"
