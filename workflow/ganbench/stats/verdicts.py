"""Verdicts, once the families are decided (``family.adjust``): one per primary endpoint (by
rules R / W / O / X / I, E / D / I for equivalence, V / B / I for non-inferiority, or the rule
of a state without evidence), then combined over a claim's endpoints and over its models.
"""
from __future__ import annotations

import math

import numpy as np

from ganbench.stats.conventions import ALPHA
from ganbench.stats.family import two_sided
from ganbench.stats.rulebook import INCONCLUSIVE, NO_EVIDENCE_RULES, NOT_REPRODUCED, REPRODUCED, STATE_RULE, WEAKER


def _significant(r: dict, key: str, alpha: float) -> bool:
    """Whether the ``key`` test rejected in its family's step-down (``family.adjust``)."""
    if "reject_" + key in r:
        return bool(r["reject_" + key])
    p = r.get(key + "_holm", math.nan)  # results built by hand: the Holm-adjusted p against alpha
    return bool(np.isfinite(p) and p < alpha)


def _claimed_side(r: dict) -> tuple[float, float, float]:
    """(estimate, lo, hi) turned so that positive is the claimed direction."""
    sign = 1.0 if r["expected"] == "higher" else -1.0
    lo, hi = r["ci_lo"] * sign, r["ci_hi"] * sign
    return r["estimate"] * sign, min(lo, hi), max(lo, hi)


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
    """Two implementations of the same arm: E when TOST shows them equivalent within the margin,
    D when their difference lies beyond it."""
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
        # a stability claim holds if one of its endpoints shows it, unless another contradicts it
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
